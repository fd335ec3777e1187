/**
 * `put -r`, `get -r` and put/get of several sources: whole trees between the local disk and the
 * cluster, with the `cp -r` destination rules (bulk-plan.ts), parents created, empty directories
 * kept, BULK_FILES_INFLIGHT files in flight and ONE progress bar (bulk-progress.ts).
 *
 * Everything is planned before the first byte moves: the sources are walked, every target is
 * checked, and an existing file is refused (AlreadyExists, naming it) unless -f, so a refused
 * transfer changes nothing. Each file is still atomic on its own: a put commits with
 * overwrite=false unless -f (a racing writer is not clobbered), a get writes a temporary file
 * renamed over the target only when complete. A failure stops new files; files already
 * complete stay.
 *
 * Local trees are followed through symbolic links (a link to a directory seen before on the
 * same walk is skipped: no loops); sockets, FIFOs and devices are skipped.
 */
import { createReadStream, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { CairnClient } from '../src/client/index.js';
import type { RemotePath } from '../src/proto/path.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { BULK_FILES_INFLIGHT, checkDirTarget, intoDestination, runPool } from './bulk-plan.js';
import { BulkProgress } from './bulk-progress.js';
import { destinationArg } from './client-options.js';

interface PutJob {
  local: string;
  remote: RemotePath;
  size: number;
}

interface GetJob {
  remote: RemotePath;
  local: string;
  size: number;
}

export async function remoteStatOrNull(client: CairnClient, path: RemotePath): Promise<{ type: 'file' | 'dir'; size: number } | null> {
  try {
    return await client.stat(path);
  } catch (err) {
    if (isCairnError(err, 'NotFound')) return null;
    throw err;
  }
}

export function localStatOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Files and directories below local directory `root` (relative paths, pre-order, names sorted). */
function walkLocal(root: string): { dirs: string[]; files: Array<{ rel: string; size: number }> } {
  const dirs: string[] = [];
  const files: Array<{ rel: string; size: number }> = [];
  const rootSt = statSync(root);
  const seen = new Set<string>([`${rootSt.dev}:${rootSt.ino}`]);
  const visit = (rel: string): void => {
    const names = readdirSync(rel === '' ? root : join(root, rel)).sort();
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = localStatOrNull(join(root, childRel)); // follows links; a dangling one is skipped
      if (st?.isFile()) files.push({ rel: childRel, size: st.size });
      else if (st?.isDirectory()) {
        const id = `${st.dev}:${st.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
        dirs.push(childRel);
        visit(childRel);
      }
    }
  };
  visit('');
  return { dirs, files };
}

/** Remote child path of `base` for a '/'-separated relative path. */
export function below(base: RemotePath, rel: string): RemotePath {
  let p = base;
  if (rel !== '') for (const seg of rel.split('/')) p = p.child(seg);
  return p;
}

/** Existing remote entries below `root` (absolute path → type); empty when root is missing. */
export async function remoteTree(client: CairnClient, root: RemotePath): Promise<Map<string, 'file' | 'dir'>> {
  const out = new Map<string, 'file' | 'dir'>();
  const st = await remoteStatOrNull(client, root);
  if (st === null) return out;
  out.set(root.text, st.type);
  if (st.type === 'dir') for await (const e of client.ls(root, { recursive: true })) out.set(e.path, e.type);
  return out;
}

export interface BulkOptions {
  force: boolean;
  recursive: boolean;
  chunkSize?: number;
}

/** put of several sources and/or directories (a single file or stdin goes through putCommand). */
export async function bulkPut(client: CairnClient, sources: readonly string[], dstTyped: string, o: BulkOptions): Promise<void> {
  const dst = destinationArg(dstTyped);
  const dstSt = await remoteStatOrNull(client, dst.path);
  if (sources.includes('-')) throw new CairnError('InvalidArgument', "'-' (stdin) is one source on its own");
  const into = intoDestination({ isDir: dstSt?.type === 'dir', isFile: dstSt?.type === 'file', trailingSlash: dst.intoDirectory }, sources.length, dst.path.text);
  const jobs: PutJob[] = [];
  const emptyDirs: RemotePath[] = [];
  const dirTargets: RemotePath[] = [];
  for (const src of sources) {
    const st = statSync(src);
    const target = into ? dst.path.child(basename(resolve(src))) : dst.path;
    if (st.isFile()) {
      jobs.push({ local: src, remote: target, size: st.size });
      continue;
    }
    if (!st.isDirectory()) throw new CairnError('InvalidArgument', `${src} is neither a file nor a directory`);
    if (!o.recursive) throw new CairnError('IsADirectory', `${src} is a local directory (use -r to copy a tree)`);
    dirTargets.push(target);
    const tree = walkLocal(src);
    // Only leaf directories without files need a mkdir: commits create every other parent.
    const parents = new Set<string>();
    for (const rel of [...tree.dirs, ...tree.files.map((f) => f.rel)]) parents.add(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    for (const rel of ['', ...tree.dirs]) if (!parents.has(rel)) emptyDirs.push(below(target, rel));
    for (const f of tree.files) jobs.push({ local: join(src, f.rel), remote: below(target, f.rel), size: f.size });
  }
  // Refuse before anything moves: files in the way of directories, existing files without -f.
  const existing = new Map<string, 'file' | 'dir'>();
  const roots = new Map(sources.map((s) => into ? dst.path.child(basename(resolve(s))) : dst.path).map((r) => [r.text, r]));
  for (const root of roots.values()) for (const [k, v] of await remoteTree(client, root)) existing.set(k, v);
  for (const d of [...dirTargets, ...emptyDirs]) checkDirTarget(existing.get(d.text) === 'file', d.text);
  for (const j of jobs) {
    const type = existing.get(j.remote.text);
    if (type === 'dir') throw new CairnError('IsADirectory', `${j.remote.text} is a directory`);
    if (type === 'file' && !o.force) throw new CairnError('AlreadyExists', `${j.remote.text} already exists (use -f to replace it)`);
  }
  for (const d of emptyDirs) await client.mkdir(d, { parents: true });
  const progress = await BulkProgress.forTerminal('put', jobs.length, jobs.reduce((a, j) => a + j.size, 0));
  await runPool(jobs, BULK_FILES_INFLIGHT, async (j) => {
    let sent = 0;
    const sink = client.createWriteStream(j.remote, {
      overwrite: o.force,
      ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
      ...(progress ? { onProgress: (bytes: number) => (progress.addBytes(bytes - sent), (sent = bytes)) } : {}),
    });
    await pipeline(createReadStream(j.local, { highWaterMark: 1024 * 1024 }), sink);
    await sink.done;
    progress?.fileDone();
  }).finally(() => progress?.stop());
}

/**
 * get of several sources and/or directories (a single file goes through getCommand). `download`
 * writes one remote file to a local path atomically (reporting bytes as they arrive).
 */
export async function bulkGet(
  client: CairnClient,
  sources: readonly RemotePath[],
  dstTyped: string,
  o: BulkOptions,
  download: (src: RemotePath, target: string, onBytes?: (n: number) => void) => Promise<void>,
): Promise<void> {
  const dstSt = localStatOrNull(dstTyped);
  const into = intoDestination({ isDir: dstSt?.isDirectory() ?? false, isFile: dstSt !== null && !dstSt.isDirectory(), trailingSlash: dstTyped.endsWith('/') }, sources.length, dstTyped);
  const jobs: GetJob[] = [];
  const dirs: string[] = [];
  for (const src of sources) {
    const st = await client.stat(src);
    const target = into ? join(dstTyped, src.name) : dstTyped;
    if (st.type === 'file') {
      jobs.push({ remote: src, local: target, size: st.size });
      continue;
    }
    if (!o.recursive) throw new CairnError('IsADirectory', `${src.text} is a directory (use -r to copy a tree)`);
    dirs.push(target);
    const prefix = src.isRoot ? '/' : `${src.text}/`;
    for await (const e of client.ls(src, { recursive: true })) {
      const local = join(target, ...e.path.slice(prefix.length).split('/'));
      if (e.type === 'dir') dirs.push(local);
      else jobs.push({ remote: below(src, e.path.slice(prefix.length)), local, size: e.size });
    }
  }
  // Refuse before anything moves: files in the way of directories, existing files without -f.
  for (const d of dirs) {
    const st = localStatOrNull(d);
    if (st && !st.isDirectory()) throw new CairnError('NotADirectory', `${d} is a local file: a directory cannot replace it`);
  }
  for (const j of jobs) {
    const st = localStatOrNull(j.local);
    if (st?.isDirectory()) throw new CairnError('IsADirectory', `${j.local} is a local directory`);
    if (st && !o.force) throw new CairnError('AlreadyExists', `${j.local} already exists (use -f to replace it)`);
  }
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const progress = await BulkProgress.forTerminal('get', jobs.length, jobs.reduce((a, j) => a + j.size, 0));
  await runPool(jobs, BULK_FILES_INFLIGHT, async (j) => {
    mkdirSync(join(j.local, '..'), { recursive: true });
    await download(j.remote, j.local, progress ? (n) => progress.addBytes(n) : undefined);
    progress?.fileDone();
  }).finally(() => progress?.stop());
}

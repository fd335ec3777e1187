/**
 * `cairn cp [-r] [-f] SRC... DST`: remote → remote, server side. Each file is one fs.copy: the
 * leader commits a new file sharing the source's chunks (one Raft entry, atomic like a put), so
 * no byte passes through this client nor between chunk servers.
 *
 * Destinations follow `cp -r` (bulk-plan.ts): an existing directory or a trailing '/' receives
 * DST/<name of SRC>, otherwise SRC is copied as DST; several sources need a directory. Sources
 * may hold wildcards (remote-glob.ts). A tree is planned whole before the first copy: existing
 * files in the way are refused unless -f, a directory is never copied into itself, empty
 * directories are created; files then go COPY_FILES_INFLIGHT at a time.
 */
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import { isSameOrBelow, type RemotePath } from '../src/proto/path.js';
import { CairnError } from '../src/util/errors.js';
import { checkDirTarget, intoDestination, runPool } from './bulk-plan.js';
import { BulkProgress } from './bulk-progress.js';
import { below, remoteTree } from './bulk-transfer.js';
import { destinationArg, remotePath, withClient, withClientOptions, type ClientFlags } from './client-options.js';
import { expandAll } from './remote-glob.js';

/** Copies in flight: each is one metadata call, no bytes, so more than bulk transfers keep. */
const COPY_FILES_INFLIGHT = 8;

interface CopyJob {
  from: RemotePath;
  to: RemotePath;
  size: number;
}

export async function copyCommand(client: CairnClient, typedSources: readonly string[], dstTyped: string, o: { force: boolean; recursive: boolean }): Promise<void> {
  const sources = await expandAll(client, typedSources);
  const dst = destinationArg(dstTyped);
  let dstType: 'file' | 'dir' | null = null;
  try {
    dstType = (await client.stat(dst.path)).type;
  } catch (err) {
    if (!(err instanceof CairnError && err.code === 'NotFound')) throw err;
  }
  const into = intoDestination({ isDir: dstType === 'dir', isFile: dstType === 'file', trailingSlash: dst.intoDirectory }, sources.length, dst.path.text);
  const jobs: CopyJob[] = [];
  const emptyDirs: RemotePath[] = [];
  const roots: RemotePath[] = [];
  const dirTargets: RemotePath[] = [];
  for (const src of sources) {
    if (src.isRoot && into) throw new CairnError('InvalidArgument', 'cannot copy / into a directory: name the destination');
    const st = await client.stat(src);
    const target = into ? dst.path.child(src.name) : dst.path;
    roots.push(target);
    if (st.type === 'file') {
      jobs.push({ from: src, to: target, size: st.size });
      continue;
    }
    if (!o.recursive) throw new CairnError('IsADirectory', `${src.text} is a directory (use -r to copy a tree)`);
    if (isSameOrBelow(src.segments, target.segments)) throw new CairnError('InvalidArgument', `cannot copy ${src.text} into itself (${target.text})`);
    dirTargets.push(target);
    const prefix = src.isRoot ? '/' : `${src.text}/`;
    const parents = new Set<string>();
    const dirs: string[] = [''];
    // The whole listing first: copies made below must not be walked again.
    for await (const e of client.ls(src, { recursive: true })) {
      const rel = e.path.slice(prefix.length);
      parents.add(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
      if (e.type === 'dir') dirs.push(rel);
      else jobs.push({ from: below(src, rel), to: below(target, rel), size: e.size });
    }
    for (const rel of dirs) if (!parents.has(rel)) emptyDirs.push(below(target, rel));
  }
  const existing = new Map<string, 'file' | 'dir'>();
  for (const r of roots) for (const [k, v] of await remoteTree(client, r)) existing.set(k, v);
  for (const d of [...dirTargets, ...emptyDirs]) checkDirTarget(existing.get(d.text) === 'file', d.text);
  for (const j of jobs) {
    const type = existing.get(j.to.text);
    if (type === 'dir') throw new CairnError('IsADirectory', `${j.to.text} is a directory`);
    if (type === 'file' && !o.force) throw new CairnError('AlreadyExists', `${j.to.text} already exists (use -f to replace it)`);
  }
  for (const d of emptyDirs) await client.mkdir(d, { parents: true });
  const progress = jobs.length > 1 ? await BulkProgress.forTerminal('cp', jobs.length, jobs.reduce((a, j) => a + j.size, 0)) : null;
  await runPool(jobs, COPY_FILES_INFLIGHT, async (j) => {
    await client.copy(j.from, j.to, { overwrite: o.force });
    progress?.addBytes(j.size);
    progress?.fileDone();
  }).finally(() => progress?.stop());
}

export function registerCopyCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('cp')
      .description('copy remote files or trees to a remote path, server side (no bytes through this client)')
      .usage('[options] <src...> <dst>')
      .argument('<paths...>', 'remote sources (wildcards * ? [..] allowed, quoted), then the remote destination')
      .option('-r, --recursive', 'copy directories, recursively', false)
      .option('-f, --force', 'replace existing files (each atomically)', false)
      .addHelpText(
        'after',
        '\nDestination (as cp -r): an existing directory or a trailing / receives dst/<name of src>, otherwise\n' +
          'src is copied as dst; parents are created. Each copy shares the source\'s chunks: instant, and no\n' +
          'extra space until one of them is rewritten.',
      ),
  ).action(async (paths: string[], o: ClientFlags & { force: boolean; recursive: boolean }) => {
    if (paths.length < 2) throw new CairnError('InvalidArgument', 'missing destination: give one or more sources, then the destination');
    for (const p of paths) remotePath(p); // a malformed path fails before any request
    await withClient(o, (c) => copyCommand(c, paths.slice(0, -1), paths[paths.length - 1]!, o));
    await done();
  });
}

/**
 * `cairn sync [--delete] [--dry-run] SRC DST`: makes DST's tree mirror SRC's, one way, as
 * `aws s3 sync` does (CONTRACT.md): SRC/x → DST/x for every file below SRC; DST is created when
 * missing. Local → remote or remote → local.
 *
 * - A file is copied when DST lacks it or has it with another size or another CRC-32C (the
 *   remote side's is the leader's, composed from the chunk CRCs; the local side's is computed by
 *   reading the local file, only when the sizes are equal). Empty directories of SRC are created.
 * - --delete also removes what SRC lacks (files, and directories SRC has nowhere, whole).
 * - --dry-run prints the plan and changes nothing. Every action is one line on stdout, with
 *   `(dryrun) ` in front under --dry-run: `upload: LOCAL to REMOTE`, `download: REMOTE to LOCAL`,
 *   `mkdir: PATH`, `delete: PATH` (lines of a real run come as each action completes).
 * - Which side is remote: remote paths are absolute, so a relative argument is local;
 *   `cairn:/path` names a remote path explicitly. Two plain
 *   absolute paths: the one that exists on this machine is the local one (when both do, SRC is
 *   local unless it exists on the cluster and DST does not).
 * - Uploads replace a remote file atomically (as put -f); downloads go to a temporary file next
 *   to the target, checked against the file's CRC-32C, then renamed over it (as get --verify).
 * - A file in SRC where DST has a directory (or the other way round) fails the sync before any
 *   change (NotADirectory / IsADirectory).
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import { RemotePath } from '../src/proto/path.js';
import { crc32c } from '../src/util/crc32c.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { remoteCrc32c } from './checksum-command.js';
import { out, remotePath, withClient, withClientOptions, type ClientFlags } from './client-options.js';
import { runPool } from './bulk-plan.js';
import { downloadFile } from './transfer-commands.js';

/** Copies run at once. */
const SYNC_COPIES_INFLIGHT = 4;
const REMOTE_PREFIX = 'cairn:';

interface Node {
  type: 'file' | 'dir';
  size: number;
}

/** Relative path ('a/b.txt', '/'-separated) → node, for everything below a tree's root. */
type Tree = Map<string, Node>;

type Action = { op: 'copy'; rel: string; size: number } | { op: 'mkdir'; rel: string } | { op: 'delete'; rel: string };

export interface SyncOptions {
  delete: boolean;
  dryRun: boolean;
}

/** One side of the sync: how to list, describe and change it. */
interface Side {
  readonly remote: boolean;
  /** How an entry is shown in the output. */
  show(rel: string): string;
  /** Its tree, or null when the root does not exist; NotADirectory when it is a file. */
  tree(): Promise<Tree | null>;
  crcOf(rel: string): Promise<number>;
}

function localSide(root: string): Side {
  return {
    remote: false,
    show: (rel) => (rel === '' ? root : join(root, ...rel.split('/'))),
    tree: () => Promise.resolve(localTree(root)),
    crcOf: async (rel) => {
      let crc = 0;
      for await (const b of createReadStream(join(root, ...rel.split('/')), { highWaterMark: 1024 * 1024 })) crc = crc32c(b as Buffer, crc);
      return crc;
    },
  };
}

function remoteSide(client: CairnClient, root: RemotePath): Side {
  const at = (rel: string): RemotePath => (rel === '' ? root : rel.split('/').reduce((p, name) => p.child(name), root));
  return {
    remote: true,
    show: (rel) => at(rel).text,
    tree: () => remoteTree(client, root),
    crcOf: (rel) => remoteCrc32c(client, at(rel)),
  };
}

function localTree(root: string): Tree | null {
  let st;
  try {
    st = statSync(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!st.isDirectory()) throw new CairnError('NotADirectory', `${root} is not a directory (sync mirrors directory trees)`);
  const tree: Tree = new Map();
  // Bounded by the tree: each directory is read once.
  const work = [''];
  while (work.length > 0) {
    const rel = work.pop()!;
    for (const name of readdirSync(rel === '' ? root : join(root, ...rel.split('/')))) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const s = statSync(join(root, ...childRel.split('/'))); // follows symlinks, as cp -r -L
      if (s.isDirectory()) {
        tree.set(childRel, { type: 'dir', size: 0 });
        work.push(childRel);
      } else if (s.isFile()) tree.set(childRel, { type: 'file', size: s.size });
    }
  }
  return tree;
}

async function remoteTree(client: CairnClient, root: RemotePath): Promise<Tree | null> {
  try {
    const st = await client.stat(root);
    if (st.type !== 'dir') throw new CairnError('NotADirectory', `${root.text} is not a directory (sync mirrors directory trees)`);
  } catch (e) {
    if (isCairnError(e, 'NotFound')) return null;
    throw e;
  }
  const tree: Tree = new Map();
  const prefix = root.isRoot ? '/' : `${root.text}/`;
  for await (const e of client.ls(root, { recursive: true })) tree.set(e.path.slice(prefix.length), { type: e.type, size: e.size });
  return tree;
}

/** The actions that make dst mirror src, in path order: copies and mkdirs, then deletes. */
async function plan(src: Side, srcTree: Tree, dst: Side, dstTree: Tree, o: SyncOptions): Promise<Action[]> {
  const actions: Action[] = [];
  const hasChildren = new Set<string>();
  for (const rel of srcTree.keys()) if (rel.includes('/')) hasChildren.add(rel.slice(0, rel.lastIndexOf('/')));
  for (const [rel, node] of [...srcTree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const there = dstTree.get(rel);
    if (there && there.type !== node.type) {
      throw new CairnError(there.type === 'dir' ? 'IsADirectory' : 'NotADirectory', `${dst.show(rel)} is a ${there.type === 'dir' ? 'directory' : 'file'}, ${src.show(rel)} is not`);
    }
    if (node.type === 'dir') {
      if (!there && !hasChildren.has(rel)) actions.push({ op: 'mkdir', rel });
      continue;
    }
    if (!there || there.size !== node.size || (await src.crcOf(rel)) !== (await dst.crcOf(rel))) actions.push({ op: 'copy', rel, size: node.size });
  }
  if (o.delete) {
    const gone = new Set<string>();
    const insideGone = (rel: string): boolean => {
      for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) if (gone.has(rel.slice(0, i))) return true;
      return false;
    };
    for (const [rel, node] of [...dstTree].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (srcTree.has(rel) || insideGone(rel)) continue; // kept, or inside a directory deleted whole
      actions.push({ op: 'delete', rel });
      if (node.type === 'dir') gone.add(rel);
    }
  }
  return actions;
}

function describe(a: Action, src: Side, dst: Side): string {
  if (a.op === 'copy') return `${dst.remote ? 'upload' : 'download'}: ${src.show(a.rel)} to ${dst.show(a.rel)}`;
  return `${a.op}: ${dst.show(a.rel)}`;
}

async function upload(client: CairnClient, local: string, remote: RemotePath): Promise<void> {
  const w = client.createWriteStream(remote, { overwrite: true });
  await pipeline(createReadStream(local, { highWaterMark: 1024 * 1024 }), w);
  await w.done;
}

/** One remote file to `local`, atomically and CRC-checked end to end (transfer-commands' downloadFile, no bar of its own). */
async function download(client: CairnClient, remote: RemotePath, local: string): Promise<void> {
  mkdirSync(dirname(local), { recursive: true });
  await downloadFile(client, remote, local, () => undefined, true);
}


/** Which argument is the remote one (see the file comment). */
async function resolveSides(client: CairnClient, srcArg: string, dstArg: string): Promise<{ srcRemote: boolean }> {
  const explicit = (a: string): boolean | null => {
    if (a.startsWith(REMOTE_PREFIX)) return true;
    return a.startsWith('/') ? null : false; // remote paths are absolute
  };
  const s = explicit(srcArg);
  const d = explicit(dstArg);
  if (s !== null && d !== null && s === d) throw new CairnError('InvalidArgument', `sync copies between a local directory and a remote one: ${srcArg} and ${dstArg} are both ${s ? 'remote' : 'local'}`);
  if (s !== null) return { srcRemote: s };
  if (d !== null) return { srcRemote: !d };
  const srcHere = existsSync(srcArg);
  const dstHere = existsSync(dstArg);
  if (srcHere !== dstHere) return { srcRemote: !srcHere };
  if (!srcHere) return { srcRemote: true }; // DST is created; SRC must then be the cluster's
  const onCluster = async (a: string): Promise<boolean> => {
    try {
      await client.stat(remotePath(a));
      return true;
    } catch (e) {
      if (isCairnError(e, 'NotFound') || isCairnError(e, 'InvalidPath')) return false;
      throw e;
    }
  };
  return { srcRemote: (await onCluster(srcArg)) && !(await onCluster(dstArg)) };
}

export async function syncCommand(client: CairnClient, srcArg: string, dstArg: string, o: SyncOptions): Promise<void> {
  const { srcRemote } = await resolveSides(client, srcArg, dstArg);
  const strip = (a: string): string => (a.startsWith(REMOTE_PREFIX) ? a.slice(REMOTE_PREFIX.length) : a);
  const remoteArg = srcRemote ? strip(srcArg) : strip(dstArg);
  const localArg = srcRemote ? dstArg : srcArg;
  const remoteRoot = remotePath(remoteArg);
  const remote = remoteSide(client, remoteRoot);
  const local = localSide(localArg.length > 1 && localArg.endsWith(sep) ? localArg.slice(0, -1) : localArg);
  const [src, dst] = srcRemote ? [remote, local] : [local, remote];
  const srcTree = await src.tree();
  if (srcTree === null) throw new CairnError('NotFound', `no such directory: ${srcRemote ? remoteRoot.text : localArg}`);
  const dstTree = (await dst.tree()) ?? new Map<string, Node>();
  const actions = await plan(src, srcTree, dst, dstTree, o);
  if (o.dryRun) {
    for (const a of actions) await out(`(dryrun) ${describe(a, src, dst)}\n`);
    return;
  }
  const at = (rel: string): RemotePath => (rel === '' ? remoteRoot : rel.split('/').reduce((p, name) => p.child(name), remoteRoot));
  const localAt = (rel: string): string => join(local.show(''), ...rel.split('/'));
  if (dst.remote) await client.mkdir(remoteRoot, { parents: true });
  else mkdirSync(local.show(''), { recursive: true });
  const changes = actions.filter((a) => a.op !== 'delete');
  await runPool(changes, SYNC_COPIES_INFLIGHT, async (a) => {
    if (a.op === 'mkdir') {
      if (dst.remote) await client.mkdir(at(a.rel), { parents: true });
      else mkdirSync(localAt(a.rel), { recursive: true });
    } else if (dst.remote) await upload(client, localAt(a.rel), at(a.rel));
    else await download(client, at(a.rel), localAt(a.rel));
    await out(`${describe(a, src, dst)}\n`);
  });
  for (const a of actions) {
    if (a.op !== 'delete') continue;
    if (dst.remote) await client.rm(at(a.rel), { recursive: true });
    else rmSync(localAt(a.rel), { recursive: true, force: true });
    await out(`${describe(a, src, dst)}\n`);
  }
}

export function registerSyncCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('sync')
      .description('make DST mirror SRC (local → remote or remote → local): copy files missing in DST or differing in size or CRC-32C')
      .argument('<src>', 'source directory (local, or remote: an absolute path on the cluster, or cairn:/path)')
      .argument('<dst>', 'destination directory (created if missing)')
      .option('--delete', 'also delete what SRC lacks from DST', false)
      .option('--dry-run', 'print one line per planned action and change nothing', false)
      .addHelpText('after', '\nOne line per action: upload/download: FROM to TO, mkdir: PATH, delete: PATH ("(dryrun) " first under --dry-run).'),
  ).action(async (src: string, dst: string, o: ClientFlags & { delete: boolean; dryRun: boolean }) => {
    await withClient(o, (c) => syncCommand(c, src, dst, { delete: o.delete, dryRun: o.dryRun }));
    await done();
  });
}

/**
 * `cairn ls`, `stat`, `rm`, `mkdir`, `mv`: the namespace, with output formats fixed by
 * CONTRACT.md. Human formats are for people; scripts use --json (one object per line for ls,
 * one object for stat), whose keys and order are exactly the contract's.
 *
 * ls PATH prints the entries of a directory, or the file itself when PATH is a file (as POSIX
 * ls). Plain: one name per line, directories with a trailing '/'; with -R the names are paths
 * relative to PATH ("sub/", "sub/a.txt"). -l: `type  size  mtime  name`, mtime in UTC; -H (or
 * -h, help being --help only) sizes as 1.5 KiB. Several PATHs (or a wildcard matching several,
 * remote-glob.ts) list one after the other, each directory under a `PATH:` heading as ls does.
 * stat and rm take wildcards too, acting on every match.
 *
 * mv SRC DST into an existing directory DST (or DST ending in '/') moves SRC to DST/<name>, as
 * POSIX mv and `hdfs dfs -mv` do; the rename itself is one atomic metadata operation.
 */
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import type { RemotePath } from '../src/proto/path.js';
import { crcToHex } from '../src/util/crc32c.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { destinationArg, out, remotePath, withClient, withClientOptions, type ClientFlags, type DestinationArg } from './client-options.js';
import { formatBytes, formatTime, table } from './format.js';
import { expandAll } from './remote-glob.js';

export interface LsEntry {
  name: string;
  path: string;
  type: 'file' | 'dir';
  size: number;
  mtime: number;
}

const SIZE_COLUMN_CHARS = 14;

/** One entry in the chosen format, newline included. `shown` is the name or the relative path. */
export function formatEntry(e: LsEntry, shown: string, o: { long: boolean; json: boolean; human?: boolean }): string {
  if (o.json) return JSON.stringify({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime }) + '\n';
  const name = e.type === 'dir' ? `${shown}/` : shown;
  if (!o.long) return name + '\n';
  const size = e.type === 'dir' ? '-' : o.human ? formatBytes(e.size) : String(e.size);
  return `${e.type === 'dir' ? 'dir ' : 'file'}  ${size.padStart(SIZE_COLUMN_CHARS)}  ${formatTime(e.mtime)}  ${name}\n`;
}

interface LsOptions {
  long: boolean;
  recursive: boolean;
  json: boolean;
  human: boolean;
}

async function lsPaths(client: CairnClient, typed: string[], o: LsOptions): Promise<void> {
  const paths = await expandAll(client, typed);
  if (paths.length === 1) return lsCommand(client, paths[0]!, o);
  // As ls: the files first, then each directory under a heading, a blank line between.
  const dirs: RemotePath[] = [];
  for (const p of paths) {
    const st = await client.stat(p);
    if (st.type === 'dir') dirs.push(p);
    else await out(formatEntry({ name: p.name, path: p.text, type: 'file', size: st.size, mtime: st.mtime }, p.text, o));
  }
  for (const [i, d] of dirs.entries()) {
    if (!o.json) await out(`${i > 0 || dirs.length < paths.length ? '\n' : ''}${d.text}:\n`);
    await lsCommand(client, d, o);
  }
}

async function lsCommand(client: CairnClient, path: RemotePath, o: LsOptions): Promise<void> {
  const st = await client.stat(path);
  if (st.type === 'file') {
    const e: LsEntry = { name: path.name, path: path.text, type: 'file', size: st.size, mtime: st.mtime };
    await out(formatEntry(e, e.name, o));
    return;
  }
  const prefix = path.isRoot ? '/' : `${path.text}/`;
  for await (const e of client.ls(path, { recursive: o.recursive })) {
    const shown = o.recursive && e.path.startsWith(prefix) ? e.path.slice(prefix.length) : e.name;
    await out(formatEntry(e, shown, o));
  }
}

async function statCommand(client: CairnClient, path: RemotePath, json: boolean): Promise<void> {
  const st = await client.stat(path);
  const chunks = st.chunks.map((c) => ({ id: c.id, size: c.size, replicas: [...c.replicas] }));
  if (json) {
    const crc = st.crc32c === null ? null : crcToHex(st.crc32c);
    await out(JSON.stringify({ path: st.path, type: st.type, size: st.size, mtime: st.mtime, etag: st.etag, crc32c: crc, chunks }) + '\n');
    return;
  }
  const lines = [
    `path:   ${st.path}`,
    `type:   ${st.type}`,
    `size:   ${st.size}${st.size >= 1024 ? ` (${formatBytes(st.size)})` : ''}`,
    `mtime:  ${formatTime(st.mtime)}`,
  ];
  if (st.type === 'file') {
    lines.push(`etag:   ${st.etag ?? '-'}`, `crc32c: ${st.crc32c === null ? '-' : crcToHex(st.crc32c)}`, `chunks: ${chunks.length}`);
  }
  let text = lines.join('\n') + '\n';
  if (chunks.length > 0) {
    const rows = [['#', 'ID', 'SIZE', 'REPLICAS'], ...chunks.map((c, i) => [String(i), c.id, String(c.size), c.replicas.join(',') || '(none)'])];
    text += table(rows, new Set([0, 2])).replace(/^(?=.)/gm, '  ');
  }
  await out(text);
}

async function mvCommand(client: CairnClient, from: RemotePath, dst: DestinationArg): Promise<void> {
  let to = dst.path;
  let target: { type: string } | null = null;
  try {
    target = await client.stat(to);
  } catch (err) {
    if (!isCairnError(err, 'NotFound')) throw err;
  }
  if (dst.intoDirectory && target === null) throw new CairnError('NotFound', `no such directory: ${to.text}`);
  if (dst.intoDirectory && target?.type !== 'dir') throw new CairnError('NotADirectory', `${to.text} is not a directory`);
  if (target?.type === 'dir' && !from.isRoot) to = to.child(from.name);
  await client.mv(from, to);
}

export function registerNamespaceCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('ls')
      .description('list a directory: names one per line, directories with a trailing /')
      .argument('[path...]', 'remote directories or files (wildcards * ? [..] allowed, quoted)', ['/'])
      .option('-l, --long', 'long format: type, size, mtime (UTC), name', false)
      .option('-R, --recursive', 'list subdirectories too (names relative to PATH)', false)
      .option('-H, --human', 'with -l: sizes as 1.5 KiB, 2.0 GiB (-h works too)', false)
      .option('-h', 'same as -H')
      .option('--json', 'one JSON object per line: {"name","path","type","size","mtime"}', false),
  ).action(async (paths: string[], o: ClientFlags & { long: boolean; recursive: boolean; json: boolean; human: boolean; h?: boolean }) => {
    for (const p of paths) remotePath(p);
    const opts: LsOptions = { long: o.long, recursive: o.recursive, json: o.json, human: o.human || o.h === true };
    await withClient(o, (c) => lsPaths(c, paths, opts));
    await done();
  });

  withClientOptions(
    program
      .command('stat')
      .description('show a file or directory: size, mtime, chunks and the servers holding them')
      .argument('<path...>', 'remote paths (wildcards * ? [..] allowed, quoted)')
      .option('--json', 'one JSON object per path: {"path","type","size","mtime","chunks":[{"id","size","replicas"}]}', false),
  ).action(async (paths: string[], o: ClientFlags & { json: boolean }) => {
    for (const p of paths) remotePath(p);
    await withClient(o, async (c) => {
      for (const p of await expandAll(c, paths)) await statCommand(c, p, o.json);
    });
    await done();
  });

  withClientOptions(
    program
      .command('rm')
      .description('remove a file, or a directory (a non-empty one needs -r)')
      .argument('<path...>', 'remote paths (wildcards * ? [..] allowed, quoted)')
      .option('-r, --recursive', 'remove a directory and everything under it', false),
  ).action(async (paths: string[], o: ClientFlags & { recursive: boolean }) => {
    for (const p of paths) if (remotePath(p).isRoot) throw new CairnError('InvalidArgument', 'refusing to remove /');
    await withClient(o, async (c) => {
      for (const p of await expandAll(c, paths)) await c.rm(p, { recursive: o.recursive });
    });
    await done();
  });

  withClientOptions(
    program
      .command('mkdir')
      .description('create a directory')
      .argument('<path>', 'remote path')
      .option('-p, --parents', 'create missing parents; no error if it exists', false),
  ).action(async (path: string, o: ClientFlags & { parents: boolean }) => {
    const p = remotePath(path);
    await withClient(o, (c) => c.mkdir(p, { parents: o.parents }));
    await done();
  });

  withClientOptions(
    program
      .command('mv')
      .description('rename a file or directory atomically (into DST when DST is a directory)')
      .argument('<src>', 'remote path')
      .argument('<dst>', 'remote path'),
  ).action(async (src: string, dst: string, o: ClientFlags) => {
    const from = remotePath(src);
    const to = destinationArg(dst);
    await withClient(o, (c) => mvCommand(c, from, to));
    await done();
  });
}

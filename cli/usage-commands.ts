/**
 * `cairn du`, `df`, `count`, `find`: what is stored where, from the namespace walk (fs.walk,
 * paged) and the cluster status. PATH arguments may hold wildcards (remote-glob.ts).
 *
 * du [-s] [-H] [--json] PATH...: bytes below PATH (the files' logical sizes, not replicas).
 *   Text as du(1) prints it: one line per directory, children before their parent, PATH last
 *   (with -s only PATH), `<bytes>\t<path>`; -H sizes as 1.5 KiB. --json: one object per PATH,
 *   {"path","files","dirs","bytes"} (CONTRACT.md; `dirs` does not count PATH itself).
 * df [-H] [--json]: the chunk servers' capacity, used and free bytes together (dead servers
 *   left out), as reported by their heartbeats; --json {"capacity","used","free"}.
 * count [-H] PATH...: `hdfs dfs -count`: DIRS FILES BYTES PATH per PATH (DIRS counts PATH itself,
 *   as hdfs does).
 * find PATH... [-name GLOB] [-type f|d] [-size [+-]N[ckMGT]]: every path below (and including)
 *   PATH that matches all the tests given, one per line, in pre-order as find(1) prints them.
 */
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import type { RemotePath } from '../src/proto/path.js';
import { CairnError } from '../src/util/errors.js';
import { sizePredicate } from './bulk-plan.js';
import { out, remotePath, withClient, withClientOptions, type ClientFlags } from './client-options.js';
import { formatBytes } from './format.js';
import { expandAll, matchSegment } from './remote-glob.js';

export interface Usage {
  path: string;
  files: number;
  dirs: number;
  bytes: number;
}

/** A byte count as du, ls -l and count print it: exact, or with -H in binary units. */
export function sizeText(bytes: number, human: boolean): string {
  return human ? formatBytes(bytes) : String(bytes);
}

/**
 * Totals below `path`; `onDir` sees each directory below it with its own totals, children
 * before parents (du's order). A file counts as itself.
 */
export async function usageOf(client: CairnClient, path: RemotePath, onDir?: (u: Usage) => Promise<void>): Promise<Usage> {
  const st = await client.stat(path);
  const total: Usage = { path: path.text, files: 0, dirs: 0, bytes: 0 };
  if (st.type === 'file') return { ...total, files: 1, bytes: st.size };
  // Open directories of the pre-order walk: a directory is complete when the walk leaves it.
  const open: Usage[] = [];
  const close = async (until: string): Promise<void> => {
    while (open.length > 0 && !until.startsWith(`${open[open.length - 1]!.path}/`)) {
      const u = open.pop()!;
      if (open.length > 0) addInto(open[open.length - 1]!, u);
      else addInto(total, u);
      await onDir?.(u);
    }
  };
  for await (const e of client.ls(path, { recursive: true })) {
    await close(e.path);
    const parent = open[open.length - 1] ?? total;
    if (e.type === 'dir') {
      parent.dirs++;
      open.push({ path: e.path, files: 0, dirs: 0, bytes: 0 });
    } else {
      parent.files++;
      parent.bytes += e.size;
    }
  }
  await close('');
  return total;
}

function addInto(parent: Usage, child: Usage): void {
  parent.files += child.files;
  parent.dirs += child.dirs;
  parent.bytes += child.bytes;
}

async function duCommand(client: CairnClient, typed: string[], o: { summarize: boolean; json: boolean; human: boolean }): Promise<void> {
  for (const p of await expandAll(client, typed)) {
    const line = (u: Usage): Promise<void> => out(`${sizeText(u.bytes, o.human)}\t${u.path}\n`);
    const u = await usageOf(client, p, o.summarize || o.json ? undefined : line);
    await (o.json ? out(JSON.stringify({ path: u.path, files: u.files, dirs: u.dirs, bytes: u.bytes }) + '\n') : line(u));
  }
}

async function dfCommand(client: CairnClient, o: { json: boolean; human: boolean }): Promise<void> {
  const s = await client.status();
  const live = s.chunkServers.filter((c) => c.state !== 'dead');
  const capacity = live.reduce((a, c) => a + c.capacity, 0);
  const used = live.reduce((a, c) => a + c.used, 0);
  const free = Math.max(0, capacity - used);
  if (o.json) return out(JSON.stringify({ capacity, used, free }) + '\n');
  const pct = capacity > 0 ? `${Math.ceil((100 * used) / capacity)}%` : '-';
  const cells = [sizeText(capacity, o.human), sizeText(used, o.human), sizeText(free, o.human), pct];
  const widths = cells.map((c, i) => Math.max(c.length, ['Size', 'Used', 'Avail', 'Use%'][i]!.length));
  const row = (xs: string[]): string => xs.map((x, i) => x.padStart(widths[i]!)).join('  ');
  await out(`${'Cluster'.padEnd(10)}${row(['Size', 'Used', 'Avail', 'Use%'])}\n${'cairn'.padEnd(10)}${row(cells)}\n`);
}

async function countCommand(client: CairnClient, typed: string[], human: boolean): Promise<void> {
  for (const p of await expandAll(client, typed)) {
    const u = await usageOf(client, p);
    const isDir = (await client.stat(p)).type === 'dir';
    await out(`${String(u.dirs + (isDir ? 1 : 0)).padStart(12)} ${String(u.files).padStart(12)} ${sizeText(u.bytes, human).padStart(18)} ${u.path}\n`);
  }
}

export interface FindTests {
  name?: string;
  type?: 'f' | 'd';
  size?: string;
}

/** find's expression: `-name GLOB`, `-type f|d`, `-size [+-]N[ckMGT]` (each at most once). */
export function parseFindArgs(args: readonly string[]): { paths: string[]; tests: FindTests } {
  const paths: string[] = [];
  const tests: FindTests = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-') || a === '-') {
      if (Object.keys(tests).length > 0) throw new CairnError('InvalidArgument', `find: paths come before the tests: ${a}`);
      paths.push(a);
      continue;
    }
    const v = args[++i];
    if (v === undefined) throw new CairnError('InvalidArgument', `find: ${a} needs a value`);
    if (a === '-name') tests.name = v;
    else if (a === '-type') {
      if (v !== 'f' && v !== 'd') throw new CairnError('InvalidArgument', `find: -type takes f or d, not ${v}`);
      tests.type = v;
    } else if (a === '-size') {
      sizePredicate(v);
      tests.size = v;
    } else throw new CairnError('InvalidArgument', `find: unknown test ${a} (known: -name, -type, -size)`);
  }
  if (paths.length === 0) throw new CairnError('InvalidArgument', 'find: name a remote path to search');
  return { paths, tests };
}

/** The predicate of a find expression over (name, type, size). */
export function findPredicate(t: FindTests): (e: { name: string; type: 'file' | 'dir'; size: number }) => boolean {
  const bySize = t.size === undefined ? null : sizePredicate(t.size);
  return (e) =>
    (t.name === undefined || matchSegment(t.name, e.name)) &&
    (t.type === undefined || (t.type === 'f') === (e.type === 'file')) &&
    (bySize === null || (e.type === 'file' && bySize(e.size)));
}

async function findCommand(client: CairnClient, args: readonly string[]): Promise<void> {
  const { paths, tests } = parseFindArgs(args);
  const matches = findPredicate(tests);
  for (const typed of paths) remotePath(typed);
  for (const p of await expandAll(client, paths)) {
    const st = await client.stat(p);
    if (matches({ name: p.name, type: st.type, size: st.size })) await out(`${p.text}\n`);
    if (st.type !== 'dir') continue;
    for await (const e of client.ls(p, { recursive: true })) if (matches(e)) await out(`${e.path}\n`);
  }
}

export function registerUsageCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('du')
      .description('bytes stored below remote paths: each directory, children first, then PATH (as du)')
      .argument('<path...>', 'remote paths (wildcards * ? [..] allowed, quoted)')
      .option('-s, --summarize', 'only the total of each PATH', false)
      .option('-H, --human', 'sizes as 1.5 KiB, 2.0 GiB (-h works too)', false)
      .option('-h', 'same as -H')
      .option('--json', 'one JSON object per PATH: {"path","files","dirs","bytes"} (dirs below PATH, not PATH itself)', false),
  ).action(async (paths: string[], o: ClientFlags & { summarize: boolean; human: boolean; h?: boolean; json: boolean }) => {
    for (const p of paths) remotePath(p);
    await withClient(o, (c) => duCommand(c, paths, { summarize: o.summarize, json: o.json, human: o.human || o.h === true }));
    await done();
  });

  withClientOptions(
    program
      .command('df')
      .description("the cluster's capacity, used and free bytes (all live chunk servers together)")
      .option('-H, --human', 'sizes as 1.5 KiB, 2.0 GiB (-h works too)', false)
      .option('-h', 'same as -H')
      .option('--json', 'one JSON object: {"capacity","used","free"}', false),
  ).action(async (o: ClientFlags & { human: boolean; h?: boolean; json: boolean }) => {
    await withClient(o, (c) => dfCommand(c, { json: o.json, human: o.human || o.h === true }));
    await done();
  });

  withClientOptions(
    program
      .command('count')
      .description('DIRS FILES BYTES PATH for each remote path (as hdfs dfs -count; DIRS counts PATH itself)')
      .argument('<path...>', 'remote paths (wildcards * ? [..] allowed, quoted)')
      .option('-H, --human', 'sizes as 1.5 KiB, 2.0 GiB (-h works too)', false)
      .option('-h', 'same as -H'),
  ).action(async (paths: string[], o: ClientFlags & { human: boolean; h?: boolean }) => {
    for (const p of paths) remotePath(p);
    await withClient(o, (c) => countCommand(c, paths, o.human || o.h === true));
    await done();
  });

  const find = withClientOptions(
    program
      .command('find')
      .description('paths below remote PATHs that pass every test given, one per line')
      .usage('[options] <path...> [-name GLOB] [-type f|d] [-size [+-]N[ckMGT]]')
      .argument('<args...>', 'remote paths, then the tests')
      .allowUnknownOption()
      .addHelpText(
        'after',
        '\nTests: -name GLOB (the last segment; * ? [..], quote it), -type f|d, -size [+-]N[ckMGT]\n' +
          '(sizes rounded up to the unit as find does: +N more than, -N less than, N exactly; no unit or c: bytes).',
      ),
  );
  find.action(async (args: string[], o: ClientFlags) => {
    await withClient(o, (c) => findCommand(c, args));
    await done();
  });
}

/**
 * Directory and bulk transfers with the built `cairn` CLI against one real DevCluster (3 metadata
 * servers, 4 chunk servers, replication 3, 64 KiB chunks): put -r / get -r with several sources
 * and the cp -r destination rules, get refusing an existing local file without -f, cp server
 * side (the copy shares the source's chunks), remote globbing, du / df / count / find, human
 * sizes (ls -l -h), shell completion — and silence on stderr without a terminal.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, CLI_PATH, cliEnv, failureLine, ok, patternBytes, runCli, type RunOptions } from './cli-harness.js';

const C = 65536;
/** Each test runs tens of CLI processes (~1 s each on a loaded machine). */
const TEST_MS = 240_000;

/** Every file and directory below `dir` (directories with a trailing '/'), sorted. */
function localTree(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out.push(`${relative(dir, p)}/`);
        visit(p);
      } else out.push(relative(dir, p));
    }
  };
  visit(dir);
  return out.sort();
}

describe('cairn bulk transfers against a real cluster', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-bulk-'));
  const src = join(root, 'src');
  let cluster: DevCluster;
  let env: Record<string, string>;
  const cli = (args: string[], o: RunOptions = {}) => runCli(args, { env, ...o });
  const text = async (args: string[]): Promise<string> => ok(await cli(args)).stdout.toString();
  const files: Record<string, Buffer> = {
    'a/big.bin': patternBytes(3 * C + 17, 1),
    'a/b/x.txt': Buffer.from('x\n'),
    'a/b/c/deep.bin': patternBytes(C, 2),
    'c/one.iso': patternBytes(1000, 3),
    'c/two.iso': patternBytes(C + 1, 4),
    'c/skip.tmp': Buffer.from('tmp'),
    'top.txt': Buffer.from('top\n'),
    'zero': Buffer.alloc(0),
  };
  const totalBytes = Object.values(files).reduce((a, b) => a + b.length, 0);
  const expectedTree = ['a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.bin', 'a/b/x.txt', 'a/big.bin', 'c/', 'c/one.iso', 'c/skip.tmp', 'c/two.iso', 'empty/', 'empty/inner/', 'top.txt', 'zero'];

  beforeAll(async () => {
    assertBuilt();
    for (const [rel, data] of Object.entries(files)) {
      mkdirSync(join(src, rel, '..'), { recursive: true });
      writeFileSync(join(src, rel), data);
    }
    mkdirSync(join(src, 'empty', 'inner'), { recursive: true });
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir: join(root, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: C, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(45_000);
    env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('put -r stores a tree (empty directories too) quietly; get -r brings it back byte-exact', async () => {
    ok(await cli(['put', '-r', src, '/tree']));
    const remote = (await text(['ls', '-R', '/tree'])).trim().split('\n').sort();
    expect(remote).toEqual(expectedTree);
    expect(JSON.parse(await text(['du', '--json', '/tree']))).toEqual({ path: '/tree', files: 8, dirs: 6, bytes: totalBytes });
    const back = join(root, 'back');
    ok(await cli(['get', '-r', '/tree', back]));
    expect(localTree(back)).toEqual(expectedTree);
    for (const [rel, data] of Object.entries(files)) expect(readFileSync(join(back, rel)).equals(data), rel).toBe(true);
  }, TEST_MS);

  it('draws ONE progress bar for a whole tree on a terminal (files and bytes), none per file', async () => {
    const back = join(root, 'tty-back');
    const cmd = `"${process.execPath}" "${CLI_PATH}" put -r "${src}" /tty && "${process.execPath}" "${CLI_PATH}" get -r /tty "${back}"`;
    const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { env: cliEnv(env), encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/put \[.*\] 100% 8\/8 files /);
    expect(r.stdout).toMatch(/get \[.*\] 100% 8\/8 files /);
    expect(r.stdout).not.toMatch(/(put|get) \/tty/);
    expect(localTree(back)).toEqual(expectedTree);
  }, TEST_MS);

  it('follows cp -r destination rules: into an existing directory or a trailing /, several sources, parents created', async () => {
    ok(await cli(['mkdir', '/rules']));
    // /rules exists: src lands at /rules/src; a trailing / on a missing path creates it (and parents).
    ok(await cli(['put', '-r', join(src, 'c'), '/rules']));
    ok(await cli(['put', '-r', join(src, 'c'), '/rules/new/deeper/']));
    ok(await cli(['put', join(src, 'top.txt'), join(src, 'zero'), join(src, 'a'), '-r', '/rules/many/']));
    expect((await text(['ls', '/rules'])).split('\n')).toEqual(['c/', 'many/', 'new/', '']);
    expect(await text(['ls', '/rules/new/deeper'])).toBe('c/\n');
    expect(await text(['ls', '/rules/many'])).toBe('a/\ntop.txt\nzero\n');
    // A missing DST without a trailing / becomes the copy itself.
    ok(await cli(['put', '-r', join(src, 'c'), '/rules/renamed']));
    expect(await text(['ls', '/rules/renamed'])).toBe('one.iso\nskip.tmp\ntwo.iso\n');
    // Several sources need a directory; a directory needs -r; a directory cannot replace a file.
    failureLine(await cli(['put', join(src, 'top.txt'), join(src, 'zero'), '/rules/missing']), 'NotFound');
    failureLine(await cli(['put', join(src, 'top.txt'), join(src, 'zero'), '/rules/renamed/one.iso']), 'NotADirectory');
    failureLine(await cli(['put', join(src, 'c'), '/rules/x']), 'IsADirectory');
    failureLine(await cli(['put', '-r', join(src, 'c'), '/rules/renamed/one.iso']), 'NotADirectory');
    failureLine(await cli(['put', 'only-one']), 'InvalidArgument');
    // get: the same rules locally.
    const out = join(root, 'rules-out');
    mkdirSync(out);
    ok(await cli(['get', '-r', '/rules/renamed', '/rules/many/top.txt', out]));
    expect(localTree(out)).toEqual(['renamed/', 'renamed/one.iso', 'renamed/skip.tmp', 'renamed/two.iso', 'top.txt']);
    ok(await cli(['get', '-r', '/rules/renamed', join(out, 'n1', 'n2') + '/']));
    expect(readdirSync(join(out, 'n1', 'n2', 'renamed')).sort()).toEqual(['one.iso', 'skip.tmp', 'two.iso']);
    ok(await cli(['get', '/rules/many/top.txt', join(out, 'made', 'here') + '/']));
    expect(readFileSync(join(out, 'made', 'here', 'top.txt'), 'utf8')).toBe('top\n');
    failureLine(await cli(['get', '/rules/many/top.txt', join(out, 'top.txt') + '/']), 'NotADirectory');
    failureLine(await cli(['get', '/rules/renamed', join(out, 'plain')]), 'IsADirectory');
    failureLine(await cli(['get', '/rules/many/top.txt', '/rules/many/zero', join(out, 'missing')]), 'NotFound');
  }, TEST_MS);

  it('refuses existing files before anything moves unless -f (put -r, get, get -r)', async () => {
    // put -r onto files that exist: refused, naming one, nothing changed (no file, no mtime).
    ok(await cli(['put', '-r', src, '/again']));
    ok(await cli(['rm', '/again/c/two.iso']));
    const before = await text(['stat', '--json', '/again/c/one.iso']);
    const line = failureLine(await cli(['put', '-r', join(src, 'c'), '/again/']), 'AlreadyExists');
    expect(line).toContain('/again/c/');
    expect(await text(['stat', '--json', '/again/c/one.iso'])).toBe(before);
    expect(await text(['ls', '/again/c'])).toBe('one.iso\nskip.tmp\n');
    writeFileSync(join(root, 'changed'), 'changed');
    failureLine(await cli(['put', join(root, 'changed'), '/again/top.txt']), 'AlreadyExists');
    ok(await cli(['put', join(root, 'changed'), '/again/top.txt', '-f']));
    expect(await text(['cat', '/again/top.txt'])).toBe('changed');
    ok(await cli(['put', '-r', '-f', join(src, 'top.txt'), join(src, 'a'), '/again']));
    expect(await text(['cat', '/again/top.txt'])).toBe('top\n');
    // get of an existing local file: refused without -f, replaced with it.
    const dir = join(root, 'get-f');
    mkdirSync(dir);
    writeFileSync(join(dir, 'top.txt'), 'old');
    failureLine(await cli(['get', '/again/top.txt', join(dir, 'top.txt')]), 'AlreadyExists');
    failureLine(await cli(['get', '/again/top.txt', dir]), 'AlreadyExists');
    expect(readFileSync(join(dir, 'top.txt'), 'utf8')).toBe('old');
    ok(await cli(['get', '-f', '/again/top.txt', dir]));
    expect(readFileSync(join(dir, 'top.txt'), 'utf8')).toBe('top\n');
    // get -r onto an earlier copy: refused as a whole (no file written), -f replaces.
    ok(await cli(['get', '-r', '/tree/c', join(dir, 'c')]));
    writeFileSync(join(dir, 'c', 'one.iso'), 'mine');
    rmSync(join(dir, 'c', 'two.iso'));
    failureLine(await cli(['get', '-r', '/tree/c', dir]), 'AlreadyExists');
    expect(readdirSync(join(dir, 'c')).sort()).toEqual(['one.iso', 'skip.tmp']);
    expect(readFileSync(join(dir, 'c', 'one.iso'), 'utf8')).toBe('mine');
    ok(await cli(['get', '-r', '-f', '/tree/c', dir]));
    expect(readFileSync(join(dir, 'c', 'one.iso')).equals(files['c/one.iso']!)).toBe(true);
    expect(readdirSync(join(dir, 'c')).sort()).toEqual(['one.iso', 'skip.tmp', 'two.iso']);
  }, TEST_MS);

  it('cp copies server side: the copy shares the chunks, survives rm of the source, refuses an existing file unless -f', async () => {
    ok(await cli(['put', join(src, 'a', 'big.bin'), '/cp/src.bin']));
    ok(await cli(['cp', '/cp/src.bin', '/cp/deep/copy.bin']));
    type Stat = { size: number; chunks: Array<{ id: string }> };
    const a = JSON.parse(await text(['stat', '--json', '/cp/src.bin'])) as Stat;
    const b = JSON.parse(await text(['stat', '--json', '/cp/deep/copy.bin'])) as Stat;
    expect(b.size).toBe(a.size);
    expect(b.chunks.map((c) => c.id)).toEqual(a.chunks.map((c) => c.id));
    failureLine(await cli(['cp', '/cp/src.bin', '/cp/deep/copy.bin']), 'AlreadyExists');
    ok(await cli(['cp', '-f', '/cp/src.bin', '/cp/deep/copy.bin']));
    ok(await cli(['cp', '/cp/src.bin', '/cp/deep']));
    expect(await text(['ls', '/cp/deep'])).toBe('copy.bin\nsrc.bin\n');
    ok(await cli(['rm', '/cp/src.bin']));
    expect(ok(await cli(['cat', '/cp/deep/copy.bin'])).stdout.equals(files['a/big.bin']!)).toBe(true);
    ok(await cli(['rm', '/cp/deep/src.bin']));
    expect(ok(await cli(['cat', '/cp/deep/copy.bin'])).stdout.equals(files['a/big.bin']!)).toBe(true);
    // Trees: -r needed; the same rules as put -r; never into itself.
    failureLine(await cli(['cp', '/tree/c', '/cp/c']), 'IsADirectory');
    ok(await cli(['cp', '-r', '/tree', '/cp/tree']));
    expect((await text(['ls', '-R', '/cp/tree'])).trim().split('\n').sort()).toEqual(expectedTree);
    failureLine(await cli(['cp', '-r', '/tree/c', '/cp/tree/']), 'AlreadyExists');
    failureLine(await cli(['cp', '-r', '/tree/c', '/cp/tree/top.txt']), 'NotADirectory');
    ok(await cli(['cp', '-r', '-f', '/tree/c', '/tree/top.txt', '/cp/tree/']));
    expect(await text(['ls', '/cp/tree/c'])).toBe('one.iso\nskip.tmp\ntwo.iso\n');
    failureLine(await cli(['cp', '-r', '/cp', '/cp/inside']), 'InvalidArgument');
    failureLine(await cli(['cp', '/cp/nope', '/cp/x']), 'NotFound');
    expect(ok(await cli(['cat', '/cp/tree/a/b/c/deep.bin'])).stdout.equals(files['a/b/c/deep.bin']!)).toBe(true);
    expect(await text(['cat', '/cp/tree/zero'])).toBe('');
  }, TEST_MS);

  it('globs remote paths in ls, stat, get, cp, rm and du; no match is one NotFound line', async () => {
    ok(await cli(['cp', '-r', '/tree/c', '/glob']));
    expect(await text(['ls', '/glob/*.iso'])).toBe('/glob/one.iso\n/glob/two.iso\n');
    expect(await text(['ls', '/glob/t?o.*'])).toBe('two.iso\n');
    expect(await text(['ls', '/glob/[os]*'])).toBe('/glob/one.iso\n/glob/skip.tmp\n');
    const stats = (await text(['stat', '--json', '/glob/*.iso'])).trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path);
    expect(stats).toEqual(['/glob/one.iso', '/glob/two.iso']);
    const dir = join(root, 'glob-out');
    mkdirSync(dir);
    ok(await cli(['get', '/glob/*.iso', dir]));
    expect(readdirSync(dir).sort()).toEqual(['one.iso', 'two.iso']);
    ok(await cli(['cp', '/glob/*.iso', '/glob2/']));
    expect(await text(['ls', '/glob2'])).toBe('one.iso\ntwo.iso\n');
    expect(JSON.parse(await text(['du', '--json', '/glob?/t*']))).toEqual({ path: '/glob2/two.iso', files: 1, dirs: 0, bytes: C + 1 });
    ok(await cli(['rm', '/glob/*.tmp']));
    expect(await text(['ls', '/glob'])).toBe('one.iso\ntwo.iso\n');
    const none = failureLine(await cli(['ls', '/glob/*.zip']), 'NotFound');
    expect(none).toBe('cairn: NotFound: no match: /glob/*.zip');
    failureLine(await cli(['rm', '/nothing/*']), 'NotFound');
    failureLine(await cli(['get', '/glob/*.zip', dir]), 'NotFound');
  }, TEST_MS);

  it('du, df, count and find report the namespace and the cluster', async () => {
    const du = (await text(['du', '/tree'])).trim().split('\n');
    expect(du).toEqual([
      `${C}\t/tree/a/b/c`,
      `${C + 2}\t/tree/a/b`,
      `${4 * C + 19}\t/tree/a`,
      `${C + 1004}\t/tree/c`,
      '0\t/tree/empty/inner',
      '0\t/tree/empty',
      `${totalBytes}\t/tree`,
    ]);
    expect(await text(['du', '-s', '/tree'])).toBe(`${totalBytes}\t/tree\n`);
    expect(await text(['du', '-s', '-H', '/tree/a'])).toBe('256 KiB\t/tree/a\n');
    expect(await text(['du', '-sh', '/tree/a'])).toBe('256 KiB\t/tree/a\n');
    expect(JSON.parse(await text(['du', '--json', '/tree/top.txt']))).toEqual({ path: '/tree/top.txt', files: 1, dirs: 0, bytes: 4 });
    failureLine(await cli(['du', '/nope']), 'NotFound');
    const df = JSON.parse(await text(['df', '--json'])) as Record<string, number>;
    expect(Object.keys(df)).toEqual(['capacity', 'used', 'free']);
    expect(df.capacity).toBeGreaterThan(0);
    expect(df.free).toBe(df.capacity! - df.used!);
    expect(await text(['df', '-H'])).toMatch(/^Cluster +Size +Used +Avail +Use%\ncairn +\d/);
    expect((await text(['count', '/tree', '/tree/c'])).split('\n').map((l) => l.trim().split(/\s+/))).toEqual([
      ['7', '8', String(totalBytes), '/tree'],
      ['1', '3', String(C + 1004), '/tree/c'],
      [''],
    ]);
    expect(await text(['find', '/tree', '-name', '*.iso'])).toBe('/tree/c/one.iso\n/tree/c/two.iso\n');
    expect(await text(['find', '/tree', '-type', 'd'])).toBe('/tree\n/tree/a\n/tree/a/b\n/tree/a/b/c\n/tree/c\n/tree/empty\n/tree/empty/inner\n');
    expect(await text(['find', '/tree', '-type', 'f', '-size', '+64k'])).toBe('/tree/a/big.bin\n/tree/c/two.iso\n');
    expect(await text(['find', '/tree/c', '/tree/top.txt', '-size', '-1k'])).toBe('');
    expect(await text(['find', '/tree', '-size', '0'])).toBe('/tree/zero\n');
    failureLine(await cli(['find', '/tree', '-newer', 'x']), 'InvalidArgument');
  }, TEST_MS);

  it('ls -l -h (and -H) show human sizes; help is --help only; completion scripts parse', async () => {
    expect(await text(['ls', '-l', '-h', '/tree/a'])).toMatch(/^file +192 KiB +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}big\.bin$/m);
    expect(await text(['ls', '-lH', '/tree/a'])).toMatch(/^file +192 KiB /m);
    expect(await text(['ls', '-l', '/tree/a'])).toMatch(new RegExp(`^file +${3 * C + 17} `, 'm'));
    for (const cmd of ['put', 'get', 'cp', 'du', 'df', 'count', 'find', 'completion']) {
      const help = ok(await runCli([cmd, '--help'])).stdout.toString();
      expect(help, cmd).toContain(`Usage: cairn ${cmd}`);
    }
    for (const cmd of ['put', 'get', 'cp']) {
      const help = ok(await runCli([cmd, '--help'])).stdout.toString();
      expect(help, cmd).toContain('-r, --recursive');
      expect(help, cmd).toContain('-f, --force');
    }
    expect(ok(await runCli(['--help'])).stdout.toString()).toMatch(/^\s+cp \[options\]/m);
    for (const shell of ['bash', 'zsh']) {
      const script = ok(await runCli(['completion', shell])).stdout.toString();
      expect(script).toContain('complete -o filenames -F _cairn cairn');
      for (const cmd of ['put', 'get', 'cp', 'du', 'find', 'ls']) expect(script).toMatch(new RegExp(`\\b${cmd}\\b`));
      const check = spawnSync('bash', ['-n'], { input: shell === 'zsh' ? script.replace(/^autoload.*$/m, '') : script, encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    }
    failureLine(await runCli(['completion', 'fish']), 'InvalidArgument');
  }, TEST_MS);
});

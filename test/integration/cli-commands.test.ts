/**
 * The built `cairn` CLI as real child processes against one real DevCluster (3 metadata servers,
 * 4 chunk servers, replication 3, 64 KiB chunks): every client command and flag of CONTRACT.md,
 * the three ways to find the cluster, every error path (one stderr line `cairn: <Code>: …`,
 * non-zero exit), byte-exact transfers at the chunk boundaries, stdin/stdout streaming, EPIPE,
 * a failed get leaving no partial file, and the progress bar only on a terminal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, CLI_PATH, cliEnv, failureLine, ok, patternBytes, runCli, type RunOptions } from './cli-harness.js';

const C = 65536;

interface StatJson {
  path: string;
  type: string;
  size: number;
  mtime: number;
  chunks: Array<{ id: string; size: number; replicas: string[] }>;
}

describe('cairn CLI against a real cluster', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
  const local = join(root, 'local');
  let cluster: DevCluster;
  let env: Record<string, string>;
  const cli = (args: string[], o: RunOptions = {}) => runCli(args, { env, ...o });

  beforeAll(async () => {
    assertBuilt();
    mkdirSync(local);
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

  it('--help lists every command', async () => {
    const r = ok(await runCli(['--help']));
    const text = r.stdout.toString();
    for (const cmd of ['put', 'get', 'cat', 'ls', 'stat', 'rm', 'mkdir', 'mv', 'status', 'dev', 'meta', 'chunk']) {
      expect(text).toMatch(new RegExp(`^\\s+${cmd} `, 'm'));
    }
    failureLine(await runCli([]), 'InvalidArgument');
    failureLine(await runCli(['frobnicate']), 'InvalidArgument');
    failureLine(await runCli(['ls', '--bogus']), 'InvalidArgument');
    failureLine(await runCli(['put', 'only-one-arg']), 'InvalidArgument');
    failureLine(await runCli(['put', '--chunk-size', 'x', 'a', '/a']), 'InvalidArgument');
  });

  it('put and get files of 0, 1, chunk-1, chunk, chunk+1 and several chunks byte-exact; stat --json shows the chunks', async () => {
    const sizes = [0, 1, C - 1, C, C + 1, 5 * C + 1234];
    await Promise.all(
      sizes.map(async (n, i) => {
        const data = patternBytes(n, i + 1);
        const src = join(local, `size-${n}`);
        const back = join(local, `size-${n}.back`);
        writeFileSync(src, data);
        ok(await cli(['put', src, `/sizes/f-${n}`]));
        ok(await cli(['get', `/sizes/f-${n}`, back]));
        expect(readFileSync(back).equals(data)).toBe(true);
        const st = JSON.parse(ok(await cli(['stat', '--json', `/sizes/f-${n}`])).stdout.toString()) as StatJson;
        expect(Object.keys(st)).toEqual(['path', 'type', 'size', 'mtime', 'etag', 'crc32c', 'chunks']);
        expect(st).toMatchObject({ path: `/sizes/f-${n}`, type: 'file', size: n });
        expect(st.chunks.length).toBe(Math.ceil(n / C));
        expect(st.chunks.map((c) => c.size)).toEqual(Array.from({ length: Math.ceil(n / C) }, (_, k) => Math.min(C, n - k * C)));
        for (const c of st.chunks) {
          expect(Object.keys(c)).toEqual(['id', 'size', 'replicas']);
          expect(c.replicas.length).toBeGreaterThanOrEqual(1);
          expect(new Set(c.replicas).size).toBe(c.replicas.length);
        }
      }),
    );
    // Replica locations come from chunk-server reports: within a few heartbeats every chunk shows 3.
    const deadline = systemClock.nowMs() + 10_000;
    let st: StatJson;
    do {
      st = JSON.parse(ok(await cli(['stat', '--json', `/sizes/f-${5 * C + 1234}`])).stdout.toString()) as StatJson;
      if (st.chunks.every((c) => c.replicas.length === 3)) break;
      await sleep(200);
    } while (systemClock.nowMs() < deadline);
    expect(st.chunks.map((c) => c.replicas.length)).toEqual([3, 3, 3, 3, 3, 3]);
  });

  it('put from stdin and get/cat to stdout are byte-exact', async () => {
    const data = patternBytes(4 * C + 77, 99);
    ok(await cli(['put', '-', '/stream/s.bin'], { input: data }));
    expect(ok(await cli(['get', '/stream/s.bin', '-'])).stdout.equals(data)).toBe(true);
    expect(ok(await cli(['cat', '/stream/s.bin'])).stdout.equals(data)).toBe(true);
    ok(await cli(['put', '-', '/stream/empty'], { input: '' }));
    expect(ok(await cli(['cat', '/stream/empty'])).stdout.length).toBe(0);
    // --chunk-size sets this file's chunk size
    ok(await cli(['put', '--chunk-size', '1000', '-', '/stream/small-chunks'], { input: patternBytes(2500, 5) }));
    const st = JSON.parse(ok(await cli(['stat', '--json', '/stream/small-chunks'])).stdout.toString()) as StatJson;
    expect(st.chunks.map((c) => c.size)).toEqual([1000, 1000, 500]);
  });

  it('finds the cluster from --meta/--token(-file), from CAIRN_META/CAIRN_TOKEN(_FILE) and from the nearest .cairn/cluster.json or CAIRN_CONFIG', async () => {
    ok(await cli(['mkdir', '-p', '/cfg']));
    const empty = join(root, 'empty-cwd');
    mkdirSync(empty);
    // Flags only (and any single metadata server is enough: the client finds the leader).
    for (const addr of cluster.metaAddrs) {
      const r = ok(await runCli(['ls', '/', '--meta', addr, '--token', cluster.token], { cwd: empty }));
      expect(r.stdout.toString()).toContain('cfg/\n');
    }
    // Every client command takes the flags.
    const flags = ['--meta', cluster.metaAddrs[0]!, '--token', cluster.token];
    ok(await runCli(['put', '-', '/cfg/f', ...flags], { cwd: empty, input: 'flagged' }));
    const each = await Promise.all(
      [['get', '/cfg/f', '-'], ['cat', '/cfg/f'], ['ls', '/cfg'], ['stat', '/cfg/f'], ['mkdir', '/cfg/d'], ['status']].map((a) => runCli([...a, ...flags], { cwd: empty })),
    );
    each.forEach((r) => ok(r));
    expect(each[0]!.stdout.toString()).toBe('flagged');
    ok(await runCli(['mv', '/cfg/d', '/cfg/e', ...flags], { cwd: empty }));
    ok(await runCli(['rm', '/cfg/e', ...flags], { cwd: empty }));
    // Flags win over the environment.
    ok(await runCli(['ls', '/', '--token', cluster.token], { cwd: empty, env: { CAIRN_META: env.CAIRN_META!, CAIRN_TOKEN: 'wrong' } }));
    // cluster.json in ./.cairn of the working directory.
    const withJson = join(root, 'json-cwd');
    mkdirSync(join(withJson, '.cairn'), { recursive: true });
    writeFileSync(join(withJson, '.cairn', 'cluster.json'), JSON.stringify(cluster.clusterJson()));
    expect(ok(await runCli(['ls', '/'], { cwd: withJson })).stdout.toString()).toContain('cfg/\n');
    // ... found from a subdirectory too (the nearest one up), or named by CAIRN_CONFIG.
    const sub = join(withJson, 'x', 'y');
    mkdirSync(sub, { recursive: true });
    expect(ok(await runCli(['ls', '/'], { cwd: sub })).stdout.toString()).toContain('cfg/\n');
    expect(ok(await runCli(['ls', '/'], { cwd: empty, env: { CAIRN_CONFIG: join(withJson, '.cairn', 'cluster.json') } })).stdout.toString()).toContain('cfg/\n');
    // The token from a file: --token-file, or CAIRN_TOKEN_FILE.
    ok(await runCli(['ls', '/', '--meta', env.CAIRN_META!, '--token-file', cluster.tokenFilePath], { cwd: empty }));
    ok(await runCli(['ls', '/'], { cwd: empty, env: { CAIRN_META: env.CAIRN_META!, CAIRN_TOKEN_FILE: cluster.tokenFilePath } }));
    expect(failureLine(await runCli(['ls', '/', '--meta', env.CAIRN_META!, '--token-file', join(empty, 'none')], { cwd: empty }), 'InvalidArgument')).toContain('--token-file');
    // Nothing configured.
    expect(failureLine(await runCli(['ls', '/'], { cwd: empty }), 'InvalidArgument')).toContain('no cluster configured');
    // A wrong token is refused.
    failureLine(await runCli(['ls', '/'], { cwd: empty, env: { CAIRN_META: env.CAIRN_META!, CAIRN_TOKEN: 'not-the-token' } }), 'Unauthorized');
    failureLine(await runCli(['ls', '/', '--meta', env.CAIRN_META!, '--token', 'nope'], { cwd: empty }), 'Unauthorized');
    failureLine(await runCli(['ls', '/', '--meta', 'not an address', '--token', 'x'], { cwd: empty }), 'InvalidArgument');
  });

  it('put refuses an existing file unless -f (which replaces it); directories as DST', async () => {
    const a = join(local, 'a.txt');
    const b = join(local, 'b.txt');
    writeFileSync(a, 'first version\n');
    writeFileSync(b, 'second\n');
    ok(await cli(['put', a, '/put/x.txt']));
    expect(failureLine(await cli(['put', b, '/put/x.txt']), 'AlreadyExists')).toContain('-f');
    failureLine(await cli(['put', '-', '/put/x.txt'], { input: 'stdin' }), 'AlreadyExists');
    expect(ok(await cli(['cat', '/put/x.txt'])).stdout.toString()).toBe('first version\n');
    ok(await cli(['put', '-f', b, '/put/x.txt']));
    expect(ok(await cli(['cat', '/put/x.txt'])).stdout.toString()).toBe('second\n');
    ok(await cli(['put', '--force', '-', '/put/x.txt'], { input: 'third' }));
    expect(ok(await cli(['cat', '/put/x.txt'])).stdout.toString()).toBe('third');
    // An existing directory, or a trailing '/', means DST/<name of SRC>; parents are created.
    ok(await cli(['put', a, '/put/into/']));
    ok(await cli(['put', b, '/put/into']));
    expect(ok(await cli(['ls', '/put/into'])).stdout.toString()).toBe('a.txt\nb.txt\n');
    ok(await cli(['put', a, '/put/deep/er/than/before.txt']));
    expect(ok(await cli(['cat', '/put/deep/er/than/before.txt'])).stdout.toString()).toBe('first version\n');
    failureLine(await cli(['put', '-', '/put/into'], { input: 'x' }), 'IsADirectory');
    failureLine(await cli(['put', a, '/put/x.txt/']), 'NotADirectory');
    failureLine(await cli(['put', join(local, 'no-such-file'), '/put/y']), 'NotFound');
    failureLine(await cli(['put', local, '/put/y']), 'IsADirectory');
  });

  it('ls: names, -l, -R, --json, a file, a missing path', async () => {
    ok(await cli(['mkdir', '-p', '/ls/sub/deeper']));
    ok(await cli(['put', '-', '/ls/a.txt'], { input: 'abc' }));
    ok(await cli(['put', '-', '/ls/sub/b.txt'], { input: 'hello' }));
    expect(ok(await cli(['ls', '/ls'])).stdout.toString()).toBe('a.txt\nsub/\n');
    expect(ok(await cli(['ls', '/ls/'])).stdout.toString()).toBe('a.txt\nsub/\n');
    expect(ok(await cli(['ls', '-R', '/ls'])).stdout.toString()).toBe('a.txt\nsub/\nsub/b.txt\nsub/deeper/\n');
    const long = ok(await cli(['ls', '-l', '/ls'])).stdout.toString().split('\n');
    expect(long[0]).toMatch(/^file +3 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}a\.txt$/);
    expect(long[1]).toMatch(/^dir +- {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}sub\/$/);
    const longR = ok(await cli(['ls', '-l', '-R', '/ls'])).stdout.toString();
    expect(longR).toMatch(/^file +5 {2}\S+ \S+ {2}sub\/b\.txt$/m);
    const json = ok(await cli(['ls', '--json', '/ls'])).stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.map((e) => Object.keys(e))).toEqual([['name', 'path', 'type', 'size', 'mtime'], ['name', 'path', 'type', 'size', 'mtime']]);
    expect(json[0]).toMatchObject({ name: 'a.txt', path: '/ls/a.txt', type: 'file', size: 3 });
    expect(json[1]).toMatchObject({ name: 'sub', path: '/ls/sub', type: 'dir' });
    expect(typeof json[0]!.mtime).toBe('number');
    const jsonR = ok(await cli(['ls', '-R', '--json', '/ls'])).stdout.toString().trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path);
    expect(jsonR).toEqual(['/ls/a.txt', '/ls/sub', '/ls/sub/b.txt', '/ls/sub/deeper']);
    expect(ok(await cli(['ls', '/ls/a.txt'])).stdout.toString()).toBe('a.txt\n');
    expect(ok(await cli(['ls', '/ls/sub/deeper'])).stdout.toString()).toBe('');
    expect(ok(await cli(['ls'])).stdout.toString()).toContain('ls/\n');
    failureLine(await cli(['ls', '/ls/nope']), 'NotFound');
  });

  it('stat: human form and the exact --json object, for files and directories', async () => {
    ok(await cli(['put', '-', '/st/f.bin'], { input: patternBytes(C + 10, 3) }));
    const human = ok(await cli(['stat', '/st/f.bin'])).stdout.toString();
    expect(human).toMatch(/^path: +\/st\/f\.bin$/m);
    expect(human).toMatch(/^type: +file$/m);
    expect(human).toMatch(/^size: +65546 \(64\.0 KiB\)$/m);
    expect(human).toMatch(/^chunks: +2$/m);
    const dir = JSON.parse(ok(await cli(['stat', '--json', '/st'])).stdout.toString()) as StatJson;
    expect(dir).toMatchObject({ path: '/st', type: 'dir', chunks: [] });
    expect(Object.keys(dir)).toEqual(['path', 'type', 'size', 'mtime', 'etag', 'crc32c', 'chunks']);
    expect(ok(await cli(['stat', '/st'])).stdout.toString()).toMatch(/^type: +dir$/m);
    failureLine(await cli(['stat', '/st/nope']), 'NotFound');
    failureLine(await cli(['stat', '--json', '/st/nope']), 'NotFound');
  });

  it('mkdir [-p], rm [-r] and mv, with their error paths', async () => {
    failureLine(await cli(['mkdir', '/m/x']), 'NotFound');
    ok(await cli(['mkdir', '-p', '/m/x/y']));
    failureLine(await cli(['mkdir', '/m/x']), 'AlreadyExists');
    ok(await cli(['mkdir', '--parents', '/m/x']));
    ok(await cli(['mkdir', '/m/z']));
    ok(await cli(['put', '-', '/m/x/y/f'], { input: 'data' }));
    failureLine(await cli(['mkdir', '-p', '/m/x/y/f/g']), 'NotADirectory');
    failureLine(await cli(['rm', '/m/x']), 'NotEmpty');
    ok(await cli(['rm', '-r', '/m/x']));
    ok(await cli(['rm', '/m/z']));
    expect(ok(await cli(['ls', '/m'])).stdout.toString()).toBe('');
    failureLine(await cli(['rm', '/m/x']), 'NotFound');
    failureLine(await cli(['rm', '-r', '/m/x']), 'NotFound');
    failureLine(await cli(['rm', '-r', '/']), 'InvalidArgument');

    ok(await cli(['put', '-', '/mv/a'], { input: 'moving' }));
    ok(await cli(['mv', '/mv/a', '/mv/b']));
    expect(ok(await cli(['cat', '/mv/b'])).stdout.toString()).toBe('moving');
    failureLine(await cli(['cat', '/mv/a']), 'NotFound');
    ok(await cli(['mkdir', '/mv/d']));
    ok(await cli(['mv', '/mv/b', '/mv/d']));
    expect(ok(await cli(['ls', '/mv/d'])).stdout.toString()).toBe('b\n');
    ok(await cli(['mv', '/mv/d', '/mv/e']));
    expect(ok(await cli(['ls', '-R', '/mv'])).stdout.toString()).toBe('e/\ne/b\n');
    ok(await cli(['mkdir', '/mv/f']));
    ok(await cli(['mv', '/mv/e', '/mv/f/']));
    expect(ok(await cli(['ls', '-R', '/mv'])).stdout.toString()).toBe('f/\nf/e/\nf/e/b\n');
    failureLine(await cli(['mv', '/mv/missing', '/mv/z']), 'NotFound');
    failureLine(await cli(['mv', '/mv/f/e/b', '/mv/nodir/']), 'NotFound');
  });

  it('status: the contract keys first in --json (then the detail keys) and a human table', async () => {
    const s = JSON.parse(ok(await cli(['status', '--json'])).stdout.toString()) as {
      health: string;
      leader: string;
      meta: Array<Record<string, unknown>>;
      chunkServers: Array<Record<string, unknown>>;
      chunks: Record<string, unknown>;
    };
    // CONTRACT's keys in its order; extra detail follows in further keys (the contract allows them).
    expect(Object.keys(s)).toEqual(['health', 'leader', 'meta', 'chunkServers', 'chunks', 'raft', 'metaDetail', 'chunkServerDetail', 'totals', 'repair']);
    expect(['healthy', 'degraded']).toContain(s.health);
    expect(s.meta.map((m) => Object.keys(m))).toEqual(Array(3).fill(['id', 'addr', 'role']));
    expect(s.meta.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([s.leader]);
    expect(s.chunkServers.map((c) => Object.keys(c))).toEqual(Array(4).fill(['id', 'addr', 'state', 'used', 'capacity', 'chunks']));
    expect(s.chunkServers.map((c) => c.state)).toEqual(['alive', 'alive', 'alive', 'alive']);
    expect(Object.keys(s.chunks)).toEqual(['total', 'underReplicated', 'lost']);
    const human = ok(await cli(['status'])).stdout.toString();
    expect(human.split('\n')[0]).toMatch(/^(HEALTHY|DEGRADED)$/);
    expect(human).toContain(`leader: ${s.leader}`);
    expect(human).toMatch(/^ {2}c1 +127\.0\.0\.1:\d+ +alive /m);
    expect(human).toMatch(/^Chunks: \d+ total, \d+ under-replicated, \d+ lost$/m);
  });

  it('refuses bad remote paths on the client side with InvalidPath (before finding any cluster)', async () => {
    const nowhere = join(root, 'nowhere');
    mkdirSync(nowhere);
    // Every command with one bad path, and every kind of bad path with some command.
    const commands = (p: string) => [['ls', p], ['stat', p], ['cat', p], ['rm', p], ['mkdir', p], ['get', p, '-'], ['put', '-', p], ['mv', p, '/ok'], ['mv', '/ok', p]];
    const bad = ['/a/../b', '/a/./b', '/a//b', '/a/b//', '/tab\there', '/nul\u0001x', '.', '/del\u007f'];
    const runs = [...commands('relative/path'), ...bad.map((p, i) => commands(p)[i % 9]!)];
    const results = await Promise.all(runs.map((args) => runCli(args, { cwd: nowhere })));
    results.forEach((r) => failureLine(r, 'InvalidPath'));
  });

  it('get: a missing file fails and creates nothing; a failed get leaves no partial file and keeps the old DST', async () => {
    const dir = join(root, 'get-target');
    mkdirSync(dir);
    failureLine(await cli(['get', '/nope', join(dir, 'out')]), 'NotFound');
    failureLine(await cli(['get', '/ls', join(dir, 'out')]), 'IsADirectory');
    failureLine(await cli(['get', '/sizes/f-1', join(root, 'no-such-dir', 'x')]), 'NotFound');
    expect(readdirSync(dir)).toEqual([]);
    // Into an existing local directory: DST/<name>.
    ok(await cli(['get', '/sizes/f-1', dir]));
    expect(readdirSync(dir)).toEqual(['f-1']);
    // A get -f that fails half-way (the local file may not grow past 128 KiB: EFBIG) leaves the
    // old DST as it was and no temporary file.
    writeFileSync(join(dir, 'big'), 'old');
    const r = spawnSync('sh', ['-c', `ulimit -f 128 && exec "${process.execPath}" "${CLI_PATH}" get -f /sizes/f-${5 * C + 1234} "${join(dir, 'big')}"`], { env: cliEnv(env), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toBe('cairn: TooLarge: local file too large\n');
    expect(readdirSync(dir).sort()).toEqual(['big', 'f-1']);
    expect(readFileSync(join(dir, 'big'), 'utf8')).toBe('old');
  });

  it('Ctrl-C: an interrupted put leaves no file, an interrupted get leaves no partial file', async () => {
    const interrupt = (args: string[], ready: (child: ChildProcess) => Promise<void>) =>
      new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI_PATH, ...args], { env: cliEnv(env), stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
        ready(child).then(() => child.kill('SIGINT'), reject);
      });
    // put from a stdin that stays open: some chunks are stored, the file is never committed.
    const put = await interrupt(['put', '-', '/sigint/never'], async (child) => {
      // 2 MiB: far more than the stdio socket pair buffers (a few hundred KiB), so 'drain' means
      // the CLI is running and reading (its signal handlers are installed before it reads),
      // however slowly the machine starts it.
      if (!child.stdin!.write(patternBytes(32 * C, 6))) await once(child.stdin!, 'drain');
      await sleep(500);
    });
    expect(put).toEqual({ code: 130, stderr: '' });
    failureLine(await cli(['stat', '/sigint/never']), 'NotFound');
    // get while every chunk server is frozen (SIGSTOP): the temp file exists, no bytes arrive.
    const dir = join(root, 'sigint');
    mkdirSync(dir);
    const pids = cluster.chunks.map((m) => m.proc.pid!);
    const get = await interrupt(['get', `/sizes/f-${5 * C + 1234}`, join(dir, 'x')], async () => {
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      const deadline = systemClock.nowMs() + 10_000;
      while (readdirSync(dir).length === 0 && systemClock.nowMs() < deadline) await sleep(20);
      expect(readdirSync(dir)[0]).toMatch(/^\.x\.cairn-\d+\.part$/);
    }).finally(() => {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    });
    expect(get).toEqual({ code: 130, stderr: '' });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a reader closing stdout early makes cat and get - exit quietly (EPIPE)', async () => {
    ok(await cli(['put', '-', '/pipe/big'], { input: patternBytes(40 * C, 8) }));
    for (const args of [['cat', '/pipe/big'], ['get', '/pipe/big', '-']]) {
      const r = await new Promise<{ code: number | null; stderr: string; got: number }>((resolve) => {
        const child = spawn(process.execPath, [CLI_PATH, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        let got = 0;
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.stdout.once('data', (b: Buffer) => {
          got = b.length;
          child.stdout.destroy();
        });
        child.on('close', (code) => resolve({ code, stderr, got }));
      });
      expect(r.got).toBeGreaterThan(0);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(141);
    }
  });

  it('shows a progress bar on a terminal only', async () => {
    const src = join(local, 'progress.bin');
    writeFileSync(src, patternBytes(3 * C, 4));
    // Not a terminal: silence (ok() checks that stderr is empty).
    ok(await cli(['put', src, '/progress/quiet.bin']));
    // A pseudo-terminal (util-linux `script`): the bar is drawn on stderr.
    const cmd = `"${process.execPath}" "${CLI_PATH}" put "${src}" /progress/tty.bin && "${process.execPath}" "${CLI_PATH}" get /progress/tty.bin "${join(local, 'progress.back')}"`;
    const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { env: cliEnv(env), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/put …?[a-z/]*tty\.bin \[.*\] 100%/);
    expect(r.stdout).toMatch(/get …?[a-z/]*tty\.bin \[.*\] 100%/);
    expect(readFileSync(join(local, 'progress.back')).equals(readFileSync(src))).toBe(true);
    expect(existsSync(join(local, 'progress.back'))).toBe(true);
  });
});

/**
 * `cairn backup` and `cairn restore` with the built CLI: files put into a real cluster, a
 * backup taken, the whole cluster stopped; a NEW metadata group (other ids' addresses, other
 * ports, data dirs seeded by restore) started with the old chunk servers' data dirs, and every
 * file reads back byte-exact. A corrupted or truncated backup is refused with one line and
 * leaves no directory behind. `restore -` reads the backup from stdin (one of the new group's
 * dirs is seeded that way), with the same checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, failureLine, ok, patternBytes, runCli } from './cli-harness.js';

const C = 65536;

/** argv with the value after `flag` replaced (the flag must be there). */
function withFlag(argv: string[], flag: string, value: string): string[] {
  const i = argv.indexOf(flag);
  if (i < 0) throw new Error(`${flag} missing from ${argv.join(' ')}`);
  return [...argv.slice(0, i + 1), value, ...argv.slice(i + 2)];
}

/** argv without `flag` and its value. */
function withoutFlag(argv: string[], flag: string): string[] {
  const i = argv.indexOf(flag);
  return i < 0 ? argv : [...argv.slice(0, i), ...argv.slice(i + 2)];
}

describe('cairn backup and restore', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-backup-'));
  const procs: ChildProcess[] = [];
  let cluster: DevCluster | undefined;

  afterAll(async () => {
    await cluster?.stop();
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      }),
    );
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('a new metadata group restored from a backup serves every file byte-exact from the old chunk servers; a corrupted backup is refused', async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir: join(root, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: C, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(45_000);
    const env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
    const files = new Map<string, Buffer>();
    for (const [i, n] of [0, 1, C, 3 * C + 17, 20_000].entries()) files.set(`/data/d${i % 2}/f${i}`, patternBytes(n, i + 7));
    for (const [path, data] of files) {
      const src = join(root, `src-${files.size}-${data.length}`);
      writeFileSync(src, data);
      ok(await runCli(['put', src, path], { env }));
    }
    ok(await runCli(['mkdir', '/empty-dir'], { env }));
    ok(await runCli(['mv', '/data/d1/f1', '/data/d1/moved'], { env }));
    files.set('/data/d1/moved', files.get('/data/d1/f1')!);
    files.delete('/data/d1/f1');

    const backup = join(root, 'meta.cbk');
    const made = ok(await runCli(['backup', backup], { env })).stdout.toString();
    expect(made).toMatch(/^backup of cluster [0-9a-f]{16} at index \d+ \(term \d+\): \d+ bytes in /);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    failureLine(await runCli(['backup', backup], { env }), 'AlreadyExists');

    // One flipped byte anywhere, or a cut, and restore refuses before writing anything.
    const bytes = readFileSync(backup);
    for (const [name, bad] of [
      ['flipped', Buffer.from(bytes).fill(bytes[bytes.length >> 1]! ^ 0x5a, bytes.length >> 1, (bytes.length >> 1) + 1)],
      ['truncated', bytes.subarray(0, bytes.length - 40)],
      ['trailing', Buffer.concat([bytes, Buffer.of(0)])],
    ] as const) {
      const f = join(root, `${name}.cbk`);
      writeFileSync(f, bad);
      const line = failureLine(await runCli(['restore', f, '--dir', join(root, `bad-${name}`)]), 'Corrupt');
      expect(line).toMatch(/backup file is corrupt/);
      expect(existsSync(join(root, `bad-${name}`))).toBe(false);
      // The same through stdin (`restore -`).
      expect(failureLine(await runCli(['restore', '-', '--dir', join(root, `bad-stdin-${name}`)], { input: bad }), 'Corrupt')).toMatch(/backup file is corrupt/);
      expect(existsSync(join(root, `bad-stdin-${name}`))).toBe(false);
    }

    const json = cluster.clusterJson();
    await cluster.stop();
    cluster = undefined;

    // The new group: other ports, dirs seeded by restore (ids m1..m3 are the backed-up group's).
    const newBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    const ids = ['m1', 'm2', 'm3'];
    const addrs = ids.map((_, i) => `127.0.0.1:${newBase + 1 + i}`);
    const dirs = ids.map((id) => join(root, 'restored', id));
    // Two dirs from the file, the third from stdin (`restore -`): the group needs all three alike.
    const restored = ok(await runCli(['restore', backup, ...dirs.slice(0, 2).flatMap((d) => ['--dir', d])])).stdout.toString();
    expect(restored).toMatch(/^restored cluster [0-9a-f]{16} at index \d+ \(term \d+\) into .* for members m1,m2,m3\n$/);
    const fromStdin = ok(await runCli(['restore', '-', '--dir', dirs[2]!], { input: bytes })).stdout.toString();
    expect(fromStdin).toBe(restored.replace(/ into .* for /, ` into ${dirs[2]!} for `));
    failureLine(await runCli(['restore', backup, '--dir', dirs[0]!]), 'AlreadyExists');
    failureLine(await runCli(['restore', backup]), 'InvalidArgument');
    const peers = ids.map((id, i) => `${id}=${addrs[i]}`).join(',');
    for (const [i, m] of json.meta.entries()) {
      let argv = withFlag(withFlag(withFlag(m.argv, '--listen', addrs[i]!), '--peers', peers), '--dir', dirs[i]!);
      argv = withoutFlag(argv, '--metrics-listen');
      procs.push(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
    }
    for (const c of json.chunks) {
      const argv = withoutFlag(withFlag(c.argv, '--meta', addrs.join(',')), '--metrics-listen');
      procs.push(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
    }

    const newEnv = { CAIRN_META: addrs.join(','), CAIRN_TOKEN: json.token ?? '' };
    const deadline = systemClock.nowMs() + 45_000;
    for (const [path, data] of files) {
      const out = join(root, 'back');
      for (;;) {
        const r = await runCli(['get', '-f', path, out], { env: newEnv });
        if (r.code === 0) break;
        if (systemClock.nowMs() > deadline) throw new Error(`${path} not readable from the restored cluster: ${r.stderr}`);
        await sleep(300);
      }
      expect(readFileSync(out).equals(data), path).toBe(true);
    }
    const listing = ok(await runCli(['ls', '-R', '/'], { env: newEnv })).stdout.toString().split('\n').filter(Boolean).sort();
    expect(listing).toEqual(['data/', 'data/d0/', 'data/d0/f0', 'data/d0/f2', 'data/d0/f4', 'data/d1/', 'data/d1/f3', 'data/d1/moved', 'empty-dir/'].sort());
    // The restored group takes writes.
    const more = join(root, 'more');
    copyFileSync(join(root, 'back'), more);
    ok(await runCli(['put', more, '/after-restore'], { env: newEnv }));
  }, 150_000);
});

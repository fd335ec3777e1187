/**
 * `cairn scrub` with real processes (DevCluster: 3 metadata, 4 chunk servers, R = 3, 64 KiB
 * chunks, the background scrubber at its defaults — a 14-day period — so only the scrub under test
 * finds anything), one scenario after another on the same data:
 *   20 replicas corrupted on disk across the servers and one replica file deleted → `cairn scrub
 *   --json` reports every replica checked, 20 corrupt, 1 missing, 21 repaired, and afterwards
 *   every file reads back byte-exact with 3 verified replicas of every chunk;
 *   `--server c2` checks only c2's replicas (a corrupt one on c1 stays unseen);
 *   kill -9 of a chunk server, a replica corrupted while it is down, restart → the background
 *   scrubber finds it at once, without any read (no clean-shutdown marker); after a clean stop
 *   (SIGTERM) the same does not happen — the scrubber resumes its schedule;
 *   a throttled scrub (--bytes-per-sec) during which a server is killed fails with one clear line.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, failureLine, ok, patternBytes, runCli } from './cli-harness.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;
const FILES = 12;
const FILE_BYTES = 4 * CHUNK + 1000; // 5 chunks each: 60 chunks, 180 replicas
const SERVERS = ['c1', 'c2', 'c3', 'c4'];

describe('cairn scrub', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-scrub-'));
  let cluster: DevCluster;
  let client: CairnClient;
  const data = new Map<string, Buffer>();

  const serverDir = (id: string): string => join(dir, 'chunks', id);
  const replicaPath = (server: string, chunk: string): string => join(serverDir(server), 'chunks', chunk.slice(0, 2), chunk);
  /** Chunk ids stored on a server's disk. */
  const replicasOn = (server: string): string[] => {
    const root = join(serverDir(server), 'chunks');
    return readdirSync(root).flatMap((p) => readdirSync(join(root, p)));
  };
  const flip = (file: string): Buffer => {
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 100);
    for (let i = 0; i < b.length; i++) b[i] = b[i]! ^ 0xff;
    writeSync(fd, b, 0, 16, 100);
    closeSync(fd);
    return b;
  };
  const bytesAt100 = (file: string): Buffer => {
    const fd = openSync(file, 'r');
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 100);
    closeSync(fd);
    return b;
  };
  const cli = (args: string[]) => runCli([...args, '--meta', cluster.metaAddrs.join(','), '--token', cluster.token], { timeoutMs: 120_000 });
  const whole = async (): Promise<boolean> => {
    for (const p of data.keys()) for (const c of (await client.stat(p)).chunks) if (c.replicas.length !== 3) return false;
    const st = await client.status();
    return st.chunks.underReplicated === 0 && st.chunks.lost === 0;
  };
  const readBack = async (): Promise<void> => {
    for (const [p, want] of data) {
      const o = await client.open(p);
      const parts: Buffer[] = [];
      for await (const b of o.stream as AsyncIterable<Buffer>) parts.push(b);
      expect(Buffer.concat(parts).equals(want), p).toBe(true);
    }
  };
  const logOf = (id: string): string => readFileSync(join(dir, 'logs', `${id}.log`), 'utf8');

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, heartbeatMs: 200, repairBytesPerSec: 0, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
    for (let i = 0; i < FILES; i++) {
      const bytes = patternBytes(FILE_BYTES, i + 1);
      data.set(`/scrub/f${i}`, bytes);
      await client.put(`/scrub/f${i}`, [bytes]);
    }
    await until('every chunk at 3 replicas', 30_000, whole);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('finds 20 corrupt replicas and a missing one across the servers, and has all of them repaired', async () => {
    // 20 distinct chunks, one damaged replica each, spread over the servers; a 21st chunk loses a replica file.
    const chosen = new Set<string>();
    const onDisk = new Map(SERVERS.map((s) => [s, replicasOn(s)]));
    const corrupted: Array<{ file: string; bad: Buffer }> = [];
    for (let i = 0; corrupted.length < 20; i++) {
      const s = SERVERS[i % SERVERS.length]!;
      const id = onDisk.get(s)!.find((c) => !chosen.has(c))!;
      chosen.add(id);
      corrupted.push({ file: replicaPath(s, id), bad: flip(replicaPath(s, id)) });
    }
    const missingId = onDisk.get('c3')!.find((c) => !chosen.has(c))!;
    unlinkSync(replicaPath('c3', missingId));
    const stored = SERVERS.reduce((n, s) => n + replicasOn(s).length, 0);
    expect(stored).toBe(3 * FILES * 5 - 1);

    const r = ok(await cli(['scrub', '--json']));
    expect(JSON.parse(r.stdout.toString())).toEqual({ checked: stored, corrupt: 20, missing: 1, repaired: 21 });
    // Repaired before the command returned: full replica counts now, no corrupt bytes left, the missing file back.
    expect(await whole()).toBe(true);
    for (const { file, bad } of corrupted) expect(!existsSync(file) || !bytesAt100(file).equals(bad), file).toBe(true);
    expect(existsSync(replicaPath('c3', missingId))).toBe(true);
    await readBack();
    // The text form names every server.
    const text = ok(await cli(['scrub'])).stdout.toString();
    expect(text).toMatch(/^Scrub \S+: \d+ replicas checked on 4 servers: 0 corrupt, 0 missing; 0 repaired\n/);
    for (const s of SERVERS) expect(text).toMatch(new RegExp(`^  ${s} +done `, 'm'));
  }, 180_000);

  it('--server checks only that server', async () => {
    const c1Bad = replicasOn('c1')[0]!;
    const c2Bad = replicasOn('c2').find((c) => c !== c1Bad)!;
    const c1Flipped = flip(replicaPath('c1', c1Bad));
    flip(replicaPath('c2', c2Bad));
    const c2Stored = replicasOn('c2').length;
    const r = ok(await cli(['scrub', '--server', 'c2', '--json']));
    expect(JSON.parse(r.stdout.toString())).toEqual({ checked: c2Stored, corrupt: 1, missing: 0, repaired: 1 });
    expect((await client.scrubStatus()).servers.map((s) => s.id)).toEqual(['c2']);
    // c1 was not verified: its damaged replica is still there as it was.
    expect(bytesAt100(replicaPath('c1', c1Bad)).equals(c1Flipped)).toBe(true);
    const all = JSON.parse(ok(await cli(['scrub', '--json'])).stdout.toString()) as Record<string, number>;
    expect(all).toMatchObject({ corrupt: 1, missing: 0, repaired: 1 });
    expect(await whole()).toBe(true);
    await readBack();
  }, 180_000);

  it('after kill -9 the restarted server re-verifies its replicas first; after a clean stop it does not', async () => {
    const alive = async (id: string): Promise<boolean> => (await client.status()).chunkServers.find((c) => c.id === id)?.state === 'alive';
    // Unclean: kill -9, damage a replica while the server is down, restart.
    const c3 = cluster.member('c3').proc;
    await c3.kill('SIGKILL');
    const crashed = replicasOn('c3').find((c) => !logOf('c3').includes(c))!;
    flip(replicaPath('c3', crashed));
    c3.start();
    // Found by the scrubber (logged and deleted) without any read of it.
    await until('the damaged replica found by c3 after its restart', 30_000, async () => logOf('c3').includes('corrupt replica found') && logOf('c3').includes(crashed));
    await until('c3 alive and every chunk whole again', 60_000, async () => (await alive('c3')) && (await whole()));

    // Clean: SIGTERM, damage a replica, restart: the scrubber resumes its 14-day schedule.
    const c4 = cluster.member('c4').proc;
    await c4.kill('SIGTERM');
    expect(existsSync(join(serverDir('c4'), 'clean-shutdown'))).toBe(true);
    const stopped = replicasOn('c4').find((c) => !logOf('c4').includes(c))!;
    const bad = flip(replicaPath('c4', stopped));
    c4.start();
    await until('c4 alive again', 30_000, () => alive('c4'));
    await sleep(3000);
    expect(bytesAt100(replicaPath('c4', stopped)).equals(bad)).toBe(true);
    expect(logOf('c4').includes(stopped)).toBe(false);
    const r = JSON.parse(ok(await cli(['scrub', '--server', 'c4', '--json'])).stdout.toString()) as Record<string, number>;
    expect(r).toMatchObject({ corrupt: 1, missing: 0, repaired: 1 });
    await readBack();
  }, 180_000);

  it('a server dying during a throttled scrub fails the command with one clear line', async () => {
    const run = cli(['scrub', '--json', '--bytes-per-sec', String(64 * 1024)]); // about a second per replica
    await until('the round running on every server', 20_000, async () => {
      const s = await client.scrubStatus().catch(() => null);
      return s?.state === 'running' && s.servers.every((x) => x.state === 'scrubbing');
    });
    // `cairn status` shows the round while it runs.
    expect(ok(await cli(['status'])).stdout.toString()).toMatch(/^Scrub running: \d+ of \d+ replicas checked, 0 corrupt, 0 missing, 0 repaired$/m);
    await cluster.member('c1').proc.kill('SIGKILL');
    const r = await run;
    expect(r.stdout.toString()).toBe('');
    expect(failureLine(r, 'Unavailable')).toMatch(/^cairn: Unavailable: scrub round \S+ failed: chunk server c1 stopped answering during the scrub$/);
    // The other servers were told to stop at their next report.
    const st = await client.scrubStatus();
    expect(st.state).toBe('failed');
    expect(st.checked).toBeLessThan(100);
  }, 120_000);
});

/**
 * Security probe 5 (issue 17): an fs.bad from a client naming all three replicas of a chunk, with
 * no read done, made `stat` show no replicas and `status` "1 lost" until the next leader change.
 * A report is now a hint: the leader asks the named server to re-verify its replica and counts it
 * bad only when that server finds it corrupt or missing. Real processes (DevCluster, 3 metadata,
 * 4 chunk servers, R = 3, the background scrubber at its 14-day period so only the check under
 * test can find anything):
 *   fs.bad for all three replicas of a good chunk, repeated → stat keeps the 3 replicas, status
 *   never counts the chunk lost or under-replicated, the holders verified the replicas;
 *   a replica really corrupted on disk, then reported → its server finds it corrupt, deletes it,
 *   and the chunk is repaired to 3 verified replicas with its bytes intact.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import type { MetaSession } from '../../src/client/meta-session.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { patternBytes } from './cli-harness.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;

describe('fs.bad reports against a running cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sec-bad-'));
  let cluster: DevCluster;
  let client: CairnClient;
  let s: MetaSession;
  const data = patternBytes(2 * CHUNK + 100, 5);

  const replicaPath = (server: string, chunk: string): string => join(dir, 'chunks', server, 'chunks', chunk.slice(0, 2), chunk);
  const logOf = (id: string): string => readFileSync(join(dir, 'logs', `${id}.log`), 'utf8');
  const readBack = async (path: string): Promise<Buffer> => {
    const o = await client.open(path);
    const parts: Buffer[] = [];
    for await (const b of o.stream as AsyncIterable<Buffer>) parts.push(b);
    return Buffer.concat(parts);
  };

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, heartbeatMs: 200, repairBytesPerSec: 0, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
    s = cluster.session({ callTimeoutMs: 2000, retryDeadlineMs: 15_000 });
    await client.put('/bad/good', [data]);
    await client.put('/bad/corrupt', [data]);
    await until('both files at 3 replicas', 30_000, async () => {
      for (const p of ['/bad/good', '/bad/corrupt']) for (const c of (await client.stat(p)).chunks) if (c.replicas.length !== 3) return false;
      return true;
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    s?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a report of all three good replicas, with no read, changes nothing the cluster shows', async () => {
    const before = await client.stat('/bad/good');
    const chunk = before.chunks[0]!;
    expect(chunk.replicas).toHaveLength(3);
    // The probe, sent five times over for every replica.
    for (let i = 0; i < 5; i++) for (const server of chunk.replicas) expect(await s.call('fs.bad', { id: chunk.id, server })).toEqual({});
    // For the next 3 s (many heartbeats, so every verify ran): stat keeps all three, status never counts it lost.
    const until3s = systemClock.nowMs() + 3000;
    while (systemClock.nowMs() < until3s) {
      expect((await client.stat('/bad/good')).chunks[0]!.replicas.slice().sort()).toEqual(chunk.replicas.slice().sort());
      const st = await client.status();
      expect(st.chunks).toMatchObject({ lost: 0, underReplicated: 0 });
      await sleep(100);
    }
    // The holders were asked and found nothing wrong: no replica was deleted.
    for (const server of chunk.replicas) expect(logOf(server)).not.toMatch(/replica reported bad is (corrupt|missing)/);
    expect(logOf(cluster.meta.map((m) => m.id).find((id) => /asking its server to verify/.test(logOf(id)))!)).toContain(chunk.id);
    expect((await readBack('/bad/good')).equals(data)).toBe(true);
  }, 60_000);

  it('a replica really corrupted on disk and reported is found corrupt by its server and repaired', async () => {
    const chunk = (await client.stat('/bad/corrupt')).chunks[1]!;
    const victim = chunk.replicas[0]!;
    const file = replicaPath(victim, chunk.id);
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 100);
    for (let i = 0; i < b.length; i++) b[i] = b[i]! ^ 0xff;
    writeSync(fd, b, 0, 16, 100);
    closeSync(fd);
    expect(await s.call('fs.bad', { id: chunk.id, server: victim })).toEqual({});
    await until('the corrupt replica found by its server', 15_000, async () => /replica reported bad is corrupt/.test(logOf(victim)));
    await until('the chunk back at 3 verified replicas', 30_000, async () => {
      const st = await client.status();
      return (await client.stat('/bad/corrupt')).chunks[1]!.replicas.length === 3 && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    });
    expect((await readBack('/bad/corrupt')).equals(data)).toBe(true);
  }, 60_000);
});

/**
 * The write path without a placement round trip, against real processes (3 metadata + 4 chunk
 * servers, replication 3): one fs.view serves every file, each chunk lands on the servers the
 * ring names, and a ring change between a client's view and its commit (a drained server) is
 * answered StaleRing, after which the client refreshes its view and commits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { Ring, ringLayoutFromValue, writeTargets } from '../../src/placement/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';

const CHUNK = 64 * 1024;

function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('client-side placement with real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-placement-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, deadAfterSec: 30, heartbeatMs: 200, inlineBytesMax: 0 });
    cluster.start();
    await cluster.waitReady(30_000);
    client = createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }), { callTimeoutMs: 3000, inlineBytesMax: 0 });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  async function raw(method: string, body: Record<string, unknown>): Promise<unknown> {
    const s = cluster.session();
    try {
      return await s.call(method, body, { idempotent: true });
    } finally {
      s.close();
    }
  }

  /** Wait until the leader knows `n` replicas of every chunk of `path`; their ids by chunk. */
  async function replicasOf(path: string, n: number): Promise<Array<{ id: string; replicas: string[] }>> {
    for (let i = 0; i < 200; i++) {
      const st = await client.stat(path);
      if (st.chunks.every((c) => c.replicas.length >= n)) return st.chunks;
      await sleep(50);
    }
    throw new Error(`${path} not reported`);
  }

  it('one placement view for many files, chunks on the ring targets; a drained server bounces the next commit once (StaleRing)', async () => {
    const data = bytesOf(3 * CHUNK + 11, 1);
    for (const p of ['/a', '/b', '/c']) await client.put(p, Readable.from([data]));
    expect(client.counters).toMatchObject({ viewFetches: 1, staleRingCommits: 0, retargets: 0 });
    const view = (await raw('fs.view', {})) as { ringVersion: number; ring: unknown[] };
    const ring = Ring.build(ringLayoutFromValue(view.ring));
    for (const c of await replicasOf('/b', 3)) expect(c.replicas.sort()).toEqual(writeTargets(ring, c.id, 3, () => true).sort());
    // The ring moves on (a server starts draining) while the client still holds its view.
    const drained = ring.servers[0]!.id;
    await raw('cluster.drain', { id: drained });
    const more = bytesOf(2 * CHUNK, 2);
    await client.put('/after-drain', Readable.from([more]));
    expect(client.counters.staleRingCommits).toBe(1);
    expect(client.counters.viewFetches).toBe(2);
    expect((await readAll(client.createReadStream('/after-drain'))).equals(more)).toBe(true);
    // Placed with the new view from now on: no bounce, and the draining server takes no new chunk.
    await client.put('/next', Readable.from([more]));
    expect(client.counters.staleRingCommits).toBe(1);
    for (const c of await replicasOf('/next', 3)) expect(c.replicas).not.toContain(drained);
    expect((await readAll(client.createReadStream('/b'))).equals(data)).toBe(true);
  });
});

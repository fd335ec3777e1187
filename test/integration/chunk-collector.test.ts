/**
 * A chunk server process runs V8's collector set for bulk data (src/server/collector-tuning.ts):
 * receiving a large upload, which hands it a new Buffer per socket read, does not start a full
 * mark-compact every few MiB. Counted from the server's own metrics (prom-client's
 * `nodejs_gc_duration_seconds{kind="major"}`) around a 256 MiB put through a pipeline of two chunk
 * servers (the first stores and forwards, the second stores): with V8's default heuristics each
 * server ran 8–12 full collections, with the setting 0–1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';

const MIB = 1024 * 1024;
const CHUNK = 8 * MIB;
const PUT_MIB = 256;
/** Full collections allowed in the chunk server while it receives the put. */
const MAJOR_GCS_MAX = 3;

describe('a chunk server receiving a large upload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-collector-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 1, chunks: 2, replicas: 2, chunkSize: CHUNK, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(30_000);
    client = createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The chunk server's count of full (major) collections so far. */
  async function majorGcs(): Promise<number[]> {
    return Promise.all(cluster.clusterJson().chunks.map(async (c) => {
      const text = await (await fetch(c.metrics, { headers: { authorization: `Bearer ${cluster.token}` } })).text();
      const line = text.split('\n').find((l) => l.startsWith('cairn_chunk_nodejs_gc_duration_seconds_count{kind="major"}'));
      // A process that has not collected yet has no line for the kind.
      return line === undefined ? 0 : Number(line.split(' ').pop());
    }));
  }

  it(`stores ${PUT_MIB} MiB with at most ${MAJOR_GCS_MAX} full collections`, async () => {
    // A small file first: the server's code paths warm, its first collections behind it.
    await client.put('/warm.bin', Readable.from([Buffer.alloc(3 * MIB, 1)]));
    const before = await majorGcs();
    const piece = Buffer.alloc(MIB, 7);
    const put = await client.put('/big.bin', Readable.from((function* () {
      for (let i = 0; i < PUT_MIB; i++) yield piece;
    })()));
    expect(put.size).toBe(PUT_MIB * MIB);
    const majors = (await majorGcs()).map((n, i) => n - before[i]!);
    expect(Math.max(...majors), `full collections during the put: ${majors.join(', ')}`).toBeLessThanOrEqual(MAJOR_GCS_MAX);
  }, 60_000);
});

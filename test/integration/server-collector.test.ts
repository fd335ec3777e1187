/**
 * Cairn's server processes run V8's collector set for small heaps that data passes through
 * (src/server/collector-tuning.ts): receiving bytes, which hands them a new Buffer per socket read
 * or message, does not start a full mark-compact every few MiB. Counted from each server's own
 * metrics (prom-client's `nodejs_gc_duration_seconds{kind="major"}`):
 * - a 256 MiB put through a pipeline of two chunk servers (the first stores and forwards, the
 *   second stores): with V8's default heuristics each server ran 8–12 full collections, with the
 *   setting 0–1;
 * - 3,200 inline 64 KiB puts (200 MiB of Raft entries) into one metadata server: 39 with the
 *   defaults, 11 with the setting;
 * - a 256 MiB upload through the gateway: 9 with the defaults (5–6 for 128 MiB), 1 with the setting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, type ServerEntry } from '../../src/server/dev-cluster.js';

const MIB = 1024 * 1024;
const CHUNK = 8 * MIB;
const PUT_MIB = 256;
const INLINE_BYTES = 64 * 1024;
const INLINE_PUTS = 3200;
const GATEWAY_PUT_MIB = 256;
const INLINE_WRITERS = 16;
type Role = 'chunk' | 'meta' | 'gateway';

/** Full collections allowed in one server while it receives a load. */
const MAJOR_GCS_MAX = 3;
/** …in the metadata server during the inline puts. */
const META_MAJOR_GCS_MAX = 20;

describe('servers receiving data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-collector-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 1, chunks: 2, replicas: 2, chunkSize: CHUNK, inlineBytesMax: INLINE_BYTES, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(30_000);
    client = createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }));
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Each server's count of full (major) collections so far. */
  async function majorGcs(servers: ReadonlyArray<Pick<ServerEntry, 'metrics'>>, role: Role): Promise<number[]> {
    const series = `cairn_${role}_nodejs_gc_duration_seconds_count{kind="major"}`;
    return Promise.all(servers.map(async (s) => {
      const text = await (await fetch(s.metrics, { headers: { authorization: `Bearer ${cluster.token}` } })).text();
      const line = text.split('\n').find((l) => l.startsWith(series));
      // A process that has not collected yet has no line for the kind.
      return line === undefined ? 0 : Number(line.split(' ').pop());
    }));
  }

  /** The full collections `load` caused in each of `servers`. */
  async function majorGcsDuring(servers: ReadonlyArray<Pick<ServerEntry, 'metrics'>>, role: Role, load: () => Promise<void>): Promise<number[]> {
    const before = await majorGcs(servers, role);
    await load();
    return (await majorGcs(servers, role)).map((n, i) => n - before[i]!);
  }

  it(`chunk servers store ${PUT_MIB} MiB with at most ${MAJOR_GCS_MAX} full collections each`, async () => {
    // A small file first: the servers' code paths warm, their first collections behind them.
    await client.put('/warm.bin', Readable.from([Buffer.alloc(3 * MIB, 1)]));
    const piece = Buffer.alloc(MIB, 7);
    const majors = await majorGcsDuring(cluster.clusterJson().chunks, 'chunk', async () => {
      const put = await client.put('/big.bin', Readable.from((function* () {
        for (let i = 0; i < PUT_MIB; i++) yield piece;
      })()));
      expect(put.size).toBe(PUT_MIB * MIB);
    });
    expect(Math.max(...majors), `full collections during the put: ${majors.join(', ')}`).toBeLessThanOrEqual(MAJOR_GCS_MAX);
  }, 60_000);

  it(`a metadata server takes ${INLINE_PUTS} inline puts of ${INLINE_BYTES / 1024} KiB with at most ${META_MAJOR_GCS_MAX} full collections`, async () => {
    const body = Buffer.alloc(INLINE_BYTES, 3);
    await client.mkdir('/inline', { parents: true });
    await client.put('/inline/warm', [body]);
    let next = 0;
    const majors = await majorGcsDuring(cluster.clusterJson().meta, 'meta', async () => {
      await Promise.all(Array.from({ length: INLINE_WRITERS }, async () => {
        for (let i = next++; i < INLINE_PUTS; i = next++) await client.put(`/inline/f${i}`, [body]);
      }));
    });
    expect((await client.stat(`/inline/f${INLINE_PUTS - 1}`)).size).toBe(INLINE_BYTES);
    expect(Math.max(...majors), `full collections during the puts: ${majors.join(', ')}`).toBeLessThanOrEqual(META_MAJOR_GCS_MAX);
  }, 60_000);

  it(`the gateway takes a ${GATEWAY_PUT_MIB} MiB upload with at most ${MAJOR_GCS_MAX} full collections`, async () => {
    const gateway = cluster.clusterJson().gateway!;
    const put = (path: string, mib: number): Promise<Response> => {
      const piece = new Uint8Array(MIB).fill(5);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent++ < mib) c.enqueue(piece);
          else c.close();
        },
      });
      return fetch(`${gateway.url}/v1/files${path}`, { method: 'PUT', body, duplex: 'half', headers: { authorization: `Bearer ${cluster.token}` } } as RequestInit);
    };
    expect((await put('/gw-warm.bin', 3)).status).toBe(201);
    const majors = await majorGcsDuring([gateway], 'gateway', async () => {
      const res = await put('/gw.bin', GATEWAY_PUT_MIB);
      expect(res.status, await res.clone().text()).toBe(201);
    });
    expect(majors[0], `full collections during the upload: ${majors[0]}`).toBeLessThanOrEqual(MAJOR_GCS_MAX);
  }, 60_000);
});

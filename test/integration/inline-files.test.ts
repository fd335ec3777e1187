/**
 * Small files stored inline with their metadata, against real processes (3 metadata + 4 chunk
 * servers, 64 KiB chunks, inlining on): the CLI, the gateway (PUT, Range GET, HEAD, multipart)
 * and the library take the fast path with no flag; a batch of library puts survives kill -9 of
 * the metadata leader in its middle (every acknowledged file reads back byte-exact from the new
 * leader), and inline files stay readable with every chunk server killed (they live in Raft).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { inlineEtag } from '../../src/util/inline-etag.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, ok, patternBytes, runCli } from './cli-harness.js';

const CHUNK = 64 * 1024;
const INLINE_MAX = 64 * 1024;

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('inline small files with real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-inline-'));
  let cluster: DevCluster;
  let client: CairnClient;
  let env: Record<string, string> = {};
  const newClient = (): CairnClient => createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }), { callTimeoutMs: 2000 });

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, inlineBytesMax: INLINE_MAX, heartbeatMs: 200, deadAfterSec: 30 });
    cluster.start();
    await cluster.waitReady(40_000);
    client = newClient();
    env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('the CLI and the gateway store small files inline and serve them like any file', async () => {
    const small = patternBytes(3000, 1);
    ok(await runCli(['put', '-', '/cli/small'], { env, input: small }));
    expect(ok(await runCli(['cat', '/cli/small'], { env })).stdout.equals(small)).toBe(true);
    const st = JSON.parse(ok(await runCli(['stat', '--json', '/cli/small'], { env })).stdout.toString()) as { size: number; chunks: unknown[] };
    expect(st).toMatchObject({ size: 3000, chunks: [] });
    // A file over the threshold still goes to chunks.
    const big = patternBytes(INLINE_MAX + 1, 2);
    ok(await runCli(['put', '-', '/cli/big'], { env, input: big }));
    expect(((await client.stat('/cli/big')).chunks.length)).toBe(2);
    expect(ok(await runCli(['get', '/cli/big', '-'], { env })).stdout.equals(big)).toBe(true);

    const base = cluster.gatewayUrl!;
    const auth = { authorization: `Bearer ${cluster.token}` };
    const body = patternBytes(5000, 3);
    const put = await fetch(`${base}/v1/files/gw/a.bin`, { method: 'PUT', body, headers: auth });
    expect(put.status).toBe(201);
    expect(await put.json()).toEqual({ path: '/gw/a.bin', size: 5000, etag: inlineEtag(body) });
    expect((await client.stat('/gw/a.bin')).chunks).toEqual([]);
    const get = await fetch(`${base}/v1/files/gw/a.bin`, { headers: { ...auth, range: 'bytes=100-199' } });
    expect(get.status).toBe(206);
    expect(get.headers.get('content-range')).toBe('bytes 100-199/5000');
    expect(Buffer.from(await get.arrayBuffer()).equals(body.subarray(100, 200))).toBe(true);
    const head = await fetch(`${base}/v1/files/gw/a.bin`, { method: 'HEAD', headers: auth });
    expect(head.headers.get('etag')).toBe(`"${inlineEtag(body)}"`);
    expect(head.headers.get('content-length')).toBe('5000');
    const form = new FormData();
    for (let i = 0; i < 3; i++) form.append('file', new Blob([patternBytes(100 + i, 10 + i)]), `m${i}.bin`);
    const post = await fetch(`${base}/v1/files/gw/multi`, { method: 'POST', body: form, headers: auth });
    expect(post.status).toBe(201);
    for (let i = 0; i < 3; i++) {
      expect((await client.stat(`/gw/multi/m${i}.bin`)).chunks).toEqual([]);
      expect((await readAll(client.createReadStream(`/gw/multi/m${i}.bin`))).equals(patternBytes(100 + i, 10 + i))).toBe(true);
    }
    const ls = (await fetch(`${base}/v1/ls/gw/multi`, { headers: auth }).then((r) => r.json())) as { entries: Array<{ size: number }> };
    expect(ls.entries.map((e) => e.size)).toEqual([100, 101, 102]);
    expect(await client.repairStatus()).toMatchObject({ inlineFiles: 5, inlineBytes: 3000 + 5000 + 303 });
    expect(ok(await runCli(['status'], { env })).stdout.toString()).toMatch(/^Inline files: 5 \(.*\), stored with the metadata$/m);
    const json = JSON.parse(ok(await runCli(['status', '--json'], { env })).stdout.toString()) as Record<string, unknown>;
    // CONTRACT's keys first, in its order, then the detail keys (docs/operations.md).
    expect(Object.keys(json)).toEqual(['health', 'leader', 'meta', 'chunkServers', 'chunks', 'raft', 'metaDetail', 'chunkServerDetail', 'totals', 'repair']);
  }, 40_000);

  it('every acknowledged put of a batch survives kill -9 of the metadata leader, and needs no chunk server', async () => {
    const FILES = 240;
    const WORKERS = 16;
    const data = (i: number): Buffer => patternBytes(1 + ((i * 997) % 8192), 100 + i);
    const acked = new Set<number>();
    const writers = Array.from({ length: WORKERS }, () => newClient());
    const leader = (await client.status()).leader!;
    let next = 0;
    let killed = false;
    const t0 = systemClock.nowMs();
    await Promise.all(
      writers.map(async (w) => {
        for (let i = next++; i < FILES; i = next++) {
          if (i === FILES / 3 && !killed) {
            killed = true;
            await cluster.member(leader).proc.kill('SIGKILL');
          }
          try {
            await w.put(`/batch/f${i}`, [data(i)]);
            acked.add(i);
          } catch {
            // Not acknowledged: may or may not exist, never half.
          }
        }
      }),
    );
    for (const w of writers) w.close();
    expect(killed).toBe(true);
    expect(acked.size).toBeGreaterThan(FILES * 0.9); // the clients ride through the election
    expect(systemClock.nowMs() - t0).toBeLessThan(30_000);
    const reader = newClient();
    try {
      const st = await reader.status();
      expect(st.leader).not.toBeNull();
      expect(st.leader).not.toBe(leader);
      for (const i of acked) expect((await readAll(reader.createReadStream(`/batch/f${i}`))).equals(data(i)), `f${i}`).toBe(true);
      expect((await reader.repairStatus()).inlineFiles).toBeGreaterThanOrEqual(5 + acked.size);
      // With every chunk server gone, inline files are still whole (they live in Raft).
      await Promise.all(cluster.chunks.map((c) => c.proc.kill('SIGKILL')));
      await sleep(200);
      for (const i of [...acked].slice(0, 60)) expect((await readAll(reader.createReadStream(`/batch/f${i}`))).equals(data(i)), `f${i}`).toBe(true);
      expect((await readAll(reader.createReadStream('/gw/a.bin'))).equals(patternBytes(5000, 3))).toBe(true);
      // A new small put needs no chunk server either.
      const late = patternBytes(777, 9);
      await reader.put('/batch/late', [late]);
      expect((await readAll(reader.createReadStream('/batch/late'))).equals(late)).toBe(true);
    } finally {
      reader.close();
    }
  }, 50_000);
});

/**
 * The client library against a real cluster (3 metadata + 4 chunk server processes, replication
 * 3, 64 KiB chunks): byte-exact round trips at the chunk boundaries, ranges, overwrite vs
 * AlreadyExists, unknown-length sources, aborts, namespace calls, a chunk server killed with
 * SIGKILL in the middle of a put, reads with that replica down, a corrupted replica, and memory
 * that stays flat while 300 MB stream through.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, isCairnError, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;

/** Deterministic bytes: a cheap xorshift stream seeded per file. */
function bytesOf(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function* pieces(buf: Buffer, step: number, onYield?: (i: number) => Promise<void>): AsyncGenerator<Uint8Array> {
  for (let off = 0, i = 0; off < buf.length; off += step, i++) {
    if (onYield) await onYield(i);
    yield buf.subarray(off, off + step);
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('client library with real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-client-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, deadAfterSec: 30, heartbeatMs: 200 });
    cluster.start();
    await cluster.waitReady(30_000);
    client = createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }), { chunkIdleTimeoutMs: 5000, callTimeoutMs: 3000 });
  }, 60_000);

  /** The raw fs.open answer (which replica a reader tries first). */
  async function openRaw(path: string): Promise<{ chunks: Array<{ id: string; replicas: Array<{ id: string }> }> }> {
    const s = cluster.session();
    try {
      return (await s.call('fs.open', { path }, { idempotent: true })) as { chunks: Array<{ id: string; replicas: Array<{ id: string }> }> };
    } finally {
      s.close();
    }
  }

  /** Wait until the leader knows all 3 replicas of every chunk (chunk reports are asynchronous). */
  async function waitReplicated(path: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const st = await client.stat(path);
      if (st.chunks.every((c) => c.replicas.length === 3)) return;
      await sleep(50);
    }
    throw new Error(`${path} not fully reported`);
  }

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    // CAIRN_KEEP_TEST_DIR=1 keeps the servers' logs for a post-mortem.
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips sizes around the chunk boundaries byte-exact', async () => {
    const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 12_345];
    for (const [i, size] of sizes.entries()) {
      const data = bytesOf(size, i + 1);
      const path = `/rt/size-${size}.bin`;
      const put = await client.put(path, Readable.from([data]));
      expect(put).toMatchObject({ path, size });
      expect(put.etag).toMatch(/^[0-9a-f]{32}$/);
      const st = await client.stat(path);
      expect(st).toMatchObject({ path, type: 'file', size, etag: put.etag });
      expect(st.chunks.length).toBe(Math.ceil(size / CHUNK));
      expect(st.chunks.reduce((a, c) => a + c.size, 0)).toBe(size);
      const o = await client.open(path);
      expect(o).toMatchObject({ size, etag: put.etag, start: 0, end: size });
      const back = await readAll(o.stream);
      expect(back.length).toBe(size);
      expect(back.equals(data)).toBe(true);
      expect((await readAll(client.createReadStream(path))).equals(data)).toBe(true);
    }
  });

  it('reads byte ranges, touching only the chunks they need', async () => {
    const size = 5 * CHUNK + 777;
    const data = bytesOf(size, 99);
    await client.put('/ranges/f.bin', pieces(data, 10_000));
    const cases: Array<[number, number]> = [
      [0, 1],
      [CHUNK - 1, CHUNK + 1],
      [CHUNK, 2 * CHUNK],
      [3 * CHUNK + 5, size],
      [size - 1, size],
      [0, size],
      [size, size],
      [1234, 4 * CHUNK + 99],
    ];
    for (const [start, end] of cases) {
      const o = await client.open('/ranges/f.bin', { start, end });
      expect([o.start, o.end]).toEqual([start, end]);
      const got = await readAll(o.stream);
      expect(got.equals(data.subarray(start, end))).toBe(true);
    }
    const clamped = await client.open('/ranges/f.bin', { start: size - 10, end: size + 1000 });
    expect(clamped.end).toBe(size);
    expect((await readAll(clamped.stream)).equals(data.subarray(size - 10))).toBe(true);
    const e = await rejection(client.open('/ranges/f.bin', { start: size + 1 }));
    expect(isCairnError(e, 'RangeNotSatisfiable')).toBe(true);
  });

  it('refuses an existing file unless overwrite, which replaces it atomically', async () => {
    const a = bytesOf(3 * CHUNK, 5);
    const b = bytesOf(CHUNK + 3, 6);
    const first = await client.put('/ow/f', Readable.from([a]));
    const e = await rejection(client.put('/ow/f', Readable.from([b])));
    expect(isCairnError(e, 'AlreadyExists')).toBe(true);
    expect((await readAll(client.createReadStream('/ow/f'))).equals(a)).toBe(true);
    const second = await client.put('/ow/f', Readable.from([b]), { overwrite: true });
    expect(second.etag).not.toBe(first.etag);
    expect((await readAll(client.createReadStream('/ow/f'))).equals(b)).toBe(true);
    expect((await client.stat('/ow/f')).etag).toBe(second.etag);
    // A big write onto an existing file fails early, without uploading the rest.
    const big = bytesOf(64 * CHUNK, 9);
    const written = client.counters.chunksWritten;
    const early = await rejection(client.put('/ow/f', pieces(big, CHUNK, () => sleep(2))));
    expect(isCairnError(early, 'AlreadyExists')).toBe(true);
    expect(client.counters.chunksWritten - written).toBeLessThan(32);
    expect((await readAll(client.createReadStream('/ow/f'))).equals(b)).toBe(true);
    // Malformed paths fail at once.
    expect(() => client.createWriteStream('relative/path')).toThrow(/absolute/);
    expect(isCairnError(await rejection(client.put('/a/../b', Readable.from([a]))), 'InvalidPath')).toBe(true);
    expect(isCairnError(await rejection(client.put('/', Readable.from([a]))), 'IsADirectory')).toBe(true);
  });

  it('stores a source of unknown length (async generator) through the Writable', async () => {
    const data = bytesOf(9 * CHUNK + 100, 7);
    const seen: number[] = [];
    const r = await client.put('/gen/deep/dir/f', pieces(data, 4093), { onProgress: (n) => seen.push(n) });
    expect(r.size).toBe(data.length);
    expect(seen.at(-1)).toBe(data.length);
    expect((await readAll(client.createReadStream('/gen/deep/dir/f'))).equals(data)).toBe(true);
    // A chunk bigger than the writer's first buffer: it grows while filling, pieces straddling
    // each step; every size around the steps and the chunk end comes back byte-exact.
    const big = 1 << 20;
    for (const [i, size] of [1, 64 * 1024 + 1, 3 * 64 * 1024 + 5, big, big + 1, 2 * big + 100_003].entries()) {
      const d = bytesOf(size, 50 + i);
      const path = `/gen/grow-${size}`;
      expect(await client.put(path, pieces(d, i % 2 === 0 ? 4093 : 100_003), { chunkSize: big })).toMatchObject({ size });
      expect((await client.stat(path)).chunks.map((c) => c.size)).toEqual(size <= big ? [size] : [big, ...(size > 2 * big ? [big, size - 2 * big] : [size - big])]);
      expect((await readAll(client.createReadStream(path))).equals(d)).toBe(true);
    }
    const ws = client.createWriteStream('/gen/ws');
    ws.write(data.subarray(0, 1000));
    ws.end(data.subarray(1000, 2 * CHUNK));
    expect(await ws.done).toMatchObject({ path: '/gen/ws', size: 2 * CHUNK });
  });

  it('the README batch job: a file streamed through a transform into a new file', async () => {
    const text = Buffer.from('hello cairn, line by line\n'.repeat(20_000)); // ~8 chunks
    await client.put('/logs/2024.txt', Readable.from([text]));
    const upper = new Transform({
      transform(chunk: Buffer, _enc, done) {
        done(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
      },
    });
    const out = client.createWriteStream('/logs/2024-upper.txt', { overwrite: true });
    await pipeline(client.createReadStream('/logs/2024.txt'), upper, out);
    expect(await out.done).toMatchObject({ path: '/logs/2024-upper.txt', size: text.length });
    expect((await readAll(client.createReadStream('/logs/2024-upper.txt'))).toString()).toBe(text.toString().toUpperCase());
  });

  it('namespace calls: mkdir, list/ls paging, mv, rm, typed errors', async () => {
    await client.mkdir('/ns/a/b', { parents: true });
    expect(isCairnError(await rejection(client.mkdir('/ns/a/b')), 'AlreadyExists')).toBe(true);
    for (let i = 0; i < 5; i++) await client.put(`/ns/a/f${i}`, Readable.from([Buffer.from(`file ${i}`)]));
    const page = await client.list('/ns/a', { limit: 2 });
    expect(page.entries.map((e) => e.name)).toEqual(['b', 'f0']);
    expect(page.cursor).not.toBeNull();
    const names: string[] = [];
    for await (const e of client.ls('/ns/a')) names.push(e.name);
    expect(names).toEqual(['b', 'f0', 'f1', 'f2', 'f3', 'f4']);
    const all: string[] = [];
    for await (const e of client.ls('/ns', { recursive: true })) all.push(`${e.type}:${e.path}`);
    expect(all).toEqual(['dir:/ns/a', 'dir:/ns/a/b', 'file:/ns/a/f0', 'file:/ns/a/f1', 'file:/ns/a/f2', 'file:/ns/a/f3', 'file:/ns/a/f4']);
    await client.mv('/ns/a', '/ns/z');
    expect(isCairnError(await rejection(client.stat('/ns/a')), 'NotFound')).toBe(true);
    expect((await readAll(client.createReadStream('/ns/z/f3'))).toString()).toBe('file 3');
    expect(isCairnError(await rejection(client.rm('/ns/z')), 'NotEmpty')).toBe(true);
    await client.rm('/ns/z', { recursive: true });
    expect(isCairnError(await rejection(client.open('/ns/z/f3')), 'NotFound')).toBe(true);
    expect(isCairnError(await rejection(client.open('/ns')), 'IsADirectory')).toBe(true);
    expect(isCairnError(await rejection(client.stat('/bad/../path')), 'InvalidPath')).toBe(true);
    const rs = client.createReadStream('/missing');
    expect(isCairnError(await rejection(readAll(rs)), 'NotFound')).toBe(true);
    const st = await client.status();
    expect(st.leader).toMatch(/^m[123]$/);
    expect(st.chunkServers.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
  });

  it('an aborted put leaves no file', async () => {
    const ac = new AbortController();
    const data = bytesOf(20 * CHUNK, 8);
    const e = await rejection(
      client.put('/abort/f', pieces(data, CHUNK, async (i) => {
        if (i === 6) ac.abort();
        await sleep(1);
      }), { signal: ac.signal }),
    );
    expect((e as Error).name).toBe('AbortError');
    expect(isCairnError(await rejection(client.stat('/abort/f')), 'NotFound')).toBe(true);
    // A write stream destroyed before end() commits nothing either.
    const ws = client.createWriteStream('/abort/g');
    const errors: Error[] = [];
    ws.on('error', (err) => errors.push(err));
    ws.write(data.subarray(0, 3 * CHUNK));
    await sleep(50);
    ws.destroy(new Error('changed my mind'));
    await expect(ws.done).rejects.toThrow('changed my mind');
    await sleep(200);
    expect(errors.map((x) => x.message)).toEqual(['changed my mind']);
    // Uploads cut off mid-way must not take chunk servers down (they once did: an AbortError
    // with no listener in the chunk store).
    expect(cluster.chunks.filter((c) => !c.proc.running).map((c) => c.id)).toEqual([]);
    expect(isCairnError(await rejection(client.stat('/abort/g')), 'NotFound')).toBe(true);
  });

  it('keeps memory flat while a 300 MB stream goes through put and back', async () => {
    const total = 300 * 1024 * 1024;
    const step = 1024 * 1024;
    const template = bytesOf(step, 11);
    const chunkSize = 4 * 1024 * 1024;
    function* source(): Generator<Buffer> {
      for (let i = 0; i < total / step; i++) {
        const b = Buffer.from(template); // a fresh buffer per piece, as a file stream gives
        b.writeUInt32BE(i, 0);
        yield b;
      }
    }
    const want = createHash('sha256');
    for (const b of source()) want.update(b);
    const wantHex = want.digest('hex');
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const r = await client.put('/big/300m', Readable.from(source()), { chunkSize });
      expect(r.size).toBe(total);
      const h = createHash('sha256');
      for await (const c of client.createReadStream('/big/300m')) h.update(c as Buffer);
      expect(h.digest('hex')).toBe(wantHex);
    } finally {
      clearInterval(sampler);
    }
    // Buffers: 3 upload chunks + 3 read-ahead chunks of 4 MiB, plus sockets and GC slack.
    // Growth with the file size would show as hundreds of MiB.
    const grownMiB = (peak - base) / 2 ** 20;
    console.log(`300 MB put+get: RSS grew ${grownMiB.toFixed(1)} MiB (base ${(base / 2 ** 20).toFixed(0)} MiB)`);
    expect(grownMiB).toBeLessThan(150);
  }, 120_000);

  it('a replica file corrupted on disk is detected, reported and skipped', async () => {
    const data = bytesOf(3 * CHUNK, 12);
    await client.put('/corrupt/f', Readable.from([data]));
    await waitReplicated('/corrupt/f');
    const o = await openRaw('/corrupt/f');
    const victim = o.chunks[1]!;
    const first = victim.replicas[0]!.id;
    const file = join(cluster.member(first).dir, 'chunks', victim.id.slice(0, 2), victim.id);
    const fd = openSync(file, 'r+');
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, 100);
    one[0] = one[0]! ^ 0xff;
    writeSync(fd, one, 0, 1, 100);
    closeSync(fd);
    const reported = client.counters.badReplicasReported;
    expect((await readAll(client.createReadStream('/corrupt/f'))).equals(data)).toBe(true);
    expect(client.counters.badReplicasReported).toBe(reported + 1);
    // The client found the flip itself (its server sends a whole chunk unchecked to a reader that
    // checks it); the leader drops the bad copy from the chunk's locations once that server has
    // re-verified its replica on the report.
    await until('the bad copy dropped from the chunk\'s locations', 15_000, async () => !(await client.stat('/corrupt/f')).chunks[1]!.replicas.includes(first));
  });

  it('a hung chunk server (SIGSTOP) is skipped after the idle timeout', async () => {
    const data = bytesOf(2 * CHUNK, 15);
    await client.put('/hung/f', Readable.from([data]));
    await waitReplicated('/hung/f');
    const first = (await openRaw('/hung/f')).chunks[0]!.replicas[0]!.id;
    const pid = cluster.member(first).proc.pid!;
    const quick = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }, { chunkIdleTimeoutMs: 800 });
    process.kill(pid, 'SIGSTOP');
    try {
      expect((await readAll(quick.createReadStream('/hung/f'))).equals(data)).toBe(true);
      expect(quick.counters.readFailovers).toBeGreaterThanOrEqual(1);
    } finally {
      process.kill(pid, 'SIGCONT');
      quick.close();
    }
  });

  it('a chunk server killed with SIGKILL mid-put: the put succeeds via retarget (never half-visible); reads fail over', async () => {
    const before = bytesOf(6 * CHUNK + 5, 13);
    await client.put('/kill/before', Readable.from([before]));
    await waitReplicated('/kill/before');
    // The victim is the first replica the reader will try for chunk 0 of /kill/before.
    const victimId = (await openRaw('/kill/before')).chunks[0]!.replicas[0]!.id;
    const victim = cluster.member(victimId);
    const data = bytesOf(24 * CHUNK + 1, 14);
    const retargets = client.counters.retargets;
    let sawMissing = false;
    const r = await client.put('/kill/during', pieces(data, CHUNK / 2, async (i) => {
      if (i === 10) {
        await victim.proc.kill('SIGKILL');
        // Not visible while the put is still going.
        sawMissing = isCairnError(await rejection(client.stat('/kill/during')), 'NotFound');
      }
    }));
    expect(sawMissing).toBe(true);
    expect(r.size).toBe(data.length);
    // 3 of 4 servers hold each chunk: ~19 chunks after the kill all avoiding the victim is ~1e-11.
    expect(client.counters.retargets).toBeGreaterThan(retargets);
    const st = await client.stat('/kill/during');
    expect(st.size).toBe(data.length);
    expect((await readAll(client.createReadStream('/kill/during'))).equals(data)).toBe(true);
    // Written before the kill: the leader still lists the victim (dead-after 30 s) first for chunk 0.
    const failovers = client.counters.readFailovers;
    expect((await readAll(client.createReadStream('/kill/before'))).equals(before)).toBe(true);
    expect(client.counters.readFailovers).toBeGreaterThan(failovers);
    const o = await client.open('/kill/before', { start: CHUNK + 10, end: 4 * CHUNK });
    expect((await readAll(o.stream)).equals(before.subarray(CHUNK + 10, 4 * CHUNK))).toBe(true);
  });
});

/**
 * Client I/O before repair I/O, end to end on loopback: a repair copy's read is marked on the wire
 * and its body is held by the SOURCE server while one of that server's client requests is in
 * flight (a client's read is not); on the RECEIVING server the copy's pieces and its commit wait
 * behind the client requests there. Quantum set far beyond the test so only the client ending
 * releases repair.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { IoPriority } from '../../../src/chunk/io-priority.js';
import { Replicator } from '../../../src/chunk/replicator.js';
import { ChunkToken } from '../../../src/proto/chunk-token.js';
import { systemClock, systemTimers, wallClockMs } from '../../../src/env/system.js';
import type { ChunkStore } from '../../../src/storage/chunk-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SEG, bytes, cid, collect, openStore, pieces, tempDir, waitUntil } from './helpers.js';

const secret = 'replicator-priority-test-secret';
const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
const readToken = (id: string): string => tokens.signFor('read', id, 60_000);
const HOLD_MS = 300;
const SIZE = 8 * SEG; // above the store's in-memory read size: served as a stream

const cleanups: Array<() => void | Promise<void>> = [];
let client: ChunkClient;

async function node(tag: string, io?: IoPriority): Promise<{ store: ChunkStore; addr: string }> {
  const { dir, cleanup } = tempDir(tag);
  const store = await openStore(dir);
  const server = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger, ...(io ? { io } : {}) }, { secret });
  const addr = await server.start();
  cleanups.push(async () => {
    await server.close();
    await store.close();
    cleanup();
  });
  return { store, addr };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const longQuantum = (): IoPriority => new IoPriority({ clock: systemClock, timers: systemTimers }, { quantumMs: 60_000 });

beforeAll(() => {
  client = new ChunkClient({ logger: silentLogger });
});

afterAll(async () => {
  client.close();
  for (const c of cleanups.reverse()) await c();
});

describe('repair I/O priority', () => {
  it('the source holds a repair read while a client request is in flight there, not a client read', async () => {
    const io = longQuantum();
    const src = await node('prio-src', io);
    await src.store.put(cid(1), pieces(bytes(SIZE, 1)));
    const end = io.clientStarted();
    let repairDone = false;
    const repairRead = client.getChunk(src.addr, cid(1), readToken(cid(1)), { repair: true }).then(async (g) => {
      const b = await collect(g.stream);
      repairDone = true;
      return b;
    });
    // A client read alongside is served at once.
    const plain = await client.getChunk(src.addr, cid(1), readToken(cid(1)));
    expect((await collect(plain.stream)).equals(bytes(SIZE, 1))).toBe(true);
    await sleep(HOLD_MS);
    expect(repairDone).toBe(false);
    end();
    expect((await repairRead).equals(bytes(SIZE, 1))).toBe(true);
    expect(io.counters.repairAfterClients).toBeGreaterThan(0);
  });

  it('the receiver writes and commits a copy only once its client requests are over', async () => {
    const src = await node('prio-src2');
    await src.store.put(cid(2), pieces(bytes(SIZE, 2)));
    const { dir, cleanup } = tempDir('prio-dst');
    const dst = await openStore(dir);
    cleanups.push(async () => {
      await dst.close();
      cleanup();
    });
    const io = longQuantum();
    const copied: string[] = [];
    const r = new Replicator(
      { store: dst, chunks: client, io, clock: systemClock, timers: systemTimers, logger: silentLogger, onCopied: (id) => copied.push(id) },
      { bytesPerSecMax: 0 },
    );
    cleanups.push(() => r.stop());
    const end = io.clientStarted();
    r.submit([{ op: 'copy', id: cid(2), token: readToken(cid(2)), sources: [{ id: 's', addr: src.addr }] }]);
    await sleep(HOLD_MS);
    expect(copied).toEqual([]);
    await expect(dst.read(cid(2))).rejects.toMatchObject({ code: 'NotFound' });
    end();
    await waitUntil(() => copied.length === 1);
    expect((await collect((await dst.read(cid(2))).stream)).equals(bytes(SIZE, 2))).toBe(true);
  });

  it("the receiver's commit (fsync) waits behind a client request that began after the last byte", async () => {
    const src = await node('prio-src4');
    await src.store.put(cid(4), pieces(bytes(SIZE, 4)));
    const io = longQuantum();
    let end: (() => void) | null = null;
    const events: string[] = [];
    const store = {
      async put(_id: string, source: AsyncIterable<Uint8Array>, o: { size?: number }): Promise<{ created: boolean }> {
        let n = 0;
        for await (const b of source) {
          n += b.length;
          if (n === o.size) end = io.clientStarted(); // a client arrives as the last piece lands
        }
        events.push('commit');
        return { created: true };
      },
      delete: () => Promise.resolve(false),
    };
    // A rate far above the test's: the streamed (throttled) copy path, with no waits of its own.
    const r = new Replicator({ store, chunks: client, io, clock: systemClock, timers: systemTimers, logger: silentLogger, onCopied: () => events.push('copied') }, { bytesPerSecMax: 2 ** 40 });
    cleanups.push(() => r.stop());
    r.submit([{ op: 'copy', id: cid(4), token: readToken(cid(4)), sources: [{ id: 's', addr: src.addr }] }]);
    await waitUntil(() => end !== null);
    await sleep(HOLD_MS);
    expect(events).toEqual([]);
    end!();
    await waitUntil(() => events.length === 2);
    expect(events).toEqual(['commit', 'copied']);
  });

  it('unthrottled copies read whole replicas into a reused buffer and commit only after the client requests', async () => {
    const io = longQuantum();
    const body = bytes(SIZE, 5);
    let end: (() => void) | null = null;
    const scratches: Array<Buffer | undefined> = [];
    const given: Buffer[] = [];
    const chunks = {
      getChunk: () => Promise.reject(new Error('the unthrottled path reads whole replicas')),
      readChunk: (_a: string, _id: string, _t: string, o: { scratch?: Buffer }) => {
        scratches.push(o.scratch);
        const into = o.scratch && o.scratch.length >= SIZE ? o.scratch.subarray(0, SIZE) : Buffer.allocUnsafeSlow(SIZE);
        body.copy(into);
        given.push(into);
        end = io.clientStarted(); // a client arrives as the bytes land
        return Promise.resolve({ size: SIZE, crc32c: 0, bytes: into });
      },
    };
    const events: string[] = [];
    const store = {
      put: (id: string, src: AsyncIterable<Uint8Array> | Uint8Array) => {
        events.push(`put ${id} ${Buffer.from(src as Uint8Array).equals(body)}`);
        return Promise.resolve({ created: true });
      },
      delete: () => Promise.resolve(false),
    };
    const r = new Replicator({ store, chunks, io, clock: systemClock, timers: systemTimers, logger: silentLogger, onCopied: (id) => events.push(`copied ${id}`) }, { bytesPerSecMax: 0, concurrencyMax: 1 });
    cleanups.push(() => r.stop());
    r.submit([6, 7].map((n) => ({ op: 'copy', id: cid(n), token: readToken(cid(n)), sources: [{ id: 's', addr: '127.0.0.1:1' }] })));
    await waitUntil(() => end !== null);
    await sleep(HOLD_MS);
    expect(events).toEqual([]);
    const first = end!;
    end = null;
    first();
    await waitUntil(() => end !== null);
    end!();
    await waitUntil(() => events.length === 4);
    expect(events).toEqual([`put ${cid(6)} true`, `copied ${cid(6)}`, `put ${cid(7)} true`, `copied ${cid(7)}`]);
    // The second copy landed in the first one's buffer.
    expect(scratches[0]).toBeUndefined();
    expect(scratches[1]?.buffer).toBe(given[0]!.buffer);
  });

  it('the receiver keeps to its share of the rate while clients are active', async () => {
    const src = await node('prio-src3');
    await src.store.put(cid(3), pieces(bytes(SIZE, 3)));
    const { dir, cleanup } = tempDir('prio-dst3');
    const dst = await openStore(dir);
    cleanups.push(async () => {
      await dst.close();
      cleanup();
    });
    // A client request just ended (nothing in flight, nothing held) and the share ramps slowly.
    const io = new IoPriority({ clock: systemClock, timers: systemTimers }, { shareMin: 0.25, rampMs: 600_000 });
    io.clientStarted()();
    const rate = 4 * SIZE; // the whole chunk in 250 ms at full rate, ~1 s at a quarter
    const copied: string[] = [];
    const r = new Replicator({ store: dst, chunks: client, io, clock: systemClock, timers: systemTimers, logger: silentLogger, onCopied: (id) => copied.push(id) }, { bytesPerSecMax: rate });
    cleanups.push(() => r.stop());
    const t0 = systemClock.nowMs();
    r.submit([{ op: 'copy', id: cid(3), token: readToken(cid(3)), sources: [{ id: 's', addr: src.addr }] }]);
    await waitUntil(() => copied.length === 1, 10_000);
    // The bucket's 100 ms of credit and the first piece pass at once: at least ~0.8 s at a quarter.
    expect(systemClock.nowMs() - t0).toBeGreaterThanOrEqual(700);
  });
});

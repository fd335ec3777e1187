/**
 * Replicas written around the page cache (src/storage/direct-writes.ts): the bytes that go
 * through the O_DIRECT descriptor, the unaligned rest that does not, a file system that refuses,
 * the buffer pool's cap, and buffers never lost or shared when a write fails midway.
 */
import { readdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SeededRng } from '../../../src/env/rng.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { nodeChunkFs, type ChunkFs } from '../../../src/storage/chunk-fs.js';
import { ChunkStore, type ChunkStoreOptions } from '../../../src/storage/chunk-store.js';
import { DIRECT_ALIGN_BYTES, DIRECT_BUFFER_BYTES, DirectBuffers } from '../../../src/storage/direct-writes.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { silentLogger, type Logger } from '../../../src/util/logger.js';
import { bytes, cid, collect, pieces, rejection, tempDir, waitUntil } from '../chunk/helpers.js';

const MiB = 1024 * 1024;

/** The real file system, counting what goes through direct descriptors; `refuse` makes them fail as a file system without O_DIRECT does. */
class CountingFs {
  readonly real = nodeChunkFs();
  directOpens = 0;
  /** Direct writes started (counted before they run, so a write that fails counts too). */
  directAttempts = 0;
  /** While set, direct writes wait for it before they run. */
  gate: Promise<void> | null = null;
  directBytes = 0;
  bufferedBytes = 0;
  refuse: 'open' | 'write' | null = null;

  fs(): ChunkFs {
    const einval = (): Error => Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' });
    const count = (fh: FileHandle, direct: boolean): FileHandle => {
      const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
      const writev = fh.writev.bind(fh);
      Object.assign(fh, {
        write: async (...a: unknown[]) => {
          if (direct) this.directAttempts++;
          if (direct && this.gate) await this.gate;
          if (direct && this.refuse === 'write') throw einval();
          const r = await write(...a);
          if (direct) this.directBytes += r.bytesWritten;
          else this.bufferedBytes += r.bytesWritten;
          return r;
        },
        writev: async (...a: Parameters<FileHandle['writev']>) => {
          const r = await writev(...a);
          if (direct) this.directBytes += r.bytesWritten;
          else this.bufferedBytes += r.bytesWritten;
          return r;
        },
      });
      return fh;
    };
    return {
      ...this.real,
      open: async (path, flags, mode) => count(await this.real.open(path, flags, mode), false),
      openDirect: async (path) => {
        this.directOpens++;
        if (this.refuse === 'open') throw einval();
        return count(await this.real.openDirect!(path), true);
      },
    };
  }
}

let dir: string;
let cleanup: () => void;
let counting: CountingFs;
let warnings: string[];

async function open(opts: Partial<ChunkStoreOptions> = {}): Promise<ChunkStore> {
  const log: Logger = { ...silentLogger, warn: (msg: string) => void warnings.push(msg), child: () => log };
  return ChunkStore.open({ rng: new SeededRng(9), clock: systemClock, timers: systemTimers, logger: log, fs: counting.fs() }, { dir, chunkBytesMax: 16 * MiB, ...opts });
}

const tmpFiles = (): string[] => readdirSync(join(dir, 'tmp'));

beforeEach(() => {
  ({ dir, cleanup } = tempDir('direct-writes'));
  counting = new CountingFs();
  warnings = [];
});
afterEach(() => cleanup());

describe('direct writes', () => {
  it('writes whole aligned batches around the page cache and the unaligned rest buffered', async () => {
    const store = await open();
    const size = 3 * MiB + 300 * 1024 + 123; // 3 full buffers, then a 300 KiB tail: its aligned part direct too
    const data = bytes(size, 5);
    const r = await store.put(cid(1), pieces(data, 65_000), { size, crc32c: crc32c(data) });
    expect(r).toMatchObject({ size, crc32c: crc32c(data) });
    expect(counting.directOpens).toBe(1);
    const tail = size - 3 * MiB;
    const tailAligned = tail - (tail % DIRECT_ALIGN_BYTES);
    expect(counting.directBytes).toBe(3 * MiB + tailAligned);
    expect((await collect((await store.read(cid(1))).stream)).equals(data)).toBe(true);
    // Both staging buffers are back in the pool, and the temp file is gone.
    expect(store.directWrites).toMatchObject({ enabled: true, buffersMade: 8, buffersIdle: 8 });
    expect(tmpFiles()).toEqual([]);
  });

  it('leaves a short tail with the trailer, and a small replica entirely, to the buffered write', async () => {
    const store = await open();
    const size = 2 * MiB + 1000;
    const data = bytes(size, 6);
    await store.put(cid(2), pieces(data, 100_000), { size });
    expect(counting.directBytes).toBe(2 * MiB);
    expect((await collect((await store.read(cid(2))).stream)).equals(data)).toBe(true);
    // A known size under one buffer: no direct descriptor at all.
    const small = bytes(DIRECT_BUFFER_BYTES - 1, 7);
    await store.put(cid(3), pieces(small), { size: small.length });
    expect(counting.directOpens).toBe(1);
    expect((await collect((await store.read(cid(3))).stream)).equals(small)).toBe(true);
  });

  it('fills several buffers from one large write (a whole chunk in memory)', async () => {
    const store = await open();
    const data = bytes(5 * MiB + 4096, 8);
    await store.put(cid(4), data);
    expect(counting.directBytes).toBe(5 * MiB);
    expect((await collect((await store.read(cid(4))).stream)).equals(data)).toBe(true);
    expect(store.directWrites.buffersIdle).toBe(store.directWrites.buffersMade);
  });

  for (const refuse of ['open', 'write'] as const) {
    it(`turns to buffered writes when the file system refuses O_DIRECT at ${refuse}, losing nothing`, async () => {
      counting.refuse = refuse;
      const store = await open();
      const data = bytes(3 * MiB + 5, 9);
      await store.put(cid(5), pieces(data, 70_000), { size: data.length, crc32c: crc32c(data) });
      expect((await collect((await store.read(cid(5))).stream)).equals(data)).toBe(true);
      expect(counting.directBytes).toBe(0);
      expect(store.directWrites.enabled).toBe(false);
      expect(warnings.filter((w) => /refused a direct write/.test(w))).toHaveLength(1);
      // Later replicas do not try again.
      const opens = counting.directOpens;
      await store.put(cid(6), pieces(data, 70_000));
      expect(counting.directOpens).toBe(opens);
      expect((await collect((await store.read(cid(6))).stream)).equals(data)).toBe(true);
    });
  }

  it('writes buffered once the pool is out of buffers, and both replicas are whole', async () => {
    const store = await open({ directBuffersMax: 8 });
    const datas = [0, 1, 2, 3, 4].map((i) => bytes(2 * MiB + 77, 20 + i));
    // Five writers at once need ten buffers: four get two each, the fifth writes buffered.
    const writers = datas.map((_, i) => store.writer(cid(10 + i)));
    for (let off = 0; off < datas[0]!.length; off += 256 * 1024) {
      await Promise.all(writers.map((w, i) => w.write(datas[i]!.subarray(off, off + 256 * 1024))));
    }
    await Promise.all(writers.map((w) => w.end()));
    expect(counting.directOpens).toBe(4);
    expect(counting.directBytes).toBe(4 * 2 * MiB);
    for (let i = 0; i < datas.length; i++) expect((await collect((await store.read(cid(10 + i))).stream)).equals(datas[i]!)).toBe(true);
    expect(store.directWrites).toMatchObject({ buffersMade: 8, buffersIdle: 8 });
  });

  it('returns the buffers of a write that fails midway only after its writes ended, and leaves nothing', async () => {
    const store = await open({ directBuffersMax: 2 });
    const data = bytes(3 * MiB, 11);
    async function* failing(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 2 * MiB + 5);
      throw new Error('source broke');
    }
    expect((await rejection(store.put(cid(7), failing()))).message).toBe('source broke');
    const aborted = store.writer(cid(8));
    const pending = aborted.write(data.subarray(0, 2 * MiB)); // two buffers filled: one written behind the other
    const abort = aborted.abort(new Error('client went away'));
    expect((await rejection(abort)).message).toBe('client went away');
    // Once the abort settled no write may touch the buffers: they are the pool's again.
    const directAtAbort = counting.directBytes;
    expect(store.directWrites.buffersIdle).toBe(2);
    await pending?.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(counting.directBytes).toBe(directAtAbort);
    expect(store.directWrites).toMatchObject({ buffersMade: 2, buffersIdle: 2 });
    expect(tmpFiles()).toEqual([]);
    // The pool still serves a whole replica afterwards.
    await store.put(cid(9), data);
    expect((await collect((await store.read(cid(9))).stream)).equals(data)).toBe(true);
  });

  it('an abort while a write is held lets the writer finish with its buffers before they go back, and nothing writes after', async () => {
    const store = await open({ directBuffersMax: 2 });
    let openGate!: () => void;
    counting.gate = new Promise<void>((r) => (openGate = r));
    const w = store.writer(cid(13));
    // Three buffers' worth in one write: A goes out (held at the gate), B fills, then the rest waits for A.
    const pending = w.write(bytes(3 * MiB, 13));
    pending?.catch(() => undefined);
    await waitUntil(() => counting.directAttempts === 1);
    let settled = false;
    const abort = w.abort(new Error('client went away')).finally(() => (settled = true));
    abort.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // it waits for the write it cannot cancel
    openGate();
    expect((await rejection(abort)).message).toBe('client went away');
    const attemptsAtAbort = counting.directAttempts;
    expect(store.directWrites).toMatchObject({ buffersMade: 2, buffersIdle: 2 });
    await pending?.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(counting.directAttempts).toBe(attemptsAtAbort);
    expect(tmpFiles()).toEqual([]);
  });

  it('with 0 buffers writes everything through the page cache', async () => {
    const store = await open({ directBuffersMax: 0 });
    const data = bytes(2 * MiB, 12);
    await store.put(cid(12), data);
    expect(counting.directOpens).toBe(0);
    expect(store.directWrites.enabled).toBe(false);
  });
});

describe('DirectBuffers', () => {
  it('hands out page-aligned 1 MiB views up to its cap, and reuses what comes back', () => {
    const pool = new DirectBuffers(8);
    const taken = Array.from({ length: 8 }, () => pool.take());
    expect(taken.every((b) => b !== null && b.length === DIRECT_BUFFER_BYTES && b.byteOffset % DIRECT_ALIGN_BYTES === 0)).toBe(true);
    expect(pool.take()).toBeNull();
    pool.give(taken[3]!);
    expect(pool.take()).toBe(taken[3]);
    const three = new DirectBuffers(3);
    expect([three.take(), three.take(), three.take(), three.take()].map((b) => b !== null)).toEqual([true, true, true, false]);
    expect(three.counts).toEqual({ made: 3, idle: 0 });
  });
});

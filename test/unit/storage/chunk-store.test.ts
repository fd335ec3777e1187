import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeChunkFs } from '../../../src/storage/chunk-fs.js';
import { CHUNK_FOOTER_BYTES, ChunkStore } from '../../../src/storage/chunk-store.js';
import { SeededRng } from '../../../src/env/rng.js';
import { systemTimers } from '../../../src/env/system.js';
import { silentLogger } from '../../../src/util/logger.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { isCairnError } from '../../../src/util/errors.js';
import { SEG, bytes, cid, collect, openStore, pieces, tempDir, waitUntil } from '../chunk/helpers.js';

let dir: string;
let cleanup: () => void;
let store: ChunkStore;
const corrupted: string[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('chunk-store'));
  corrupted.length = 0;
  store = await openStore(dir, { chunkBytesMax: 8 * 1024 * 1024 }, (id) => corrupted.push(id));
});
afterEach(() => cleanup());

const fileOf = (id: string): string => join(dir, 'chunks', id.slice(0, 2), id);
const tmpFiles = (): string[] => readdirSync(join(dir, 'tmp'));

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected ${code}`).not.toBeNull();
  expect(isCairnError(e) ? e.code : String(e)).toBe(code);
}

describe('ChunkStore write and read', () => {
  for (const size of [0, 1, SEG - 1, SEG, SEG + 1, 3 * 1024 * 1024 + 17]) {
    it(`round-trips ${size} bytes, whole and in ranges`, async () => {
      const data = bytes(size, size);
      const id = cid(size + 1);
      const r = await store.put(id, pieces(data, 7777), { size, crc32c: crc32c(data) });
      expect(r).toMatchObject({ id, size, crc32c: crc32c(data), created: true });
      expect(statSync(fileOf(id)).size).toBe(size + Math.ceil(size / SEG) * 4 + CHUNK_FOOTER_BYTES);
      expect(await store.stat(id)).toEqual({ id, size, crc32c: crc32c(data), segmentBytes: SEG });
      const whole = await store.read(id);
      expect((await collect(whole.stream)).equals(data)).toBe(true);
      const ranges: Array<[number, number]> = [
        [0, Math.min(size, 1)],
        [Math.floor(size / 2), size],
        [Math.min(size, Math.max(0, SEG - 3)), Math.min(size, SEG + 3)],
        [size, size],
      ];
      for (const [a, b] of ranges) {
        const rd = await store.read(id, { start: a, end: b });
        expect((await collect(rd.stream)).equals(data.subarray(a, b))).toBe(true);
      }
      expect(tmpFiles()).toEqual([]);
    });
  }

  it('refuses ids that are not 32 lowercase hex digits (no path traversal)', async () => {
    for (const bad of ['../../etc/passwd', '..', '', 'A'.repeat(32), `${cid(1)}/x`, cid(1).slice(1), `${cid(1)}0`, '0'.repeat(31) + '\u0000']) {
      await expectCode(store.put(bad, pieces(Buffer.from('x'))), 'InvalidArgument');
      await expectCode(store.read(bad), 'InvalidArgument');
      await expectCode(store.delete(bad), 'InvalidArgument');
    }
  });

  it('a read of a missing chunk is NotFound; a bad range is RangeNotSatisfiable', async () => {
    await expectCode(store.read(cid(9)), 'NotFound');
    expect(await store.stat(cid(9))).toBeNull();
    await store.put(cid(9), pieces(bytes(100)));
    await expectCode(store.read(cid(9), { start: 50, end: 101 }), 'RangeNotSatisfiable');
    await expectCode(store.read(cid(9), { start: 60, end: 50 }), 'RangeNotSatisfiable');
  });

  it('size mismatch, CRC mismatch and over-limit writes leave nothing', async () => {
    const data = bytes(200_000);
    await expectCode(store.put(cid(1), pieces(data), { size: 199_999 }), 'InvalidArgument');
    await expectCode(store.put(cid(1), pieces(data), { size: 200_001 }), 'InvalidArgument');
    await expectCode(store.put(cid(1), pieces(data), { crc32c: (crc32c(data) ^ 1) >>> 0 }), 'Corrupt');
    await expectCode(store.put(cid(1), pieces(bytes(8 * 1024 * 1024 + 1))), 'TooLarge');
    await expectCode(store.put(cid(1), pieces(data), { size: 8 * 1024 * 1024 + 1 }), 'TooLarge');
    expect(await store.stat(cid(1))).toBeNull();
    expect(tmpFiles()).toEqual([]);
    expect((await store.space()).chunks).toBe(0);
  });

  it('is idempotent: the same bytes again succeed, different bytes are AlreadyExists', async () => {
    const data = bytes(100_000, 3);
    expect((await store.put(cid(2), pieces(data))).created).toBe(true);
    expect((await store.put(cid(2), pieces(data))).created).toBe(false);
    await expectCode(store.put(cid(2), pieces(bytes(100_000, 4))), 'AlreadyExists');
    expect((await collect((await store.read(cid(2))).stream)).equals(data)).toBe(true);
    expect((await store.space()).chunks).toBe(1);
    expect(tmpFiles()).toEqual([]);
  });

  it('an aborted or failing source removes the temp file', async () => {
    const ac = new AbortController();
    const src = new PassThrough();
    const p = store.put(cid(3), src, { signal: ac.signal });
    src.write(bytes(300_000));
    await waitUntil(() => tmpFiles().length === 1);
    ac.abort();
    await expect(p).rejects.toThrow();
    expect(tmpFiles()).toEqual([]);

    async function* failing(): AsyncGenerator<Buffer> {
      yield bytes(100_000);
      throw new Error('client went away');
    }
    await expect(store.put(cid(3), failing())).rejects.toThrow('client went away');
    expect(tmpFiles()).toEqual([]);
    expect(await store.stat(cid(3))).toBeNull();
  });

  it('removes crash leftovers at open and counts what is stored', async () => {
    await store.put(cid(4), pieces(bytes(1000)));
    await store.put(cid(5), pieces(bytes(SEG * 2)));
    writeFileSync(join(dir, 'tmp', `${cid(6)}.deadbeef`), bytes(5000));
    const again = await openStore(dir);
    expect(tmpFiles()).toEqual([]);
    const sp = await again.space();
    expect(sp.chunks).toBe(2);
    expect(sp.usedBytes).toBe(statSync(fileOf(cid(4))).size + statSync(fileOf(cid(5))).size);
    expect(sp.capacityBytes).toBeGreaterThan(sp.freeBytes);
    expect((await collect((await again.read(cid(5))).stream)).equals(bytes(SEG * 2))).toBe(true);
  });

  it('lists every stored id once, ignoring stray files', async () => {
    const ids = [cid(0x10), cid(0xff), 'ff' + '0'.repeat(30), 'ab'.repeat(16)];
    for (const id of ids) await store.put(id, pieces(bytes(10)));
    mkdirSync(join(dir, 'chunks', 'zz'), { recursive: true });
    writeFileSync(join(dir, 'chunks', '00', 'not-a-chunk'), 'x');
    const seen: string[] = [];
    for await (const id of store.list()) seen.push(id);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('delete removes the replica durably and is false for a missing one', async () => {
    await store.put(cid(7), pieces(bytes(5000)));
    expect(await store.delete(cid(7))).toBe(true);
    expect(existsSync(fileOf(cid(7)))).toBe(false);
    expect(await store.delete(cid(7))).toBe(false);
    expect((await store.space()).chunks).toBe(0);
    expect((await store.space()).usedBytes).toBe(0);
  });

  it('refuses a write below the free-space reserve with NoSpace and leaves nothing', async () => {
    const free = (await store.space()).freeBytes;
    const tight = await openStore(dir, { reserveBytes: free + 1024 * 1024 * 1024 });
    await expectCode(tight.put(cid(8), pieces(bytes(10))), 'NoSpace');
    expect((await tight.space()).full).toBe(true);
    expect(tmpFiles()).toEqual([]);
    expect(await tight.stat(cid(8))).toBeNull();
  });

  it('a pushed write (writer) is durable and reads back; an aborted or mismatching one leaves nothing', async () => {
    const data = bytes(3 * 1024 * 1024 + 5, 7);
    const w = store.writer(cid(0x77), { size: data.length, crc32c: crc32c(data) });
    for (let off = 0; off < data.length; off += 65536) {
      const wait = w.write(data.subarray(off, off + 65536));
      if (wait) await wait;
    }
    expect(await w.end()).toMatchObject({ size: data.length, crc32c: crc32c(data), created: true });
    expect((await collect((await store.read(cid(0x77))).stream)).equals(data)).toBe(true);
    const aborted = store.writer(cid(0x78));
    for (let off = 0; off < 2 * 1024 * 1024; off += 65536) {
      const wait = aborted.write(data.subarray(off, off + 65536));
      if (wait) await wait;
    }
    await expect(aborted.abort(new Error('the client went away'))).rejects.toThrow('the client went away');
    expect(await store.stat(cid(0x78))).toBeNull();
    const mismatch = store.writer(cid(0x79), { crc32c: 1 });
    mismatch.write(data.subarray(0, 1000));
    await expectCode(mismatch.end(), 'Corrupt');
    expect(await store.stat(cid(0x79))).toBeNull();
    expect(tmpFiles()).toEqual([]);
  });

  it('counts its own writes against a free-space reading it reuses (no statfs per write)', async () => {
    // A disk whose statfs always reads the same (as a frozen clock makes the first reading serve
    // every later check): only the store's own accounting can bring the free space down to the
    // reserve, whatever other processes write to the real disk meanwhile.
    const real = nodeChunkFs();
    let statfsCalls = 0;
    const bsize = 4096;
    const fixedFs = { ...real, statfs: async () => (statfsCalls++, { bavail: 1 << 20, blocks: 1 << 21, bsize }) };
    const free = (1 << 20) * bsize;
    const size = 32 * 1024 * 1024;
    const fileBytes = size + (size / SEG) * 4 + CHUNK_FOOTER_BYTES;
    // Room for two replicas above the reserve, and half a third's.
    const tight = await ChunkStore.open(
      { rng: new SeededRng(10), clock: { nowMs: () => 0 }, timers: systemTimers, logger: silentLogger, fs: fixedFs },
      { dir: join(dir, 'frozen'), reserveBytes: free - 1.5 * fileBytes - size },
    );
    await tight.space(); // the reading every write below shares
    const d = bytes(size, 3);
    let stored = 0;
    for (let i = 0; i < 6; i++) {
      const err = await tight.put(cid(0x5a0 + i), pieces(d, 1 << 20), { size }).then(() => null, (e: unknown) => e);
      if (err) {
        expect(isCairnError(err) && err.code).toBe('NoSpace');
        break;
      }
      stored++;
    }
    expect(stored).toBe(2);
    expect(statfsCalls).toBe(1);
    expect(tmpFiles()).toEqual([]);
  });

  it('honours backpressure: a paused reader keeps at most about one batch buffered', async () => {
    const data = bytes(4 * 1024 * 1024, 5);
    await store.put(cid(11), Readable.from([data]));
    const rd = await store.read(cid(11));
    rd.stream.pause();
    rd.stream.on('data', () => undefined);
    rd.stream.pause();
    await new Promise((r) => setTimeout(r, 50));
    expect(rd.stream.readableLength).toBeLessThanOrEqual(2 * 1024 * 1024);
    rd.stream.destroy();
  });
});

describe('ChunkStore corruption', () => {
  const size = 5 * SEG + 100;
  const data = bytes(size, 42);
  const id = cid(0xc0ffee);

  beforeEach(async () => {
    await store.put(id, pieces(data));
  });

  function flipByte(offset: number): void {
    const f = readFileSync(fileOf(id));
    f[offset] = f[offset]! ^ 0x40;
    writeFileSync(fileOf(id), f);
  }

  it('a flipped data byte fails reads that touch its segment, other ranges still verify', async () => {
    flipByte(2 * SEG + 10); // segment 2
    const whole = await store.read(id);
    const got: Buffer[] = [];
    const err = await (async () => {
      try {
        for await (const c of whole.stream) got.push(c as Buffer);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(isCairnError(err, 'Corrupt')).toBe(true);
    // Nothing from segment 2 onwards was delivered, and what was delivered is correct.
    const delivered = Buffer.concat(got);
    expect(delivered.length).toBeLessThanOrEqual(2 * SEG);
    expect(delivered.equals(data.subarray(0, delivered.length))).toBe(true);
    expect(corrupted).toEqual([id]);
    expect(store.corruptChunks()).toEqual([id]);
    // A range inside healthy segments is still served; one touching segment 2 is not.
    expect((await collect((await store.read(id, { start: 3 * SEG, end: size })).stream)).equals(data.subarray(3 * SEG))).toBe(true);
    await expect(collect((await store.read(id, { start: 2 * SEG + 5, end: 2 * SEG + 6 })).stream)).rejects.toMatchObject({ code: 'Corrupt' });
    expect(await store.verify(id)).toMatchObject({ ok: false });
    // Rewriting the good bytes is AlreadyExists by the table; delete then put repairs it.
    expect(await store.delete(id)).toBe(true);
    expect(store.corruptChunks()).toEqual([]);
    await store.put(id, pieces(data));
    expect(await store.verify(id)).toMatchObject({ ok: true });
  });

  it('batches read into a lent buffer: the verified segments before a bad one come first, then Corrupt', async () => {
    flipByte(3 * SEG + 10); // segment 3
    const batched = await openStore(dir, { readBatchBytes: 2 * SEG }, (i) => corrupted.push(i));
    const rd = await batched.read(id);
    const b = rd.batches!;
    expect(b.bufferBytes).toBe(2 * SEG);
    const lent = Buffer.alloc(2 * SEG);
    const first = await b.next(lent);
    expect(first!.buffer === lent.buffer).toBe(true); // read into the lent buffer, not a fresh one
    expect(first!.equals(data.subarray(0, 2 * SEG))).toBe(true);
    const second = await b.next(lent); // segment 2 verifies, segment 3 does not
    expect(second!.equals(data.subarray(2 * SEG, 3 * SEG))).toBe(true);
    await expect(b.next(lent)).rejects.toMatchObject({ code: 'Corrupt' });
    expect(corrupted).toEqual([id]);
    await b.close();
    // A range past the bad segment reads to its end, then null.
    const tail = (await batched.read(id, { start: 4 * SEG + 1, end: size })).batches!;
    expect((await tail.next(lent))!.equals(data.subarray(4 * SEG + 1))).toBe(true);
    expect(await tail.next(lent)).toBeNull();
    await tail.close();
  });

  it('a reader that checks the whole chunk itself gets its segments unchecked; a partial range is checked anyway', async () => {
    flipByte(2 * SEG + 10); // segment 2
    const unchecked = await collect((await store.read(id, { readerVerifiesWhole: true })).stream);
    expect(unchecked.length).toBe(size);
    expect(unchecked.equals(data)).toBe(false); // the flip went out, for the reader's CRC to find
    expect(crc32c(unchecked)).not.toBe(crc32c(data));
    expect(corrupted).toEqual([]);
    await expect(collect((await store.read(id, { start: 0, end: size - 1, readerVerifiesWhole: true })).stream)).rejects.toMatchObject({ code: 'Corrupt' });
    expect(corrupted).toEqual([id]);
  });

  it('a truncated file or a damaged table is Corrupt before any byte is served', async () => {
    truncateSync(fileOf(id), size + 10);
    await expectCode(store.read(id, { start: 0, end: 10 }), 'Corrupt');
    await expectCode(store.stat(id), 'Corrupt');
    expect(await store.verify(id)).toMatchObject({ ok: false });
    expect(corrupted).toEqual([id]);
    // A damaged replica is replaced by a fresh write of the chunk.
    expect((await store.put(id, pieces(data))).created).toBe(true);
    expect(await store.verify(id)).toMatchObject({ ok: true });
    expect((await store.space()).chunks).toBe(1);
    flipByte(size + 3); // inside the CRC table
    await expectCode(store.read(id), 'Corrupt');
  });

  it('verify is throttled by bytesPerSecMax', async () => {
    const t0 = performance.now();
    expect(await store.verify(id, { bytesPerSecMax: 2 * size })).toMatchObject({ ok: true, meta: { size } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    await expectCode(store.verify(cid(1)), 'NotFound');
  });
});

describe('ChunkStore small replicas (read whole in one read)', () => {
  it('a 4 KiB replica reads back, ranges included; a flipped data byte is Corrupt before any byte is served', async () => {
    const data = bytes(4096, 7);
    const id = cid(0x5a11);
    await store.put(id, pieces(data));
    expect((await collect((await store.read(id)).stream)).equals(data)).toBe(true);
    expect((await collect((await store.read(id, { start: 100, end: 200 })).stream)).equals(data.subarray(100, 200))).toBe(true);
    const f = readFileSync(fileOf(id));
    f[10] = f[10]! ^ 0x40;
    writeFileSync(fileOf(id), f);
    const got: Buffer[] = [];
    const rd = await store.read(id);
    await expect((async () => { for await (const c of rd.stream) got.push(c as Buffer); })()).rejects.toMatchObject({ code: 'Corrupt' });
    expect(got).toEqual([]);
    expect(corrupted).toEqual([id]);
  });

  it('hands a small replica\'s verified range over as bytes; a range touching a damaged segment streams and fails Corrupt', async () => {
    const { dir: d2, cleanup: c2 } = tempDir('chunk-store-small-segs');
    const marked: string[] = [];
    try {
      const s2 = await openStore(d2, { segmentBytes: 512 }, (id) => marked.push(id));
      const data = bytes(2000, 8); // segments [0,512) [512,1024) [1024,1536) [1536,2000)
      const id = cid(0x5a13);
      await s2.put(id, data);
      const whole = await s2.read(id);
      expect(whole.bytes?.equals(data)).toBe(true);
      expect((await collect(whole.stream)).equals(data)).toBe(true);
      expect((await s2.read(id, { start: 600, end: 1500 })).bytes?.equals(data.subarray(600, 1500))).toBe(true);
      const file = join(d2, 'chunks', id.slice(0, 2), id);
      const f = readFileSync(file);
      f[1600] = f[1600]! ^ 0x01; // in the last segment
      writeFileSync(file, f);
      // Ranges clear of the damage still come from memory; one that touches it does not.
      expect((await s2.read(id, { start: 0, end: 1536 })).bytes?.equals(data.subarray(0, 1536))).toBe(true);
      const bad = await s2.read(id, { start: 1000, end: 2000 });
      expect(bad.bytes).toBeUndefined();
      await expect(collect(bad.stream)).rejects.toMatchObject({ code: 'Corrupt' });
      expect(marked).toEqual([id]);
      // A 64 KiB chunk (its file a little over 64 KiB) is small too; a 1 MiB one streams.
      const big = bytes(64 * 1024, 9);
      await s2.put(cid(0x5a14), big);
      expect((await s2.read(cid(0x5a14))).bytes?.equals(big)).toBe(true);
      await s2.put(cid(0x5a15), bytes(1024 * 1024, 10));
      const streamed = await s2.read(cid(0x5a15));
      expect(streamed.bytes).toBeUndefined();
      expect((await collect(streamed.stream)).equals(bytes(1024 * 1024, 10))).toBe(true);
    } finally {
      c2();
    }
  });

  it('a small replica with a damaged table is Corrupt at open', async () => {
    const data = bytes(1000, 9);
    const id = cid(0x5a12);
    await store.put(id, pieces(data));
    const f = readFileSync(fileOf(id));
    f[1001] = f[1001]! ^ 0x01; // inside the one-entry table
    writeFileSync(fileOf(id), f);
    await expectCode(store.read(id), 'Corrupt');
  });
});

describe('ChunkStore writes of a whole chunk in one buffer', () => {
  it('stores the same replica file as a streamed write, and reads it back', async () => {
    for (const [n, size] of [[10, 4096], [11, 3 * SEG + 17], [12, 0]] as const) {
      const data = bytes(size, n);
      const r = await store.put(cid(n), data, { size, crc32c: crc32c(data) });
      expect(r).toMatchObject({ created: true, size, crc32c: crc32c(data) });
      // Byte for byte what the streaming path writes (data ‖ segment table ‖ footer).
      const { dir: other, cleanup: cleanOther } = tempDir('chunk-store-streamed');
      try {
        const streamed = await openStore(other);
        await streamed.put(cid(n), pieces(data, 1000));
        expect(readFileSync(fileOf(cid(n))).equals(readFileSync(join(other, 'chunks', cid(n).slice(0, 2), cid(n))))).toBe(true);
      } finally {
        cleanOther();
      }
      expect((await collect((await store.read(cid(n))).stream)).equals(data)).toBe(true);
      expect((await store.put(cid(n), data)).created).toBe(false);
    }
    await expectCode(store.put(cid(10), bytes(4096, 99)), 'AlreadyExists');
    expect(tmpFiles()).toEqual([]);
  });

  it('size mismatch, CRC mismatch, over-limit and aborted writes leave nothing', async () => {
    const data = bytes(4096, 5);
    await expectCode(store.put(cid(20), data, { size: 4095 }), 'InvalidArgument');
    await expectCode(store.put(cid(20), data, { size: 4097 }), 'InvalidArgument');
    await expectCode(store.put(cid(20), data, { crc32c: (crc32c(data) ^ 1) >>> 0 }), 'Corrupt');
    await expectCode(store.put(cid(20), Buffer.alloc(8 * 1024 * 1024 + 1)), 'TooLarge');
    const ac = new AbortController();
    ac.abort();
    await expect(store.put(cid(20), data, { signal: ac.signal })).rejects.toThrow();
    expect(await store.stat(cid(20))).toBeNull();
    expect(tmpFiles()).toEqual([]);
    const space = await store.space();
    expect(space.chunks).toBe(0);
    expect(space.usedBytes).toBe(0);
  });
});

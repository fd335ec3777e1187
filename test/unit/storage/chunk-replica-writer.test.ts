import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ReplicaWriter, writeReplicaData } from '../../../src/storage/replica-writer.js';

/** A FileHandle that records positioned writes (and fdatasyncs) instead of touching a disk. */
function recordingHandle(): { fh: FileHandle; writes: Array<{ at: number; bytes: number }>; syncs: () => number } {
  const writes: Array<{ at: number; bytes: number }> = [];
  let syncs = 0;
  const fh = {
    writev: async (bufs: Buffer[], position: number) => {
      const bytes = bufs.reduce((n, b) => n + b.length, 0);
      writes.push({ at: position, bytes });
      return { bytesWritten: bytes, buffers: bufs };
    },
    datasync: async () => {
      syncs++;
    },
  } as unknown as FileHandle;
  return { fh, writes, syncs: () => syncs };
}

async function* pieces(total: number, piece: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < total; off += piece) yield Buffer.alloc(Math.min(piece, total - off), off & 0xff);
}

const MiB = 1024 * 1024;
const opts = { segmentBytes: 64 * 1024, chunkBytesMax: 64 * MiB, expectSize: undefined };

describe('writeReplicaData', () => {
  it('a chunk of exactly one write batch (1 MiB) is not written early: all of it goes with the trailer', async () => {
    const r = recordingHandle();
    const out = await writeReplicaData(r.fh, pieces(MiB, 64 * 1024), opts);
    expect(r.writes).toEqual([]);
    expect(out.restAt).toBe(0);
    expect(out.rest.reduce((n, b) => n + b.length, 0)).toBe(MiB);
    expect(out.trailer.size).toBe(MiB);
  });

  it('a larger chunk is written in whole batches as more bytes follow, contiguous, the tail left for the trailer', async () => {
    const r = recordingHandle();
    const total = 2 * MiB + 5000;
    const out = await writeReplicaData(r.fh, pieces(total, 64 * 1024), opts);
    expect(r.writes).toEqual([
      { at: 0, bytes: MiB },
      { at: MiB, bytes: MiB },
    ]);
    expect(out.restAt).toBe(2 * MiB);
    expect(out.rest.reduce((n, b) => n + b.length, 0)).toBe(5000);
    expect(out.trailer.size).toBe(total);
  });

  it('starts an early fdatasync once 8 MiB are written', async () => {
    const r = recordingHandle();
    await writeReplicaData(r.fh, pieces(10 * MiB, 256 * 1024), opts);
    expect(r.syncs()).toBeGreaterThanOrEqual(1);
    expect(r.writes.reduce((n, w) => n + w.bytes, 0)).toBe(9 * MiB);
  });
});

describe('ReplicaWriter (bytes pushed as they arrive)', () => {
  it('takes bytes before its file is open, and asks the caller to wait only while a batch write is in flight', async () => {
    const r = recordingHandle();
    let open!: (fh: FileHandle) => void;
    const w = new ReplicaWriter(new Promise<FileHandle>((resolve) => (open = resolve)), opts);
    const waits: Array<Promise<void> | undefined> = [];
    // 3 MiB in 64 KiB pieces while the file is still being opened.
    for (let i = 0; i < 48; i++) {
      const wait = w.write(Buffer.alloc(64 * 1024, i));
      waits.push(wait);
      if (wait) break; // the caller's contract: wait before the next write
    }
    // The first full batch starts a write (no wait); the second must wait for the first.
    expect(waits.slice(0, 17).every((x) => x === undefined)).toBe(true);
    expect(waits.length).toBe(33);
    expect(r.writes).toEqual([]);
    open(r.fh);
    await waits[32];
    expect(r.writes[0]).toEqual({ at: 0, bytes: MiB });
    const out = await w.finish();
    expect(r.writes).toEqual([
      { at: 0, bytes: MiB },
      { at: MiB, bytes: MiB },
    ]);
    expect(out.restAt).toBe(2 * MiB);
    expect(out.trailer.size).toBe(33 * 64 * 1024);
  });

  it('a failed batch write fails the next wait and finish()', async () => {
    const boom = Object.assign(new Error('disk gone'), { code: 'EIO' });
    const fh = { writev: async () => Promise.reject(boom), datasync: async () => undefined } as unknown as FileHandle;
    const w = new ReplicaWriter(Promise.resolve(fh), opts);
    let wait: Promise<void> | undefined;
    for (let i = 0; i < 64 && wait === undefined; i++) wait = w.write(Buffer.alloc(64 * 1024));
    await expect(wait).rejects.toBe(boom);
    await expect(w.finish()).rejects.toBe(boom);
    await w.abandon();
  });

  it('refuses bytes past the expected size or the limit', () => {
    const w = new ReplicaWriter(Promise.resolve(recordingHandle().fh), { ...opts, expectSize: 10 });
    expect(w.write(Buffer.alloc(10))).toBeUndefined();
    expect(() => w.write(Buffer.alloc(1))).toThrow(/longer than the expected 10/);
    const small = new ReplicaWriter(Promise.resolve(recordingHandle().fh), { ...opts, chunkBytesMax: 100 });
    expect(() => small.write(Buffer.alloc(101))).toThrow(/exceeds the limit/);
  });
});

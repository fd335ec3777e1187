import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { writeReplicaData } from '../../../src/storage/replica-writer.js';

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

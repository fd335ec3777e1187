/**
 * The write side of a replica's data: streams bytes into a temp file with double-buffered
 * positioned writes and early background fdatasync, computing the segment CRCs on the way.
 * Durability (the trailer, the final fsync, the rename) is the store's.
 */
import type { FileHandle } from 'node:fs/promises';
import { CairnError } from '../util/errors.js';
import { SegmentCrcs, type Trailer } from './chunk-format.js';
import { writeAll } from './chunk-files.js';

/** Buffered bytes before one writev to the temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Written-but-unsynced bytes after which a background fdatasync starts (spreads the flush). */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

/**
 * Streams `input` into `fh`, computing per-segment and whole CRCs. Returns the trailer fields
 * and the last batch NOT yet written (`rest`, to go at `restAt` with the trailer in one writev).
 */
export async function writeReplicaData(
  fh: FileHandle,
  input: AsyncIterable<unknown>,
  opts: { segmentBytes: number; chunkBytesMax: number; expectSize: number | undefined },
): Promise<{ trailer: Trailer; rest: Buffer[]; restAt: number }> {
  const { expectSize, chunkBytesMax } = opts;
  const crcs = new SegmentCrcs(opts.segmentBytes);
  let size = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let written = 0;
  let writing: Promise<void> | null = null;
  let syncedTo = 0;
  let syncing: Promise<void> | null = null;
  const limit = expectSize ?? chunkBytesMax;
  try {
    for await (const raw of input) {
      const buf = toBuffer(raw);
      if (buf.length === 0) continue;
      size += buf.length;
      if (size > limit) {
        if (expectSize !== undefined && size <= chunkBytesMax) throw new CairnError('InvalidArgument', `chunk is longer than the expected ${expectSize} bytes`);
        throw new CairnError('TooLarge', `chunk exceeds the limit of ${chunkBytesMax} bytes`);
      }
      crcs.update(buf);
      // A full batch is written only once more bytes follow it, so the last batch (a whole
      // small chunk) always leaves with the trailer in the caller's one writev.
      if (pendingBytes >= WRITE_BATCH_BYTES) {
        // Double buffering: one write in flight while the next batch arrives from the network.
        if (writing) await writing;
        writing = writeAll(fh, pending, written);
        writing.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
        written += pendingBytes;
        pending = [];
        pendingBytes = 0;
        if (written - syncedTo >= EARLY_SYNC_BYTES && syncing === null) {
          // Start writeback early (not awaited here) so the final fsync has only the tail to flush.
          const upTo = written;
          const w = writing;
          syncing = w.then(() => fh.datasync()).then(() => {
            syncedTo = upTo;
            syncing = null;
          });
          syncing.catch(() => undefined);
        }
      }
      pending.push(buf);
      pendingBytes += buf.length;
    }
    if (writing) await writing;
    if (syncing) await syncing;
  } catch (e) {
    // Let writes and syncs in flight finish before the caller closes the file.
    await writing?.catch(() => undefined);
    await syncing?.catch(() => undefined);
    throw e;
  }
  return { trailer: crcs.finish(), rest: pending, restAt: written };
}

function toBuffer(x: unknown): Buffer {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (typeof x === 'string') return Buffer.from(x);
  throw new CairnError('InvalidArgument', 'chunk source must yield bytes');
}

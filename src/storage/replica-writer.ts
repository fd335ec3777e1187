/**
 * The write side of a replica's data: bytes pushed in as they arrive go to a temp file in
 * positioned batch writes (one in flight while the next fills) with early background fdatasync,
 * the segment CRCs computed on the way — each byte hashed once. Durability (the trailer, the
 * final fsync, the rename) is the store's.
 */
import type { FileHandle } from 'node:fs/promises';
import { CairnError } from '../util/errors.js';
import { SegmentCrcs, type Trailer } from './chunk-format.js';
import { writeAll } from './chunk-files.js';

/** Buffered bytes before one writev to the temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Written-but-unsynced bytes after which a background fdatasync starts (spreads the flush). */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

export interface ReplicaWriterOptions {
  segmentBytes: number;
  chunkBytesMax: number;
  expectSize: number | undefined;
}

/** What finish() leaves to the store: the trailer, and the last batch NOT yet written (`rest`, to go at `restAt` with the trailer in one writev). */
export interface ReplicaData {
  trailer: Trailer;
  rest: Buffer[];
  restAt: number;
}

/**
 * Push-style writer of one replica's data into the file `fh` resolves to (writes wait for it, so
 * bytes may be pushed while it is still being opened). Contract: after write() returns a promise,
 * the next write() waits for it; then finish() once, or abandon() after any failure.
 */
export class ReplicaWriter {
  private readonly crcs: SegmentCrcs;
  private readonly limit: number;
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private writing: Promise<void> | null = null;
  private syncedTo = 0;
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly fh: Promise<FileHandle>,
    private readonly opts: ReplicaWriterOptions,
  ) {
    this.crcs = new SegmentCrcs(opts.segmentBytes);
    this.limit = opts.expectSize ?? opts.chunkBytesMax;
    fh.catch(() => undefined); // surfaces through the writes and finish()
  }

  /**
   * Takes `buf` (kept, not copied, until written: the caller must not change it). Throws
   * TooLarge / InvalidArgument past the limit; returns a promise to wait for when a batch write
   * is still in flight (it rejects if that write failed).
   */
  write(buf: Buffer): Promise<void> | undefined {
    if (buf.length === 0) return undefined;
    this.size += buf.length;
    if (this.size > this.limit) {
      if (this.opts.expectSize !== undefined && this.size <= this.opts.chunkBytesMax) throw new CairnError('InvalidArgument', `chunk is longer than the expected ${this.opts.expectSize} bytes`);
      throw new CairnError('TooLarge', `chunk exceeds the limit of ${this.opts.chunkBytesMax} bytes`);
    }
    this.crcs.update(buf);
    // A full batch is written only once more bytes follow it, so the last batch (a whole small
    // chunk) always leaves with the trailer in the store's one writev.
    const wait = this.pendingBytes >= WRITE_BATCH_BYTES ? this.flush() : undefined;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    return wait;
  }

  /** Waits for the writes and syncs in flight; the trailer and the unwritten tail. */
  async finish(): Promise<ReplicaData> {
    if (this.writing) await this.writing;
    if (this.syncing) await this.syncing;
    return { trailer: this.crcs.finish(), rest: this.pending, restAt: this.written };
  }

  /** After a failure: lets writes and syncs in flight end before the caller closes the file. */
  async abandon(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
  }

  /** Starts writing the pending batch after the one in flight; the one in flight is the caller's to wait for. */
  private flush(): Promise<void> | undefined {
    const batch = this.pending;
    const at = this.written;
    const prev = this.writing;
    const w = (prev ?? Promise.resolve()).then(async () => writeAll(await this.fh, batch, at));
    w.catch(() => undefined); // awaited by the next write or finish(); never unhandled meanwhile
    this.writing = w;
    this.written += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.written - this.syncedTo >= EARLY_SYNC_BYTES && this.syncing === null) {
      // Start writeback early (not awaited here) so the final fsync has only the tail to flush.
      const upTo = this.written;
      const s = w.then(async () => (await this.fh).datasync()).then(() => {
        this.syncedTo = upTo;
        this.syncing = null;
      });
      s.catch(() => undefined);
      this.syncing = s;
    }
    return prev ?? undefined;
  }
}

/**
 * Streams `input` into `fh` (ReplicaWriter over an iterable). Returns the trailer fields and the
 * last batch NOT yet written (`rest`, to go at `restAt` with the trailer in one writev).
 */
export async function writeReplicaData(fh: FileHandle, input: AsyncIterable<unknown>, opts: ReplicaWriterOptions): Promise<ReplicaData> {
  const w = new ReplicaWriter(Promise.resolve(fh), opts);
  try {
    for await (const raw of input) {
      const wait = w.write(toBuffer(raw));
      if (wait) await wait;
    }
    return await w.finish();
  } catch (e) {
    await w.abandon();
    throw e;
  }
}

export function toBuffer(x: unknown): Buffer {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (typeof x === 'string') return Buffer.from(x);
  throw new CairnError('InvalidArgument', 'chunk source must yield bytes');
}

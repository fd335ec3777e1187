/**
 * The write side of a replica's data: bytes pushed in as they arrive go to a temp file in
 * positioned batch writes (one in flight while the next fills) with early background fdatasync,
 * the segment CRCs computed on the way — each byte hashed once. Durability (the trailer, the
 * final fsync, the rename) is the store's.
 *
 * With direct writes (direct-writes.ts) the bytes are copied into page-aligned staging buffers
 * and each full buffer goes to the file through an O_DIRECT descriptor, around the page cache;
 * the unaligned end (under 4 KiB, or a short replica's whole tail) is left to the store's
 * buffered writev with the trailer. A write the file system refuses as direct is redone buffered.
 */
import type { FileHandle } from 'node:fs/promises';
import { CairnError } from '../util/errors.js';
import { SegmentCrcs, type Trailer } from './chunk-format.js';
import { writeAll } from './chunk-files.js';
import { DIRECT_ALIGN_BYTES, isDirectRefusal, type DirectWrites } from './direct-writes.js';

/** Buffered bytes before one writev to the temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Written-but-unsynced bytes after which a background fdatasync starts (spreads the flush). */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

export interface ReplicaWriterOptions {
  segmentBytes: number;
  chunkBytesMax: number;
  expectSize: number | undefined;
  /** Write full batches around the page cache: the store's direct writes and the file opened for them (null: it could not be). */
  direct?: { writes: DirectWrites; open: () => Promise<FileHandle | null> };
}

/** A tail at least this long goes direct too (its aligned part); a shorter one, buffered with the trailer. */
const DIRECT_TAIL_BYTES_MIN = 256 * 1024;

/** Direct mode's staging: the buffer being filled, the one written behind it, and the descriptor. */
interface Staging {
  writes: DirectWrites;
  fh: Promise<FileHandle | null>;
  fill: Buffer;
  spare: Buffer;
  filled: number;
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
  private staging: Staging | null = null;
  /** A drain() under way (it may still write a staging buffer): awaited before they are released. */
  private draining: Promise<void> | null = null;

  constructor(
    private readonly fh: Promise<FileHandle>,
    private readonly opts: ReplicaWriterOptions,
  ) {
    this.crcs = new SegmentCrcs(opts.segmentBytes);
    this.limit = opts.expectSize ?? opts.chunkBytesMax;
    fh.catch(() => undefined); // surfaces through the writes and finish()
    const d = opts.direct;
    if (d !== undefined) {
      const fill = d.writes.buffers.take();
      const spare = fill === null ? null : d.writes.buffers.take();
      if (fill !== null && spare !== null) {
        const dfh = d.open();
        dfh.catch(() => undefined); // surfaces through the direct writes
        this.staging = { writes: d.writes, fh: dfh, fill, spare, filled: 0 };
      } else if (fill !== null) d.writes.buffers.give(fill);
    }
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
    const st = this.staging;
    if (st !== null) {
      const n = Math.min(buf.length, st.fill.length - st.filled);
      buf.copy(st.fill, st.filled, 0, n);
      st.filled += n;
      if (st.filled < st.fill.length) return undefined;
      const d = this.drain(st, buf, n);
      d.catch(() => undefined); // the caller's to wait for; abandon() waits for it too
      this.draining = d;
      return d;
    }
    // A full batch is written only once more bytes follow it, so the last batch (a whole small
    // chunk) always leaves with the trailer in the store's one writev.
    const wait = this.pendingBytes >= WRITE_BATCH_BYTES ? this.flush() : undefined;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    return wait;
  }

  /** Waits for the writes and syncs in flight; the trailer and the unwritten tail. */
  async finish(): Promise<ReplicaData> {
    if (this.draining) await this.draining;
    if (this.writing) await this.writing;
    if (this.syncing) await this.syncing;
    const st = this.staging;
    if (st !== null) {
      const aligned = st.filled >= DIRECT_TAIL_BYTES_MIN ? st.filled - (st.filled % DIRECT_ALIGN_BYTES) : 0;
      if (aligned > 0) await this.writeDirect(st, st.fill.subarray(0, aligned), this.written);
      this.written += aligned;
      // Copied out: the staging buffers go back to the pool now.
      this.pending = st.filled > aligned ? [Buffer.from(st.fill.subarray(aligned, st.filled))] : [];
      await this.release(st);
    }
    return { trailer: this.crcs.finish(), rest: this.pending, restAt: this.written };
  }

  /** After a failure: lets writes and syncs in flight end before the caller closes the file. */
  async abandon(): Promise<void> {
    await this.draining?.catch(() => undefined);
    await this.writing?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    if (this.staging !== null) await this.release(this.staging);
  }

  /** No write uses the staging buffers any more: back to the pool, and the direct descriptor closed. */
  private async release(st: Staging): Promise<void> {
    this.staging = null;
    st.writes.buffers.give(st.fill);
    st.writes.buffers.give(st.spare);
    const fh = await st.fh.catch(() => null);
    await fh?.close().catch(() => undefined);
  }

  /**
   * The fill buffer is full: once the write behind it ends, write it (not awaited) and fill the
   * other, with the rest of `buf` from `from` (as many full buffers as it holds).
   */
  private async drain(st: Staging, buf: Buffer, from: number): Promise<void> {
    let off = from;
    for (;;) {
      if (this.writing) await this.writing;
      if (this.staging !== st) return; // released meanwhile (abandoned): the buffers are the pool's
      const full = st.fill;
      const at = this.written;
      const w = this.writeDirect(st, full, at);
      w.catch(() => undefined); // awaited by the next drain or finish(); never unhandled meanwhile
      this.writing = w;
      this.written += full.length;
      st.fill = st.spare;
      st.spare = full;
      st.filled = 0;
      this.syncEarly(w);
      if (off >= buf.length) return;
      const n = Math.min(buf.length - off, st.fill.length);
      buf.copy(st.fill, 0, off, off + n);
      st.filled = n;
      off += n;
      if (n < st.fill.length) return;
    }
  }

  /** One aligned write through the direct descriptor; refused as direct, the same bytes buffered. */
  private async writeDirect(st: Staging, bytes: Buffer, at: number): Promise<void> {
    const fh = st.writes.enabled ? await st.fh : null;
    if (fh !== null) {
      try {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, at + done);
          if (bytesWritten === 0 || bytesWritten % DIRECT_ALIGN_BYTES !== 0) {
            done += bytesWritten;
            break; // a short, unaligned write: the rest goes buffered
          }
          done += bytesWritten;
        }
        if (done === bytes.length) return;
        await writeAll(await this.fh, [bytes.subarray(done)], at + done);
        return;
      } catch (e) {
        if (!isDirectRefusal(e)) throw e;
        st.writes.refuse(e);
      }
    }
    await writeAll(await this.fh, [bytes], at);
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
    this.syncEarly(w);
    return prev ?? undefined;
  }

  /** Past EARLY_SYNC_BYTES unsynced, a data sync after write `w` (not awaited here) so the final fsync has only the tail to flush. */
  private syncEarly(w: Promise<void>): void {
    if (this.written - this.syncedTo < EARLY_SYNC_BYTES || this.syncing !== null) return;
    const upTo = this.written;
    const s = w.then(async () => (await this.fh).datasync()).then(() => {
      this.syncedTo = upTo;
      this.syncing = null;
    });
    s.catch(() => undefined);
    this.syncing = s;
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

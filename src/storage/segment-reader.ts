/**
 * The read side of a replica: verified bytes, each segment's CRC-32C checked before any byte of
 * it is handed out (chunk-format.ts has the layout) — unless the reader checks the whole chunk's
 * CRC itself (`checked` false: a chunk server's GET of a whole chunk for such a reader). Two ways to take them: SegmentBatches, batch
 * by batch into buffers the caller lends (reused, no allocation per batch: the chunk server's GET
 * loop), or SegmentReader, a Readable over it with a fresh buffer per batch.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Clock, Timers } from '../env/clock.js';
import { crc32c } from '../util/crc32c.js';
import { CairnError } from '../util/errors.js';
import { CorruptReplica, readFully, type Trailer } from './chunk-format.js';

/**
 * Verified bytes of [start, end) of one replica, whole segments at a time (up to `batchBytes`
 * rounded down to whole segments, at least one), read with positioned reads. The file handle is
 * closed by close() (idempotent), which the caller must call whatever happened.
 */
export class SegmentBatches {
  /** The longest batch: a buffer lent to next() must be at least this long. */
  readonly bufferBytes: number;
  private nextSeg: number;
  private readonly lastSeg: number; // exclusive
  private readonly segsPerBatch: number;
  /** A mismatch found after a verified prefix that next() already handed out: thrown next. */
  private failure: CairnError | null = null;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly fh: FileHandle,
    private readonly t: Trailer,
    private readonly start: number,
    private readonly end: number,
    batchBytes: number,
    private readonly onCorrupt: (reason: string) => void,
    /** The whole data, already read with the trailer (a small replica): verified here, not re-read. */
    private readonly data?: Buffer,
    /**
     * False: segments are handed out unchecked, for a reader that checks the whole chunk's CRC
     * itself (ChunkReadOptions.readerVerifiesWhole). @default true
     */
    private readonly checked = true,
  ) {
    this.nextSeg = Math.floor(start / t.segmentBytes);
    this.lastSeg = end > start ? Math.ceil(end / t.segmentBytes) : this.nextSeg;
    this.segsPerBatch = Math.max(1, Math.floor(batchBytes / t.segmentBytes));
    this.bufferBytes = Math.min(t.size, this.segsPerBatch * t.segmentBytes);
  }

  get done(): boolean {
    return this.nextSeg >= this.lastSeg && this.failure === null;
  }

  /**
   * The next verified bytes of the range, read into `into` (a view of it; at least bufferBytes
   * long) or a fresh buffer, or null at the end. A segment that fails its CRC is recorded
   * (onCorrupt) and ends the read with CairnError('Corrupt'): the verified segments before it in
   * the same batch come back first, the error on the following call.
   */
  async next(into?: Buffer): Promise<Buffer | null> {
    if (this.failure !== null) throw this.failure;
    if (this.nextSeg >= this.lastSeg) return null;
    const seg = this.t.segmentBytes;
    const first = this.nextSeg;
    const last = Math.min(this.lastSeg, first + this.segsPerBatch);
    const from = first * seg;
    const to = Math.min(this.t.size, last * seg);
    let buf: Buffer;
    if (this.data) {
      buf = this.data.subarray(from, to);
    } else {
      buf = into && into.length >= to - from ? into.subarray(0, to - from) : Buffer.allocUnsafe(to - from);
      try {
        await readFully(this.fh, buf, to - from, from);
      } catch (e) {
        if (!(e instanceof CorruptReplica)) throw e;
        this.onCorrupt(e.message);
        throw (this.failure = new CairnError('Corrupt', e.message));
      }
    }
    // Verify segment by segment; the verified prefix of the batch goes out as one buffer.
    let good = this.checked ? first : last;
    for (; good < last; good++) {
      const segFrom = good * seg - from;
      const segTo = Math.min(to - from, segFrom + seg);
      if (crc32c(buf.subarray(segFrom, segTo)) !== this.t.table[good]) {
        const bad = `segment ${good} fails its CRC-32C`;
        this.onCorrupt(bad);
        this.failure = new CairnError('Corrupt', bad);
        break;
      }
    }
    this.nextSeg = last;
    if (good === first) throw this.failure!;
    return buf.subarray(Math.max(this.start, from) - from, Math.min(this.end, good * seg) - from);
  }

  /** Closes the replica's file (once; later calls wait for the same close). */
  close(): Promise<void> {
    return (this.closing ??= this.fh.close().catch(() => undefined));
  }
}

/**
 * A Readable of verified bytes [start, end) over SegmentBatches: each batch in a fresh buffer
 * (pushed slices reference it), checked before it is pushed.
 */
export class SegmentReader extends Readable {
  private busy = false;

  constructor(private readonly batches: SegmentBatches) {
    super({ highWaterMark: Math.max(1, batches.bufferBytes) });
  }

  override _read(): void {
    if (this.busy) return;
    this.busy = true;
    // `busy` is cleared before pushing, so the stream machinery may ask for the next batch as
    // soon as it wants one.
    this.batches.next().then(
      (buf) => {
        this.busy = false;
        if (this.destroyed) return;
        if (buf === null) return void this.push(null);
        this.push(buf);
        if (this.batches.done) this.push(null);
      },
      (e: unknown) => {
        this.busy = false;
        this.destroy(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.batches.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}

/**
 * Re-reads a whole replica and checks every segment and the whole-chunk CRC, at most
 * `opts.bytesPerSecMax` fast (the scrubber's throttle). Returns null when it all matches, else
 * why not (a damaged or truncated file included). The caller owns `fh`.
 */
export async function verifyReplica(
  fh: FileHandle,
  trailer: Trailer,
  batchBytes: number,
  c: { clock: Clock; timers: Timers },
  opts: { bytesPerSecMax?: number; signal?: AbortSignal },
): Promise<string | null> {
  const t0 = c.clock.nowMs();
  const seg = trailer.segmentBytes;
  const segsPerBatch = Math.max(1, Math.floor(batchBytes / seg));
  const buf = Buffer.allocUnsafe(Math.min(trailer.size, segsPerBatch * seg));
  let whole = 0;
  try {
    for (let s = 0; s < trailer.table.length; s += segsPerBatch) {
      opts.signal?.throwIfAborted();
      const from = s * seg;
      const len = Math.min(trailer.size, (s + segsPerBatch) * seg) - from;
      await readFully(fh, buf, len, from);
      for (let k = 0; k * seg < len; k++) {
        const part = buf.subarray(k * seg, Math.min(len, (k + 1) * seg));
        if (crc32c(part) !== trailer.table[s + k]) return `segment ${s + k} fails its CRC-32C`;
      }
      whole = crc32c(buf.subarray(0, len), whole);
      if (opts.bytesPerSecMax !== undefined && opts.bytesPerSecMax > 0) {
        const dueMs = ((from + len) / opts.bytesPerSecMax) * 1000 - (c.clock.nowMs() - t0);
        if (dueMs > 1) await sleep(c.timers, dueMs, opts.signal);
      }
    }
  } catch (e) {
    if (e instanceof CorruptReplica) return e.message;
    throw e;
  }
  return whole === trailer.crc ? null : 'whole-chunk CRC-32C does not match';
}

function sleep(timers: Timers, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      t.cancel();
      reject(signal!.reason);
    };
    const t = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

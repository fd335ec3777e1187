/**
 * The read side of a replica: a stream of verified bytes that checks each segment's CRC-32C
 * before pushing any byte of it (chunk-format.ts has the layout).
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { crc32c } from '../util/crc32c.js';
import { CairnError } from '../util/errors.js';
import { CorruptReplica, readFully, type Trailer } from './chunk-format.js';

/**
 * A Readable of verified bytes [start, end): reads whole segments in batches with positioned
 * reads into a fresh buffer (pushed slices reference it), checks each segment before pushing.
 */
export class SegmentReader extends Readable {
  private nextSeg: number;
  private readonly lastSeg: number; // exclusive
  private readonly segsPerBatch: number;
  private busy = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly t: Trailer,
    private readonly start: number,
    private readonly end: number,
    batchBytes: number,
    private readonly onCorrupt: (reason: string) => void,
    /** The whole data, already read with the trailer (a small replica): verified here, not re-read. */
    private readonly data?: Buffer,
  ) {
    super({ highWaterMark: Math.max(batchBytes, t.segmentBytes) });
    this.nextSeg = Math.floor(start / t.segmentBytes);
    this.lastSeg = end > start ? Math.ceil(end / t.segmentBytes) : this.nextSeg;
    this.segsPerBatch = Math.max(1, Math.floor(batchBytes / t.segmentBytes));
  }

  override _read(): void {
    if (this.busy) return;
    if (this.nextSeg >= this.lastSeg) {
      this.push(null);
      return;
    }
    this.busy = true;
    this.readBatch().catch((e: unknown) => {
      this.busy = false;
      if (e instanceof CorruptReplica) {
        this.onCorrupt(e.message);
        e = new CairnError('Corrupt', e.message);
      }
      this.destroy(e instanceof Error ? e : new Error(String(e)));
    });
  }

  /**
   * Reads one batch of segments, verifies them, then pushes their bytes. `busy` is cleared
   * before pushing, so the stream machinery may ask for the next batch as soon as it wants one.
   */
  private async readBatch(): Promise<void> {
    const seg = this.t.segmentBytes;
    const first = this.nextSeg;
    const last = Math.min(this.lastSeg, first + this.segsPerBatch);
    const from = first * seg;
    const to = Math.min(this.t.size, last * seg);
    let buf: Buffer;
    if (this.data) {
      buf = this.data.subarray(from, to);
    } else {
      buf = Buffer.allocUnsafe(to - from);
      await readFully(this.fh, buf, to - from, from);
      if (this.destroyed) return;
    }
    // Verify segment by segment; the verified prefix of the batch goes out as one buffer.
    let good = first;
    let bad: string | null = null;
    for (; good < last; good++) {
      const segFrom = good * seg - from;
      const segTo = Math.min(to - from, segFrom + seg);
      if (crc32c(buf.subarray(segFrom, segTo)) !== this.t.table[good]) {
        bad = `segment ${good} fails its CRC-32C`;
        break;
      }
    }
    this.nextSeg = last;
    this.busy = false;
    if (good > first) this.push(buf.subarray(Math.max(this.start, from) - from, Math.min(this.end, good * seg) - from));
    if (bad !== null) {
      this.onCorrupt(bad);
      throw new CairnError('Corrupt', bad);
    }
    if (this.nextSeg >= this.lastSeg) this.push(null);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.fh.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}

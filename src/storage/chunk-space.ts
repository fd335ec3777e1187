/**
 * Space accounting of a chunk store: what it holds (bytes, replicas), what writes in flight have
 * promised, and the free space of its filesystem from statfs. A write is refused up front with
 * CairnError('NoSpace') when free − (bytes reserved by writes in flight) − size < reserveBytes.
 */
import type { Clock } from '../env/clock.js';
import { CairnError } from '../util/errors.js';
import type { ChunkFs } from './chunk-fs.js';

/** How long one statfs reading serves the free-space check of new writes. */
const SPACE_SAMPLE_MS = 500;

/** A statfs reading, and this store's writtenBytes when it was taken. */
interface SpaceSample {
  atMs: number;
  freeBytes: number;
  capacityBytes: number;
  writtenBytes: number;
}

export interface ChunkSpace {
  /** Filesystem size. */
  capacityBytes: number;
  /** Bytes available to us on the filesystem. */
  freeBytes: number;
  /** Bytes of replica files (data + tables) this store holds. */
  usedBytes: number;
  chunks: number;
  /** Free space is below the reserve: the server should refuse new chunks and say so. */
  full: boolean;
}

export class ChunkSpaceAccount {
  private inflightReservedBytes = 0;
  private usedBytes = 0;
  private chunkCount = 0;
  /** Bytes of replicas committed since open (only grows): the free-space estimate subtracts them. */
  private writtenBytes = 0;
  private sample: SpaceSample | null = null;
  private sampling: Promise<SpaceSample> | null = null;

  constructor(
    private readonly components: { clock: Clock; fs: Pick<ChunkFs, 'statfs'> },
    private readonly options: { dir: string; reserveBytes: number },
  ) {}

  /**
   * Promises `bytes` to a write, then checks free space; NoSpace (and nothing promised) unless
   * free space minus every in-flight write's declared size stays above the reserve. The caller
   * releases a successful reservation when its write ends, whatever the outcome.
   */
  async reserve(bytes: number): Promise<void> {
    // Reserve before the (async) free-space check, so concurrent writes see each other.
    this.inflightReservedBytes += bytes;
    try {
      const free = await this.freeBytesEstimate();
      if (free - this.inflightReservedBytes < this.options.reserveBytes)
        throw new CairnError('NoSpace', `${free} bytes free, ${this.inflightReservedBytes} promised to writes in progress, reserve ${this.options.reserveBytes}`);
    } catch (e) {
      this.inflightReservedBytes -= bytes;
      throw e;
    }
  }

  release(bytes: number): void {
    this.inflightReservedBytes -= bytes;
  }

  /** A replica found at open. */
  counted(fileBytes: number): void {
    this.usedBytes += fileBytes;
    this.chunkCount++;
  }

  /** A replica committed by this store. */
  committed(fileBytes: number): void {
    this.usedBytes += fileBytes;
    this.writtenBytes += fileBytes;
    this.chunkCount++;
  }

  /** A replica deleted or replaced. */
  removed(fileBytes: number): void {
    this.usedBytes -= fileBytes;
    this.chunkCount--;
  }

  /** Space on the chunk filesystem (read now) and what this store holds. */
  async space(): Promise<ChunkSpace> {
    const fs = await this.sampleSpace();
    const freeBytes = fs.freeBytes;
    return {
      capacityBytes: fs.capacityBytes,
      freeBytes,
      usedBytes: this.usedBytes,
      chunks: this.chunkCount,
      full: freeBytes - this.inflightReservedBytes < this.options.reserveBytes,
    };
  }

  /**
   * Free bytes on the chunk filesystem: a statfs reading at most SPACE_SAMPLE_MS old, less what
   * this store has committed since it was taken (deletes since are not credited: it errs on the
   * full side). One statfs a write cost a small write as much as its fsync on the main thread.
   */
  private async freeBytesEstimate(): Promise<number> {
    let sample = this.sample;
    if (!sample || this.components.clock.nowMs() - sample.atMs >= SPACE_SAMPLE_MS) {
      this.sampling ??= this.sampleSpace().finally(() => {
        this.sampling = null;
      });
      sample = await this.sampling;
    }
    return sample.freeBytes - (this.writtenBytes - sample.writtenBytes);
  }

  private async sampleSpace(): Promise<SpaceSample> {
    const writtenBytes = this.writtenBytes; // before the statfs: a write committed meanwhile is counted twice at worst
    const fs = await this.components.fs.statfs(this.options.dir);
    this.sample = { atMs: this.components.clock.nowMs(), freeBytes: fs.bavail * fs.bsize, capacityBytes: fs.blocks * fs.bsize, writtenBytes };
    return this.sample;
  }
}

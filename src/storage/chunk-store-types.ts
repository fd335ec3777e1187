/** The chunk store's interfaces (chunk-store.ts): its components and options, what a write and a read take and give. */
import type { Readable } from 'node:stream';
import type { Clock, Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import type { Logger } from '../util/logger.js';
import type { ChunkFs } from './chunk-fs.js';
import type { SegmentBatches } from './segment-reader.js';

export interface ChunkStoreComponents {
  /** For temp-file names. */
  rng: Rng;
  /** For throttled verify(). */
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Called once per chunk when a replica is first found corrupt (read, stat or verify). */
  onCorrupt?: (id: string, reason: string) => void;
  /** A new replica is durable (incremental chunk reports). */
  onAdded?: (id: string) => void;
  /** A replica was deleted. */
  onRemoved?: (id: string) => void;
  /** The calls that make replicas durable (a test's crashable model). @default nodeChunkFs() */
  fs?: ChunkFs;
}

export interface ChunkStoreOptions {
  dir: string;
  /** Largest replica accepted. @default CHUNK_BYTES_MAX_DEFAULT (64 MiB) */
  chunkBytesMax?: number;
  /** Checksum segment for new replicas (each replica records its own). @default SEGMENT_BYTES_DEFAULT (64 KiB) */
  segmentBytes?: number;
  /** Free bytes to keep on the filesystem; writes that would dip below get NoSpace. @default CHUNK_RESERVE_BYTES_DEFAULT (0) */
  reserveBytes?: number;
  /** Bytes read from disk per step of a read stream (rounded to whole segments). @default CHUNK_READ_BATCH_BYTES_DEFAULT (1 MiB) */
  readBatchBytes?: number;
  /**
   * Write replicas of 1 MiB or more around the page cache (O_DIRECT, direct-writes.ts), through
   * at most this many 1 MiB staging buffers (two per replica being written; 0: never).
   * @default CHUNK_DIRECT_BUFFERS_DEFAULT
   */
  directBuffersMax?: number;
}

export interface ChunkMeta {
  id: string;
  size: number;
  crc32c: number;
  segmentBytes: number;
}

export interface ChunkPutOptions {
  /** Expected size: any other length aborts the write (InvalidArgument). */
  size?: number;
  /** Expected whole-chunk CRC-32C: a mismatch aborts the write (Corrupt). */
  crc32c?: number;
  signal?: AbortSignal;
}

/** A replica being written by pushing its bytes (ChunkStore.writer). */
export interface ChunkWriter {
  /** Takes the next bytes (kept until written: do not change them); a returned promise must settle before the next write. */
  write(buf: Buffer): Promise<void> | undefined;
  /** Resolves once the replica is durable (as put() does); at most once. */
  end(): Promise<ChunkPutResult>;
  /** Removes what was written and rejects with `reason` (after end() was called: settles as end() does). */
  abort(reason: unknown): Promise<ChunkPutResult>;
}

export interface ChunkPutResult extends ChunkMeta {
  /** False when an identical replica was already in place. */
  created: boolean;
}

export interface ChunkReadOptions {
  /** First byte, inclusive. @default 0 */
  start?: number;
  /** End, exclusive. @default size */
  end?: number;
  /** Chooses the range once the size is known (overrides start/end; may throw, e.g. RangeNotSatisfiable). */
  resolveRange?: (size: number) => { start: number; end: number };
  signal?: AbortSignal;
  /**
   * The reader checks the whole chunk against its CRC-32C itself (proto/chunk-http.ts H_VERIFY):
   * when the range turns out to be the whole chunk, its segments are read without being checked
   * here. A partial range is checked as always. @default false
   */
  readerVerifiesWhole?: boolean;
}

export interface ChunkRead {
  meta: ChunkMeta;
  start: number;
  end: number;
  /**
   * Verified bytes of [start, end), made on first use. The caller must consume or destroy it (it
   * may hold a file handle) — or use `batches` instead, never both.
   */
  readonly stream: Readable;
  /**
   * The same bytes batch by batch into buffers the caller lends (segment-reader.ts), when the
   * replica was not read whole: the caller must close() it. Not with `stream`.
   */
  batches?: SegmentBatches;
  /**
   * The verified bytes of [start, end) at once, when the replica was small enough to be read
   * whole (its file is already closed): a caller may send these instead of reading `stream`.
   */
  bytes?: Buffer;
}

export interface ChunkVerifyOptions {
  /** Read at most this fast (the scrubber's throttle). @default unlimited */
  bytesPerSecMax?: number;
  signal?: AbortSignal;
}

export type ChunkVerifyResult = { ok: true; meta: ChunkMeta } | { ok: false; reason: string };

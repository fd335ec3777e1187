/**
 * Chunk replicas as plain files, checksummed per segment, written atomically and durably.
 *
 * On-disk layout (under `dir`):
 *   chunks/<first 2 hex digits of id>/<id>   one file per replica: data ‖ table ‖ footer
 *   tmp/<id>.<8 hex>                         uploads in progress; whatever is here at open is a
 *                                            crash leftover and is removed
 * Chunk ids are exactly 32 lowercase hex digits (util/chunk-id.ts); nothing else becomes a path.
 *
 * Replica file format (version 1), all integers big-endian:
 *   [0, size)                    the chunk's bytes, so a read at offset o is a file read at o
 *   [size, size + 4·n)           n = ceil(size / segmentBytes) CRC-32C values, one per segment
 *                                (the last segment may be short; a 0-byte chunk has none)
 *   [size + 4·n, +32)            footer:
 *        0  magic 'CRNC' (4)   4  version u8 = 1   5  reserved (3 zero bytes)
 *        8  segmentBytes u32  12  size u64          20  whole-chunk CRC-32C u32
 *       24  reserved u32 = 0  28  CRC-32C of (table ‖ footer bytes 0..28)
 * The table travels in the same file as the data, and the file reaches its final name only by
 * rename after an fsync, so data and checksums can never disagree after a crash: either the
 * whole replica is there or none of it. The file length must equal size + 4·n + 32 exactly, so a
 * truncated file is detected before a byte is served.
 *
 * Write: stream into tmp/ (CRCs computed on the way), write table + footer, fsync, rename into
 * chunks/xx/, fsync that directory. Aborts, errors, size or CRC mismatches remove the temp file.
 * Writes are idempotent: an identical replica already in place (same size and whole CRC) is a
 * success (`created: false`); a different one is AlreadyExists; an existing replica whose
 * table/footer is damaged is replaced.
 *
 * Read: a Readable of [start, end) that reads whole segments (batched up to readBatchBytes) and
 * checks each segment's CRC before pushing any byte of it; a range read touches only its own
 * segments. On a mismatch the stream fails with CairnError('Corrupt') — bytes of earlier,
 * verified segments have already been delivered — and the chunk is recorded as corrupt
 * (`corruptChunks()`, `onCorrupt`) so the chunk server can report it. Decision: ranges whose
 * segments verify are still served from a replica known to be corrupt elsewhere (every byte
 * served has passed its own CRC); the replica is reported and replaced by repair.
 *
 * Space: `space()` from fs.statfs; a write is refused up front with CairnError('NoSpace') when
 * free − (bytes reserved by writes in flight) − size < reserveBytes, and ENOSPC/EDQUOT during a
 * write become NoSpace too (the temp file removed).
 */
import { mkdir, open, opendir, readdir, rename, rm, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import type { Clock, Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { assert } from '../util/assert.js';
import { isChunkId } from '../util/chunk-id.js';
import { crc32c, crc32cCombine, crc32cCombineWith, crc32cShift } from '../util/crc32c.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export const CHUNK_FORMAT_VERSION = 1;
export const CHUNK_FOOTER_BYTES = 32;
/** A replica file this small is read whole, trailer and data in one read (small GETs). */
const SMALL_REPLICA_BYTES = 64 * 1024;
export const SEGMENT_BYTES_DEFAULT = 64 * 1024;
export const CHUNK_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
const MAGIC = 0x43524e43; // 'CRNC'
/** Buffered bytes before one writev to the temp file. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** How long one statfs reading serves the free-space check of new writes. */
const SPACE_SAMPLE_MS = 500;

/** A statfs reading, and this store's writtenBytes when it was taken. */
interface SpaceSample {
  atMs: number;
  freeBytes: number;
  capacityBytes: number;
  writtenBytes: number;
}
/** Written-but-unsynced bytes after which a background fdatasync starts (spreads the flush). */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

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
}

export interface ChunkStoreOptions {
  dir: string;
  /** Largest replica accepted. @default 64 MiB */
  chunkBytesMax?: number;
  /** Checksum segment for new replicas (each replica records its own). @default 64 KiB */
  segmentBytes?: number;
  /** Free bytes to keep on the filesystem; writes that would dip below get NoSpace. @default 0 */
  reserveBytes?: number;
  /** Bytes read from disk per step of a read stream (rounded to whole segments). @default 1 MiB */
  readBatchBytes?: number;
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
}

export interface ChunkRead {
  meta: ChunkMeta;
  start: number;
  end: number;
  /** Verified bytes of [start, end). The caller must consume or destroy it (it holds a file handle). */
  stream: Readable;
}

export interface ChunkVerifyOptions {
  /** Read at most this fast (the scrubber's throttle). @default unlimited */
  bytesPerSecMax?: number;
  signal?: AbortSignal;
}

export type ChunkVerifyResult = { ok: true; meta: ChunkMeta } | { ok: false; reason: string };

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

interface Trailer {
  size: number;
  crc: number;
  segmentBytes: number;
  /** Segment CRCs. */
  table: Uint32Array;
}

class CorruptReplica extends Error {}

export class ChunkStore {
  private readonly chunksDir: string;
  private readonly tmpDir: string;
  private readonly chunkBytesMax: number;
  private readonly segmentBytes: number;
  /** crc32cShift(segmentBytes): folds a full segment's CRC into the running whole-chunk CRC. */
  private readonly segmentShift: number;
  private readonly reserveBytes: number;
  private readonly readBatchBytes: number;
  private readonly corrupt = new Set<string>();
  private readonly locks = new Map<string, Promise<void>>();
  private inflightReservedBytes = 0;
  private usedBytes = 0;
  /** Bytes of replicas committed since open (only grows): the free-space estimate subtracts them. */
  private writtenBytes = 0;
  private spaceSample: SpaceSample | null = null;
  private spaceSampling: Promise<SpaceSample> | null = null;
  private chunkCount = 0;
  private readonly log: Logger;

  private constructor(
    private readonly components: ChunkStoreComponents,
    options: ChunkStoreOptions,
  ) {
    this.chunksDir = join(options.dir, 'chunks');
    this.tmpDir = join(options.dir, 'tmp');
    this.chunkBytesMax = options.chunkBytesMax ?? CHUNK_BYTES_MAX_DEFAULT;
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES_DEFAULT;
    this.reserveBytes = options.reserveBytes ?? 0;
    this.readBatchBytes = options.readBatchBytes ?? 1024 * 1024;
    this.log = components.logger.child({ component: 'chunk-store' });
    assert(Number.isSafeInteger(this.chunkBytesMax) && this.chunkBytesMax >= 0, 'chunkBytesMax');
    assert(Number.isInteger(this.segmentBytes) && this.segmentBytes >= 512 && this.segmentBytes <= 2 ** 31, 'segmentBytes');
    this.segmentShift = crc32cShift(this.segmentBytes);
    assert(this.reserveBytes >= 0, 'reserveBytes');
    assert(this.readBatchBytes > 0, 'readBatchBytes');
  }

  /**
   * Opens (creating) the store: makes the 256 prefix directories, removes temp files left by a
   * crash, and counts the replicas and their bytes (one stat per replica).
   */
  static async open(components: ChunkStoreComponents, options: ChunkStoreOptions): Promise<ChunkStore> {
    const s = new ChunkStore(components, options);
    await s.init();
    return s;
  }

  private async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.chunksDir, { recursive: true });
    for (let p = 0; p < 256; p++) await mkdir(join(this.chunksDir, prefixOf(p)), { recursive: true });
    await fsyncDir(this.chunksDir);
    let leftovers = 0;
    for (const name of await readdir(this.tmpDir)) {
      await rm(join(this.tmpDir, name), { force: true, recursive: true });
      leftovers++;
    }
    if (leftovers > 0) {
      await fsyncDir(this.tmpDir);
      this.log.info('removed temp files left by a crash', { count: leftovers });
    }
    for await (const id of this.list()) {
      try {
        const st = await stat(this.pathOf(id));
        this.usedBytes += st.size;
        this.chunkCount++;
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    }
  }

  get options(): { chunkBytesMax: number; segmentBytes: number; reserveBytes: number } {
    return { chunkBytesMax: this.chunkBytesMax, segmentBytes: this.segmentBytes, reserveBytes: this.reserveBytes };
  }

  /**
   * Stores a replica from `source`, returning once it is durable (fsynced and renamed, directory
   * fsynced). Throws InvalidArgument (bad id, size mismatch), TooLarge (over chunkBytesMax),
   * Corrupt (CRC mismatch), AlreadyExists (a different replica under this id), NoSpace, or the
   * source's own error / the signal's AbortError; in every failure case nothing is left behind.
   */
  async put(id: string, source: Readable | AsyncIterable<Uint8Array>, opts: ChunkPutOptions = {}): Promise<ChunkPutResult> {
    checkId(id);
    const expectSize = opts.size;
    if (expectSize !== undefined) {
      if (!Number.isSafeInteger(expectSize) || expectSize < 0) throw new CairnError('InvalidArgument', `bad chunk size ${expectSize}`);
      if (expectSize > this.chunkBytesMax) throw new CairnError('TooLarge', `chunk of ${expectSize} bytes exceeds the limit of ${this.chunkBytesMax}`);
    }
    if (opts.crc32c !== undefined) assert(Number.isInteger(opts.crc32c) && opts.crc32c >= 0 && opts.crc32c <= 0xffffffff, 'crc32c');
    const reserve = expectSize ?? 0;
    // Reserve before the (async) free-space check, so concurrent writes see each other.
    this.inflightReservedBytes += reserve;
    try {
      await this.checkSpace();
    } catch (e) {
      this.inflightReservedBytes -= reserve;
      throw e;
    }
    const tmpPath = join(this.tmpDir, `${id}.${this.components.rng.int(2 ** 32).toString(16).padStart(8, '0')}`);
    let fh: FileHandle | null = null;
    try {
      const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
      if (opts.signal) addAbortSignal(opts.signal, input);
      // An abort while `open` is pending destroys `input` with AbortError before writeData
      // listens: without a listener that 'error' would crash the process. writeData's for-await
      // still sees the error (the stream is errored), so nothing is lost by listening here.
      input.on('error', () => undefined);
      fh = await open(tmpPath, 'wx', 0o644);
      const { trailer, rest, restAt } = await this.writeData(fh, input, expectSize);
      if (expectSize !== undefined && trailer.size !== expectSize)
        throw new CairnError('InvalidArgument', `chunk is ${trailer.size} bytes, expected ${expectSize}`);
      if (opts.crc32c !== undefined && trailer.crc !== opts.crc32c >>> 0)
        throw new CairnError('Corrupt', 'chunk data does not match the expected CRC-32C');
      // The last data batch and the trailer leave in one writev; fdatasync flushes the size too.
      rest.push(encodeTrailer(trailer));
      await writeAll(fh, rest, restAt);
      await fh.datasync();
      await fh.close();
      fh = null;
      opts.signal?.throwIfAborted();
      return await this.withLock(id, () => this.commit(id, tmpPath, trailer));
    } catch (e) {
      if (fh) await fh.close().catch(() => undefined);
      await unlink(tmpPath).catch(() => undefined);
      if (isErrno(e, 'ENOSPC') || isErrno(e, 'EDQUOT')) throw new CairnError('NoSpace', 'the chunk disk is full');
      throw e;
    } finally {
      this.inflightReservedBytes -= reserve;
    }
  }

  /**
   * Streams `input` into `fh`, computing per-segment and whole CRCs. Returns the trailer fields
   * and the last batch NOT yet written (`rest`, to go at `restAt` with the trailer in one writev).
   */
  private async writeData(fh: FileHandle, input: AsyncIterable<unknown>, expectSize: number | undefined): Promise<{ trailer: Trailer; rest: Buffer[]; restAt: number }> {
    const seg = this.segmentBytes;
    const segShift = this.segmentShift;
    const table: number[] = [];
    // Each byte is hashed once, into its segment's CRC; the whole-chunk CRC is folded from those.
    let whole = 0;
    let segCrc = 0;
    let segFill = 0;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    let writing: Promise<void> | null = null;
    let syncedTo = 0;
    let syncing: Promise<void> | null = null;
    const limit = expectSize ?? this.chunkBytesMax;
    try {
      for await (const raw of input) {
        const buf = toBuffer(raw);
        if (buf.length === 0) continue;
        size += buf.length;
        if (size > limit) {
          if (expectSize !== undefined && size <= this.chunkBytesMax) throw new CairnError('InvalidArgument', `chunk is longer than the expected ${expectSize} bytes`);
          throw new CairnError('TooLarge', `chunk exceeds the limit of ${this.chunkBytesMax} bytes`);
        }
        let off = 0;
        while (off < buf.length) {
          const n = Math.min(seg - segFill, buf.length - off);
          segCrc = crc32c(buf.subarray(off, off + n), segCrc);
          segFill += n;
          off += n;
          if (segFill === seg) {
            table.push(segCrc);
            whole = crc32cCombineWith(segShift, whole, segCrc);
            segCrc = 0;
            segFill = 0;
          }
        }
        pending.push(buf);
        pendingBytes += buf.length;
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
      }
      if (writing) await writing;
      if (syncing) await syncing;
    } catch (e) {
      // Let writes and syncs in flight finish before the caller closes the file.
      await writing?.catch(() => undefined);
      await syncing?.catch(() => undefined);
      throw e;
    }
    if (segFill > 0) {
      table.push(segCrc);
      whole = crc32cCombine(whole, segCrc, segFill);
    }
    return { trailer: { size, crc: whole, segmentBytes: seg, table: Uint32Array.from(table) }, rest: pending, restAt: written };
  }

  /** Under the id's lock: keep an identical replica, refuse a different one, else rename into place. */
  private async commit(id: string, tmpPath: string, t: Trailer): Promise<ChunkPutResult> {
    const finalPath = this.pathOf(id);
    const meta: ChunkMeta = { id, size: t.size, crc32c: t.crc, segmentBytes: t.segmentBytes };
    let replacing = false;
    let oldBytes = 0;
    try {
      const old = await this.readTrailerAt(finalPath);
      if (old.trailer.size === t.size && old.trailer.crc === t.crc) {
        await unlink(tmpPath);
        return { ...meta, created: false };
      }
      throw new CairnError('AlreadyExists', `a different replica of chunk ${id} is already stored`);
    } catch (e) {
      if (e instanceof CorruptReplica) {
        this.log.warn('replacing a replica with a damaged table', { id, reason: e.message });
        replacing = true;
        oldBytes = (await stat(finalPath)).size;
      } else if (!isErrno(e, 'ENOENT')) {
        throw e;
      }
    }
    await rename(tmpPath, finalPath);
    await fsyncDir(join(this.chunksDir, id.slice(0, 2)));
    if (replacing) {
      this.usedBytes -= oldBytes;
      this.chunkCount--;
      this.corrupt.delete(id);
    }
    this.usedBytes += fileBytesOf(t.size, t.segmentBytes);
    this.writtenBytes += fileBytesOf(t.size, t.segmentBytes);
    this.chunkCount++;
    this.components.onAdded?.(id);
    return { ...meta, created: true };
  }

  /**
   * Opens a verified read of [start, end). Throws InvalidArgument (bad id), NotFound,
   * RangeNotSatisfiable (not 0 ≤ start ≤ end ≤ size), Corrupt (damaged table/footer or truncated
   * file). The stream itself fails with Corrupt at the first segment that does not match.
   */
  async read(id: string, opts: ChunkReadOptions = {}): Promise<ChunkRead> {
    checkId(id);
    const { fh, trailer } = await this.openReplica(id, SMALL_REPLICA_BYTES);
    try {
      const r = opts.resolveRange ? opts.resolveRange(trailer.size) : { start: opts.start ?? 0, end: opts.end ?? trailer.size };
      const { start, end } = r;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > trailer.size)
        throw new CairnError('RangeNotSatisfiable', `range [${start}, ${end}) of a ${trailer.size}-byte chunk`);
      const stream = new SegmentReader(fh, trailer, start, end, this.readBatchBytes, (reason) => this.markCorrupt(id, reason), trailer.data);
      if (opts.signal) addAbortSignal(opts.signal, stream);
      return { meta: metaOf(id, trailer), start, end, stream };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  /** The replica's metadata (from its footer, table checked), or null when absent. Throws Corrupt. */
  async stat(id: string): Promise<ChunkMeta | null> {
    checkId(id);
    try {
      const { trailer } = await this.readTrailerAt(this.pathOf(id));
      return metaOf(id, trailer);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      if (e instanceof CorruptReplica) {
        this.markCorrupt(id, e.message);
        throw new CairnError('Corrupt', `chunk ${id}: ${e.message}`);
      }
      throw e;
    }
  }

  /** Removes a replica durably (directory fsynced). Returns false if there was none. */
  async delete(id: string): Promise<boolean> {
    checkId(id);
    return this.withLock(id, async () => {
      const p = this.pathOf(id);
      let bytes: number;
      try {
        bytes = (await stat(p)).size;
        await unlink(p);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return false;
        throw e;
      }
      await fsyncDir(join(this.chunksDir, id.slice(0, 2)));
      this.usedBytes -= bytes;
      this.chunkCount--;
      this.corrupt.delete(id);
      this.components.onRemoved?.(id);
      return true;
    });
  }

  /**
   * Every stored chunk id, prefix directory by prefix directory (ids sharing a prefix come in
   * directory order, not sorted). Memory stays bounded: one directory handle at a time. Replicas
   * written or deleted during the scan may or may not appear.
   */
  async *list(): AsyncGenerator<string> {
    for (let p = 0; p < 256; p++) {
      const prefix = prefixOf(p);
      let dir;
      try {
        dir = await opendir(join(this.chunksDir, prefix));
      } catch (e) {
        if (isErrno(e, 'ENOENT')) continue;
        throw e;
      }
      for await (const ent of dir) {
        if (ent.isFile() && isChunkId(ent.name) && ent.name.startsWith(prefix)) yield ent.name;
      }
    }
  }

  /**
   * Re-reads a whole replica and checks every segment and the whole-chunk CRC (the scrubber).
   * Throws NotFound when absent. A failed check records the chunk as corrupt.
   */
  async verify(id: string, opts: ChunkVerifyOptions = {}): Promise<ChunkVerifyResult> {
    checkId(id);
    let opened: { fh: FileHandle; trailer: Trailer };
    try {
      opened = await this.openReplica(id);
    } catch (e) {
      if (isCairnError(e, 'Corrupt')) return { ok: false, reason: e.message };
      throw e;
    }
    const { fh, trailer } = opened;
    const { clock, timers } = this.components;
    const t0 = clock.nowMs();
    try {
      const seg = trailer.segmentBytes;
      const segsPerBatch = Math.max(1, Math.floor(this.readBatchBytes / seg));
      const buf = Buffer.allocUnsafe(Math.min(trailer.size, segsPerBatch * seg));
      let whole = 0;
      for (let s = 0; s < trailer.table.length; s += segsPerBatch) {
        opts.signal?.throwIfAborted();
        const from = s * seg;
        const len = Math.min(trailer.size, (s + segsPerBatch) * seg) - from;
        await readFully(fh, buf, len, from);
        for (let k = 0; k * seg < len; k++) {
          const part = buf.subarray(k * seg, Math.min(len, (k + 1) * seg));
          if (crc32c(part) !== trailer.table[s + k]) {
            const reason = `segment ${s + k} fails its CRC-32C`;
            this.markCorrupt(id, reason);
            return { ok: false, reason };
          }
        }
        whole = crc32c(buf.subarray(0, len), whole);
        if (opts.bytesPerSecMax !== undefined && opts.bytesPerSecMax > 0) {
          const dueMs = ((from + len) / opts.bytesPerSecMax) * 1000 - (clock.nowMs() - t0);
          if (dueMs > 1) await sleep(timers, dueMs, opts.signal);
        }
      }
      if (whole !== trailer.crc) {
        const reason = 'whole-chunk CRC-32C does not match';
        this.markCorrupt(id, reason);
        return { ok: false, reason };
      }
      return { ok: true, meta: metaOf(id, trailer) };
    } catch (e) {
      if (e instanceof CorruptReplica) {
        this.markCorrupt(id, e.message);
        return { ok: false, reason: e.message };
      }
      throw e;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Free bytes on the chunk filesystem: a statfs reading at most SPACE_SAMPLE_MS old, less what
   * this store has committed since it was taken (deletes since are not credited: it errs on the
   * full side). One statfs a write cost a small write as much as its fsync on the main thread.
   */
  private async freeBytesEstimate(): Promise<number> {
    let sample = this.spaceSample;
    if (!sample || this.components.clock.nowMs() - sample.atMs >= SPACE_SAMPLE_MS) {
      this.spaceSampling ??= this.sampleSpace().finally(() => {
        this.spaceSampling = null;
      });
      sample = await this.spaceSampling;
    }
    return sample.freeBytes - (this.writtenBytes - sample.writtenBytes);
  }

  private async sampleSpace(): Promise<SpaceSample> {
    const writtenBytes = this.writtenBytes; // before the statfs: a write committed meanwhile is counted twice at worst
    const fs = await statfs(this.chunksDir);
    this.spaceSample = { atMs: this.components.clock.nowMs(), freeBytes: fs.bavail * fs.bsize, capacityBytes: fs.blocks * fs.bsize, writtenBytes };
    return this.spaceSample;
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
      full: freeBytes - this.inflightReservedBytes < this.reserveBytes,
    };
  }

  /** Chunks found corrupt since open (or since their replica was deleted / replaced). */
  corruptChunks(): string[] {
    return [...this.corrupt];
  }

  private markCorrupt(id: string, reason: string): void {
    if (this.corrupt.has(id)) return;
    this.corrupt.add(id);
    this.log.warn('corrupt replica', { id, reason });
    this.components.onCorrupt?.(id, reason);
  }

  /** NoSpace unless free space minus every in-flight write's declared size stays above the reserve. */
  private async checkSpace(): Promise<void> {
    const free = await this.freeBytesEstimate();
    if (free - this.inflightReservedBytes < this.reserveBytes)
      throw new CairnError('NoSpace', `${free} bytes free, ${this.inflightReservedBytes} promised to writes in progress, reserve ${this.reserveBytes}`);
  }

  private pathOf(id: string): string {
    return join(this.chunksDir, id.slice(0, 2), id);
  }

  /** Opens a replica and checks its trailer. NotFound / Corrupt (recorded) as CairnErrors. */
  private async openReplica(id: string, wholeBytesMax = 0): Promise<{ fh: FileHandle; trailer: Trailer & { data?: Buffer } }> {
    let fh: FileHandle;
    try {
      fh = await open(this.pathOf(id), 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new CairnError('NotFound', `chunk ${id} not found`);
      throw e;
    }
    try {
      return { fh, trailer: await readTrailer(fh, wholeBytesMax) };
    } catch (e) {
      await fh.close().catch(() => undefined);
      if (e instanceof CorruptReplica) {
        this.markCorrupt(id, e.message);
        throw new CairnError('Corrupt', `chunk ${id}: ${e.message}`);
      }
      throw e;
    }
  }

  private async readTrailerAt(path: string): Promise<{ trailer: Trailer }> {
    const fh = await open(path, 'r');
    try {
      return { trailer: await readTrailer(fh) };
    } finally {
      await fh.close();
    }
  }

  /** Runs `fn` after every earlier holder of `id`'s lock (commit and delete of one id never interleave). */
  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(id, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

/**
 * A Readable of verified bytes [start, end): reads whole segments in batches with positioned
 * reads into a fresh buffer (pushed slices reference it), checks each segment before pushing.
 */
class SegmentReader extends Readable {
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

function encodeTrailer(t: Trailer): Buffer {
  const n = t.table.length;
  const out = Buffer.alloc(n * 4 + CHUNK_FOOTER_BYTES);
  for (let i = 0; i < n; i++) out.writeUInt32BE(t.table[i]!, i * 4);
  const f = n * 4;
  out.writeUInt32BE(MAGIC, f);
  out.writeUInt8(CHUNK_FORMAT_VERSION, f + 4);
  out.writeUInt32BE(t.segmentBytes, f + 8);
  out.writeBigUInt64BE(BigInt(t.size), f + 12);
  out.writeUInt32BE(t.crc >>> 0, f + 20);
  out.writeUInt32BE(crc32c(out.subarray(0, f + 28)), f + 28);
  return out;
}

/**
 * Reads and checks a replica's footer and table. A replica of at most `wholeBytesMax` file bytes
 * is read in ONE read (data, table and footer), and its data comes back as `data` (unverified:
 * the caller checks it segment by segment like bytes read later) — a small GET then costs one
 * read instead of three.
 */
async function readTrailer(fh: FileHandle, wholeBytesMax = 0): Promise<Trailer & { data?: Buffer }> {
  const fileBytes = (await fh.stat()).size;
  if (fileBytes < CHUNK_FOOTER_BYTES) throw new CorruptReplica(`file of ${fileBytes} bytes is shorter than a footer`);
  let whole: Buffer | null = null;
  let footer: Buffer;
  if (fileBytes <= wholeBytesMax) {
    whole = Buffer.allocUnsafe(fileBytes);
    await readFully(fh, whole, fileBytes, 0);
    footer = whole.subarray(fileBytes - CHUNK_FOOTER_BYTES);
  } else {
    footer = Buffer.alloc(CHUNK_FOOTER_BYTES);
    await readFully(fh, footer, CHUNK_FOOTER_BYTES, fileBytes - CHUNK_FOOTER_BYTES);
  }
  if (footer.readUInt32BE(0) !== MAGIC) throw new CorruptReplica('bad footer magic');
  if (footer.readUInt8(4) !== CHUNK_FORMAT_VERSION) throw new CorruptReplica(`unknown format version ${footer.readUInt8(4)}`);
  const segmentBytes = footer.readUInt32BE(8);
  const size = Number(footer.readBigUInt64BE(12));
  if (segmentBytes === 0 || !Number.isSafeInteger(size)) throw new CorruptReplica('bad footer fields');
  const n = Math.ceil(size / segmentBytes);
  if (fileBytes !== size + n * 4 + CHUNK_FOOTER_BYTES)
    throw new CorruptReplica(`file is ${fileBytes} bytes, its footer says ${size + n * 4 + CHUNK_FOOTER_BYTES} (truncated or damaged)`);
  let tableBuf: Buffer;
  if (whole) {
    tableBuf = whole.subarray(size, size + n * 4);
  } else {
    tableBuf = Buffer.alloc(n * 4);
    if (n > 0) await readFully(fh, tableBuf, n * 4, size);
  }
  const check = crc32c(footer.subarray(0, 28), crc32c(tableBuf));
  if (check !== footer.readUInt32BE(28)) throw new CorruptReplica('table/footer fails its CRC-32C');
  const table = new Uint32Array(n);
  for (let i = 0; i < n; i++) table[i] = tableBuf.readUInt32BE(i * 4);
  const t: Trailer & { data?: Buffer } = { size, crc: footer.readUInt32BE(20), segmentBytes, table };
  if (whole) t.data = whole.subarray(0, size);
  return t;
}

function fileBytesOf(size: number, segmentBytes: number): number {
  return size + Math.ceil(size / segmentBytes) * 4 + CHUNK_FOOTER_BYTES;
}

async function readFully(fh: FileHandle, buf: Buffer, len: number, position: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesRead } = await fh.read(buf, off, len - off, position + off);
    if (bytesRead === 0) throw new CorruptReplica(`unexpected end of file at ${position + off}`);
    off += bytesRead;
  }
}

/** Writes `bufs` at file offset `position` (positioned, so it never depends on a file cursor). */
async function writeAll(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const first = (await fh.writev(bufs, position)).bytesWritten;
  if (first === total) return;
  // Short write (rare): finish with the remainder as one buffer.
  const rest = Buffer.concat(bufs).subarray(first);
  let off = 0;
  while (off < rest.length) {
    const { bytesWritten } = await fh.write(rest, off, rest.length - off, position + first + off);
    off += bytesWritten;
  }
}

async function fsyncDir(path: string): Promise<void> {
  const d = await open(path, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
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

function checkId(id: string): void {
  if (!isChunkId(id)) throw new CairnError('InvalidArgument', 'a chunk id is 32 lowercase hex digits');
}

function metaOf(id: string, t: Trailer): ChunkMeta {
  return { id, size: t.size, crc32c: t.crc, segmentBytes: t.segmentBytes };
}

function prefixOf(p: number): string {
  return p.toString(16).padStart(2, '0');
}

function toBuffer(x: unknown): Buffer {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (typeof x === 'string') return Buffer.from(x);
  throw new CairnError('InvalidArgument', 'chunk source must yield bytes');
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

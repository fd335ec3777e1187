/**
 * Chunk replicas as plain files, checksummed per segment, written atomically and durably.
 *
 * On-disk layout (under `dir`):
 *   chunks/<first 2 hex digits of id>/<id>   one file per replica: data ‖ table ‖ footer
 *   tmp/<id>.<8 hex>                         uploads in progress; whatever is here at open is a
 *                                            crash leftover and is removed
 * Chunk ids are exactly 32 lowercase hex digits (util/chunk-id.ts); nothing else becomes a path.
 *
 * Replica file format: chunk-format.ts (data ‖ segment CRC table ‖ footer). The table travels in
 * the same file as the data, and the file reaches its final name only by rename after an fsync,
 * so data and checksums can never disagree after a crash: either the whole replica is there or
 * none of it.
 *
 * Write: bytes pushed (writer()) or streamed (put()) into tmp/ (replica-writer.ts; CRCs computed
 * on the way, each byte once), write table + footer,
 * fsync, rename into chunks/xx/, fsync that directory (shared by the replicas renamed into it
 * meanwhile: DirSyncs in chunk-files.ts). Aborts, errors, size or CRC mismatches remove the temp file.
 * Writes are idempotent: an identical replica already in place (same size and whole CRC) is a
 * success (`created: false`); a different one is AlreadyExists; an existing replica whose
 * table/footer is damaged is replaced.
 *
 * Read: a Readable of [start, end), or its batches read into buffers the caller lends
 * (segment-reader.ts), of whole segments (batched up to readBatchBytes), each segment's CRC
 * checked before any byte of it is handed out (but for a whole chunk to a reader that checks
 * its CRC itself: readerVerifiesWhole); a range read touches only its own segments. On a mismatch the stream fails with CairnError('Corrupt') — bytes of earlier,
 * verified segments have already been delivered — and the chunk is recorded as corrupt
 * (`corruptChunks()`, `onCorrupt`) so the chunk server can report it. Decision: ranges whose
 * segments verify are still served from a replica known to be corrupt elsewhere (every byte
 * served has passed its own CRC); the replica is reported and replaced by repair.
 *
 * Space (chunk-space.ts): `space()` from fs.statfs; a write is refused up front with
 * CairnError('NoSpace') when free − (bytes reserved by writes in flight) − size < reserveBytes,
 * and ENOSPC/EDQUOT during a write become NoSpace too (the temp file removed).
 */
import { mkdir, opendir, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { CHUNK_BYTES_MAX_DEFAULT, CHUNK_DIRECT_BUFFERS_DEFAULT, CHUNK_READ_BATCH_BYTES_DEFAULT, CHUNK_RESERVE_BYTES_DEFAULT, SEGMENT_BYTES_DEFAULT } from '../config/defaults.js';
import { assert } from '../util/assert.js';
import { isChunkId } from '../util/chunk-id.js';
import { crc32c } from '../util/crc32c.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { CorruptReplica, encodeTrailer, fileBytesOf, readTrailer, type Trailer } from './chunk-format.js';
import { DirSyncs, KeyedLock, isErrno, writeAll } from './chunk-files.js';
import { nodeChunkFs, type ChunkFs } from './chunk-fs.js';
import { ChunkSpaceAccount, type ChunkSpace } from './chunk-space.js';
import { DirectWrites } from './direct-writes.js';
import { ReplicaWriter, toBuffer } from './replica-writer.js';
import { SegmentBatches, SegmentReader, verifyReplica } from './segment-reader.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, makePrivateDir } from './private-files.js';

export { CHUNK_FOOTER_BYTES, CHUNK_FORMAT_VERSION } from './chunk-format.js';
export { CHUNK_BYTES_MAX_DEFAULT, SEGMENT_BYTES_DEFAULT } from '../config/defaults.js';
export type { ChunkSpace } from './chunk-space.js';
export type { SegmentBatches } from './segment-reader.js';

/**
 * A replica file this small is read whole, trailer and data in one read, and its verified range
 * answered from memory (small GETs). Above one 64 KiB chunk's file (data ‖ table ‖ footer).
 */
const SMALL_REPLICA_BYTES = 128 * 1024;

export type { ChunkStoreComponents, ChunkStoreOptions, ChunkMeta, ChunkPutOptions, ChunkWriter, ChunkPutResult, ChunkReadOptions, ChunkRead, ChunkVerifyOptions, ChunkVerifyResult } from './chunk-store-types.js';
import type { ChunkStoreComponents, ChunkStoreOptions, ChunkMeta, ChunkPutOptions, ChunkWriter, ChunkPutResult, ChunkReadOptions, ChunkRead, ChunkVerifyOptions, ChunkVerifyResult } from './chunk-store-types.js';

export class ChunkStore {
  private readonly chunksDir: string;
  private readonly tmpDir: string;
  private readonly chunkBytesMax: number;
  private readonly segmentBytes: number;
  private readonly reserveBytes: number;
  private readonly readBatchBytes: number;
  private readonly corrupt = new Set<string>();
  private readonly locks = new KeyedLock();
  private readonly fs: ChunkFs;
  /** Renames and unlinks in one prefix directory made durable together (group commit). */
  private readonly dirSyncs: DirSyncs;
  private readonly account: ChunkSpaceAccount;
  private readonly log: Logger;
  /** Null when direct writes are off or the file system cannot open files for them. */
  private readonly direct: DirectWrites | null;

  private constructor(
    private readonly components: ChunkStoreComponents,
    options: ChunkStoreOptions,
  ) {
    this.chunksDir = join(options.dir, 'chunks');
    this.tmpDir = join(options.dir, 'tmp');
    this.chunkBytesMax = options.chunkBytesMax ?? CHUNK_BYTES_MAX_DEFAULT;
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES_DEFAULT;
    this.reserveBytes = options.reserveBytes ?? CHUNK_RESERVE_BYTES_DEFAULT;
    this.readBatchBytes = options.readBatchBytes ?? CHUNK_READ_BATCH_BYTES_DEFAULT;
    this.log = components.logger.child({ component: 'chunk-store' });
    this.fs = components.fs ?? nodeChunkFs();
    this.dirSyncs = new DirSyncs((dir) => this.fs.syncDir(dir));
    assert(Number.isSafeInteger(this.chunkBytesMax) && this.chunkBytesMax >= 0, 'chunkBytesMax');
    assert(Number.isInteger(this.segmentBytes) && this.segmentBytes >= 512 && this.segmentBytes <= 2 ** 31, 'segmentBytes');
    assert(this.reserveBytes >= 0, 'reserveBytes');
    assert(this.readBatchBytes > 0, 'readBatchBytes');
    this.account = new ChunkSpaceAccount({ clock: components.clock, fs: this.fs }, { dir: this.chunksDir, reserveBytes: this.reserveBytes });
    this.direct = DirectWrites.over(this.fs, options.directBuffersMax ?? CHUNK_DIRECT_BUFFERS_DEFAULT, this.log);
  }

  /** Direct writes: whether they are on, and the staging buffers made and idle. */
  get directWrites(): { enabled: boolean; buffersMade: number; buffersIdle: number } {
    return this.direct?.state ?? { enabled: false, buffersMade: 0, buffersIdle: 0 };
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
    await makePrivateDir(dirname(this.chunksDir));
    await makePrivateDir(this.tmpDir);
    await makePrivateDir(this.chunksDir);
    for (let p = 0; p < 256; p++) await mkdir(join(this.chunksDir, prefixOf(p)), { recursive: true, mode: PRIVATE_DIR_MODE });
    await this.fs.syncDir(this.chunksDir);
    let leftovers = 0;
    for (const name of await readdir(this.tmpDir)) {
      await rm(join(this.tmpDir, name), { force: true, recursive: true });
      leftovers++;
    }
    if (leftovers > 0) {
      await this.fs.syncDir(this.tmpDir);
      this.log.info('removed temp files left by a crash', { count: leftovers });
    }
    for await (const id of this.list()) {
      try {
        const st = await stat(this.pathOf(id));
        this.account.counted(st.size);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    }
  }

  get options(): { chunkBytesMax: number; segmentBytes: number; reserveBytes: number } {
    return { chunkBytesMax: this.chunkBytesMax, segmentBytes: this.segmentBytes, reserveBytes: this.reserveBytes };
  }

  /**
   * Stores a replica from `source` (a stream, or the whole chunk as one buffer: a small chunk
   * then costs no stream machinery), returning once it is durable (fsynced and renamed, directory
   * fsynced). Throws InvalidArgument (bad id, size mismatch), TooLarge (over chunkBytesMax),
   * Corrupt (CRC mismatch), AlreadyExists (a different replica under this id), NoSpace, or the
   * source's own error / the signal's AbortError; in every failure case nothing is left behind.
   */
  async put(id: string, source: Readable | AsyncIterable<Uint8Array> | Uint8Array, opts: ChunkPutOptions = {}): Promise<ChunkPutResult> {
    if (source instanceof Uint8Array) {
      // The whole chunk in memory (a small chunk): one CRC pass, no stream machinery; the data
      // and its trailer leave in one writev.
      checkId(id);
      checkWhole(source.length, opts.size, this.chunkBytesMax);
      opts.signal?.throwIfAborted();
      const w = this.openWriter(id, opts, source.length);
      w.write(Buffer.from(source.buffer, source.byteOffset, source.byteLength));
      return w.end();
    }
    const w = this.writer(id, opts);
    const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
    if (opts.signal) addAbortSignal(opts.signal, input);
    // An abort while the file is being opened destroys `input` with AbortError before the loop
    // below listens: without a listener that 'error' would crash the process. The for-await still
    // sees the error (the stream is errored), so nothing is lost by listening here.
    input.on('error', () => undefined);
    try {
      for await (const raw of input) {
        const wait = w.write(toBuffer(raw));
        if (wait) await wait;
      }
    } catch (e) {
      return w.abort(e);
    }
    return w.end();
  }

  /**
   * A replica written by pushing its bytes as they arrive (a chunk server's PUT body): write(buf)
   * — when it returns a promise, wait for it before the next write — then end(), which resolves
   * once the replica is durable exactly as put() does, or abort(reason) after any failure, which
   * removes what was written and rejects with `reason`. write() throws TooLarge/InvalidArgument
   * past the size limits; end() and abort() settle once, later calls get the same promise.
   */
  writer(id: string, opts: ChunkPutOptions = {}): ChunkWriter {
    checkId(id);
    return this.openWriter(id, opts, opts.size ?? 0);
  }

  private openWriter(id: string, opts: ChunkPutOptions, reserveBytes: number): ChunkWriter {
    const expectSize = opts.size;
    if (expectSize !== undefined) {
      if (!Number.isSafeInteger(expectSize) || expectSize < 0) throw new CairnError('InvalidArgument', `bad chunk size ${expectSize}`);
      if (expectSize > this.chunkBytesMax) throw new CairnError('TooLarge', `chunk of ${expectSize} bytes exceeds the limit of ${this.chunkBytesMax}`);
    }
    if (opts.crc32c !== undefined) assert(Number.isInteger(opts.crc32c) && opts.crc32c >= 0 && opts.crc32c <= 0xffffffff, 'crc32c');
    const tmpPath = join(this.tmpDir, `${id}.${this.components.rng.int(2 ** 32).toString(16).padStart(8, '0')}`);
    let reserved = false;
    let fh: FileHandle | null = null;
    const opened = this.account.reserve(reserveBytes).then(async () => {
      reserved = true;
      return (fh = await this.fs.open(tmpPath, 'wx', PRIVATE_FILE_MODE));
    });
    const direct = this.direct?.forReplica(expectSize, opened.then(() => tmpPath));
    const w = new ReplicaWriter(opened, { segmentBytes: this.segmentBytes, chunkBytesMax: this.chunkBytesMax, expectSize, ...(direct ? { direct } : {}) });
    let settled: Promise<ChunkPutResult> | null = null;
    const settle = (run: () => Promise<ChunkPutResult>): Promise<ChunkPutResult> =>
      (settled ??= run()
        .catch(async (e: unknown) => {
          await w.abandon();
          await opened.catch(() => undefined);
          if (fh) await fh.close().catch(() => undefined);
          if (reserved) await this.fs.unlink(tmpPath).catch(() => undefined);
          if (isErrno(e, 'ENOSPC') || isErrno(e, 'EDQUOT')) throw new CairnError('NoSpace', 'the chunk disk is full');
          throw e;
        })
        .finally(() => {
          if (reserved) this.account.release(reserveBytes);
        }));
    return {
      write: (buf) => w.write(buf),
      end: () =>
        settle(async () => {
          const { trailer, rest, restAt } = await w.finish();
          const file = await opened;
          if (expectSize !== undefined && trailer.size !== expectSize) throw new CairnError('InvalidArgument', `chunk is ${trailer.size} bytes, expected ${expectSize}`);
          if (opts.crc32c !== undefined && trailer.crc !== opts.crc32c >>> 0) throw new CairnError('Corrupt', 'chunk data does not match the expected CRC-32C');
          // The last data batch and the trailer leave in one writev; fdatasync flushes the size too.
          rest.push(encodeTrailer(trailer));
          await writeAll(file, rest, restAt);
          await file.datasync();
          await file.close();
          fh = null;
          opts.signal?.throwIfAborted();
          return await this.locks.with(id, () => this.commit(id, tmpPath, trailer));
        }),
      abort: (reason) => settle(() => Promise.reject(reason)),
    };
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
        await this.fs.unlink(tmpPath);
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
    await this.fs.rename(tmpPath, finalPath);
    // Acknowledged only after an fsync of the directory that began after the rename.
    await this.dirSyncs.sync(join(this.chunksDir, id.slice(0, 2)));
    if (replacing) {
      this.account.removed(oldBytes);
      this.corrupt.delete(id);
    }
    this.account.committed(fileBytesOf(t.size, t.segmentBytes));
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
      if (trailer.data && segmentsVerify(trailer, trailer.data, start, end)) {
        // A small replica whose wanted segments all verify: served from memory, file closed now.
        // (One that fails goes the streaming way below, which reports it exactly as for any read.)
        opts.signal?.throwIfAborted();
        await fh.close();
        const bytes = trailer.data.subarray(start, end);
        let stream: Readable | null = null;
        return {
          meta: metaOf(id, trailer),
          start,
          end,
          bytes,
          get stream(): Readable {
            return (stream ??= Readable.from(bytes.length > 0 ? [bytes] : [], { objectMode: false }));
          },
        };
      }
      const checked = !(opts.readerVerifiesWhole === true && start === 0 && end === trailer.size);
      const batches = new SegmentBatches(fh, trailer, start, end, this.readBatchBytes, (reason) => this.markCorrupt(id, reason), trailer.data, checked);
      const signal = opts.signal;
      let stream: Readable | null = null;
      return {
        meta: metaOf(id, trailer),
        start,
        end,
        batches,
        get stream(): Readable {
          if (stream === null) {
            stream = new SegmentReader(batches);
            if (signal) addAbortSignal(signal, stream);
          }
          return stream;
        },
      };
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
    return this.locks.with(id, async () => {
      const p = this.pathOf(id);
      let bytes: number;
      try {
        bytes = (await stat(p)).size;
        await this.fs.unlink(p);
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return false;
        throw e;
      }
      await this.dirSyncs.sync(join(this.chunksDir, id.slice(0, 2)));
      this.account.removed(bytes);
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
    try {
      const reason = await verifyReplica(fh, trailer, this.readBatchBytes, this.components, opts);
      if (reason === null) return { ok: true, meta: metaOf(id, trailer) };
      this.markCorrupt(id, reason);
      return { ok: false, reason };
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Releases the directory descriptors kept for fsyncs (after the directory syncs in flight; the
   * store still works afterwards, syncing each directory through a fresh descriptor).
   */
  close(): Promise<void> {
    return this.fs.close();
  }

  /** Space on the chunk filesystem (read now) and what this store holds. */
  space(): Promise<ChunkSpace> {
    return this.account.space();
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

  private pathOf(id: string): string {
    return join(this.chunksDir, id.slice(0, 2), id);
  }

  /** Opens a replica and checks its trailer. NotFound / Corrupt (recorded) as CairnErrors. */
  private async openReplica(id: string, wholeBytesMax = 0): Promise<{ fh: FileHandle; trailer: Trailer & { data?: Buffer } }> {
    let fh: FileHandle;
    try {
      fh = await this.fs.open(this.pathOf(id), 'r');
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
    const fh = await this.fs.open(path, 'r');
    try {
      return { trailer: await readTrailer(fh) };
    } finally {
      await fh.close();
    }
  }
}

/** Whether every segment of `data` that [start, end) touches matches its CRC-32C. */
function segmentsVerify(t: Trailer, data: Buffer, start: number, end: number): boolean {
  const seg = t.segmentBytes;
  const last = end > start ? Math.ceil(end / seg) : 0;
  for (let k = Math.floor(start / seg); k < last; k++) {
    if (crc32c(data.subarray(k * seg, Math.min(t.size, (k + 1) * seg))) !== t.table[k]) return false;
  }
  return true;
}

/** The limits a whole in-memory chunk must meet (the streaming path checks them as bytes arrive). */
function checkWhole(size: number, expectSize: number | undefined, chunkBytesMax: number): void {
  if (size > chunkBytesMax) throw new CairnError('TooLarge', `chunk exceeds the limit of ${chunkBytesMax} bytes`);
  if (expectSize !== undefined && size !== expectSize) throw new CairnError('InvalidArgument', `chunk is ${size} bytes, expected ${expectSize}`);
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

/**
 * The write path: a Writable that cuts its input into chunks, stores each chunk on every one of
 * its target chunk servers, then commits the file through the metadata leader (one Raft entry),
 * which makes it visible atomically.
 *
 * Contracts:
 * - Nothing is visible before the commit; an error, destroy() or the signal before the commit
 *   commits nothing (chunks already stored are garbage the cluster collects).
 * - No placement round trip: each chunk is named and placed from the client's placement view
 *   (placement-cache.ts: chunk id = grant prefix ‖ counter, targets = the leader's writeTargets
 *   rule over the view, the grant as every target's token). No fs.alloc.
 * - A chunk counts only once EVERY target acknowledged it durably (chunk-uploader.ts replaces
 *   failed targets); the chunk's bytes stay in memory until it is acknowledged.
 * - The commit carries the oldest ring version the chunks were placed with. StaleRing (the
 *   leader's ring moved on): the writer refreshes the view, checks that every chunk still has a
 *   holder the new ring counts (in it, not dead: repair restores the rest from that one, as for
 *   any file after a ring change; none: Unavailable, nothing committed), and commits again with
 *   the new version (leader/namespace-calls.ts commit() says why the leader refuses).
 * - Memory is bounded by uploadsInflight × chunkSize: a fixed pool of chunk buffers, one being
 *   filled and the rest uploading (the first starts small and grows to the chunk size only if the
 *   input is that long, so a small file costs a small buffer). When all are busy the _write
 *   callback waits (backpressure), so memory does not grow with the file size; unknown lengths
 *   (stdin) need nothing special.
 * - etag = contentEtag(size, each chunk's (size, CRC-32C)) (util/content-etag.ts): the same bytes
 *   written with the same chunk size get the same etag, as a user checking a download expects.
 * - Small files inline: the start of the input is held in memory (no chunk placed)
 *   while it fits the inline threshold (the client's, at most one chunk); an input that ENDS
 *   there, non-empty, is sent whole as ONE fs.put and stored inline with its metadata (one Raft
 *   entry; etag = inlineEtag(bytes): the etag of the same bytes as a one-chunk file). An input that outgrows the threshold, or a
 *   put the leader refuses (InlineRefused: over the cluster's threshold, which the client then
 *   remembers, or its inline cap), goes the chunk way below. With deferCommit the bytes stay in
 *   memory until commit(), which sends the fs.put (refused: a chunk write, then its commit).
 * - 'finish' and `done` come after the commit; `done` rejects with the stream's error.
 *
 * Pipeline vs fan-out vs split: measured, see PUT_STRATEGY in chunk-uploader.ts.
 */
import { setMaxListeners } from 'node:events';
import { addAbortSignal, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeCommit, decodeStat } from '../proto/meta-answers.js';
import type { FileAttrs } from '../proto/file-attrs.js';
import type { RemotePath } from '../proto/path.js';
import { crc32c } from '../util/crc32c.js';
import { contentEtag } from '../util/content-etag.js';
import { inlineEtagOf } from '../util/inline-etag.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { ClientCore } from './client-core.js';
import type { PlacementView } from './placement-cache.js';
import { ChunkUploader, PUT_STRATEGY, type PutStrategy } from './chunk-uploader.js';

export { PUT_STRATEGIES, PUT_STRATEGY, type PutStrategy } from './chunk-uploader.js';

export interface WriteOptions {
  /** Replace an existing file atomically. @default false (AlreadyExists at commit) */
  overwrite?: boolean;
  /** Chunk size of this file. @default the client's option, else the cluster's */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Called with the total bytes stored so far (chunks acknowledged by every replica). */
  onProgress?(bytes: number): void;
  /** How a chunk reaches its replicas (benchmarks compare them). @default PUT_STRATEGY */
  strategy?: PutStrategy;
  /**
   * Store every chunk but do not commit: `done` resolves once the whole content is durable on its
   * replicas, and the file becomes visible only when `commit()` is called (the HTTP gateway stores
   * every part of a multipart upload before it commits any). Never committed: garbage.
   */
  deferCommit?: boolean;
  /**
   * The exact number of bytes that will be written, when known (an HTTP Content-Length, a file's
   * size): a small file then uses a buffer of its own size instead of a whole chunk's. Writing
   * more than this fails the write.
   */
  expectedSize?: number;
  /**
   * Store the file inline with its metadata (one fs.put) when it ends within the inline threshold
   * (CairnClientOptions.inlineBytesMax, at most one chunk). @default true
   */
  inline?: boolean;
  /**
   * The file's attributes (proto/file-attrs.ts bounds; `content-type` is its media type), stored
   * with it by the commit; they replace an overwritten file's. @default none
   */
  attrs?: FileAttrs;
  /** Labels this write's calls and chunk requests in the servers' logs. @default a fresh one (ClientCore.newRequestId) */
  requestId?: string;
}

export interface PutResult {
  path: string;
  size: number;
  etag: string;
}

/**
 * A stream of unknown length starts its first chunk in a buffer this big and doubles it as it
 * fills (up to the chunk size; later chunks get whole buffers, pooled buffers keep their size):
 * a small file then costs a small buffer, not a whole chunk's worth of memory for the collector.
 */
const BUFFER_BYTES_FIRST = 64 * 1024;

/** Commits refused as StaleRing (each followed by a view refresh) before the write fails. */
const STALE_RING_COMMITS_MAX = 3;

interface Fill {
  buf: Buffer;
  len: number;
  crc: number;
}

export class FileWriter extends Writable {
  readonly done: Promise<PutResult>;
  private resolveDone!: (r: PutResult) => void;
  private rejectDone!: (e: Error) => void;
  private readonly core: ClientCore;
  /** The path's canonical text (parsed by the caller). */
  private readonly path: string;
  private readonly remote: RemotePath;
  private readonly opts: WriteOptions;
  private readonly uploadsInflight: number;
  private readonly uploader: ChunkUploader;
  private chunkSize: number | null;
  /** Free chunk buffers; at most uploadsInflight are ever taken (from the client's pool, ClientCore.chunkBuffers). */
  private readonly pool: Buffer[] = [];
  private buffersTaken = 0;
  private readonly bufferWaiters: Array<() => void> = [];
  private cur: Fill | null = null;
  private readonly uploads = new Set<Promise<void>>();
  /** [id, size, crc] by chunk index. */
  private readonly parts: Array<[string, number, number]> = [];
  /** The servers that acknowledged each chunk, by chunk index. */
  private readonly holders: string[][] = [];
  /** The oldest ring version a chunk was placed with (sent with the commit); null: none placed. */
  private placedWith: number | null = null;
  private nextIndex = 0;
  private total = 0;
  private stored = 0;
  private failure: Error | null = null;
  private readonly ac = new AbortController();
  private settled = false;
  /** With deferCommit: what commit() sends, once everything is stored. */
  private staged: { etag: string; chunks: Array<[string, number, number]> } | null = null;
  /** The input so far while it may still go inline (copies, at most `max` bytes); then null. */
  private held: { bufs: Buffer[]; len: number; max: number } | null = null;
  /** With deferCommit: the whole small file commit() sends as fs.put. */
  private stagedInline: { data: Buffer; crc: number } | null = null;
  private readonly limits: { uploadsInflight: number };
  /** The request id of this write (WriteOptions.requestId). */
  private readonly rid: string;

  constructor(core: ClientCore, path: RemotePath, opts: WriteOptions, limits: { uploadsInflight: number }) {
    super();
    this.core = core;
    this.path = path.text;
    this.remote = path;
    this.opts = opts;
    this.uploadsInflight = limits.uploadsInflight;
    this.chunkSize = opts.chunkSize ?? core.clusterChunkSize;
    this.limits = limits;
    this.rid = opts.requestId ?? core.newRequestId();
    const inlineMax = Math.min(core.inlineBytesMax, this.chunkSize ?? Infinity);
    if (opts.inline !== false && inlineMax > 0 && (opts.expectedSize === undefined || opts.expectedSize <= inlineMax)) {
      this.held = { bufs: [], len: 0, max: inlineMax };
    }
    this.done = new Promise<PutResult>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // the stream's 'error' reports it too
    // Every chunk request listens on this signal: uploadsInflight × R requests at once.
    setMaxListeners(limits.uploadsInflight * 16 + 16, this.ac.signal);
    // Attached last: a signal that is already aborted destroys the writer at once, which must find
    // its fields (Writable's own `signal` option would destroy it inside super(), before them, and
    // `done` would never settle).
    if (opts.signal) addAbortSignal(opts.signal, this);
    this.uploader = new ChunkUploader(
      { core },
      {
        path: this.path,
        strategy: opts.strategy ?? PUT_STRATEGY,
        signal: this.ac.signal,
        requestId: this.rid,
        onPlaced: (v) => (this.placedWith = this.placedWith === null ? v : Math.min(this.placedWith, v)),
      },
    );
    core.track(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.append(chunk).then(
      () => cb(),
      (e: unknown) => cb(e as Error),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finish().then(
      (r) => {
        this.settled = true;
        this.resolveDone(r);
        cb();
      },
      (e: unknown) => cb(e as Error),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // The normal end after a commit: nothing is in flight any more, nothing to abort or report.
    if (err === null && this.settled && this.failure === null) {
      cb(null);
      return;
    }
    this.failure ??= err ?? new CairnError('Unavailable', `write of ${this.path} aborted before commit`);
    this.ac.abort(this.failure);
    this.wakeBufferWaiters();
    if (!this.settled) {
      this.settled = true;
      this.rejectDone(this.failure);
    }
    cb(err);
  }

  /**
   * Writes everything `read(buf)` yields (it fills the start of `buf`, returns the count, 0 at the
   * end), then ends; settles as `done`. Past the inline threshold the bytes are read straight into
   * the chunk buffers: a local file costs no copy and no stream machinery. Instead of
   * write()/pipe() on this writer, never together with them.
   */
  async writeFrom(read: (buf: Buffer) => Promise<number>): Promise<PutResult> {
    try {
      // While the input may still go inline: small reads into what is held (bounded by its max).
      for (let held = this.held; held !== null && this.failure === null && !this.writableEnded; held = this.held) {
        const probe = Buffer.allocUnsafe(held.max + 1 - held.len);
        const n = await read(probe);
        if (n === 0) this.end();
        else await this.append(probe.subarray(0, n));
      }
      if (this.writableEnded) return await this.done;
      const size = await this.knownChunkSize();
      // Each turn reads into the current chunk buffer (at least one byte), or ends at n = 0.
      for (;;) {
        this.throwIfFailed();
        if (this.cur === null) {
          const want = this.nextIndex > 0 ? size : Math.min(size, BUFFER_BYTES_FIRST);
          this.cur = { buf: await this.takeBuffer(want), len: 0, crc: 0 };
          continue;
        }
        const cur = this.cur;
        if (cur.len === cur.buf.length && cur.len < size) cur.buf = grow(cur.buf, cur.len, size);
        const n = await read(cur.buf.subarray(cur.len, Math.min(size, cur.buf.length)));
        if (n === 0) break;
        cur.crc = crc32c(cur.buf.subarray(cur.len, cur.len + n), cur.crc);
        cur.len += n;
        this.total += n;
        if (cur.len === size) {
          this.cur = null;
          this.dispatch(cur, false);
        }
      }
      this.end();
      return await this.done;
    } catch (e) {
      this.destroy(e as Error);
      return await this.done;
    }
  }

  private async append(data: Buffer): Promise<void> {
    const held = this.held;
    if (held) {
      if (held.len + data.length <= held.max) {
        const expected = this.opts.expectedSize;
        if (expected !== undefined && held.len + data.length > expected) throw new CairnError('InvalidArgument', `more than the expected ${expected} bytes were written to ${this.path}`);
        // A copy: the writer of `data` may reuse its buffer once this write is done.
        held.bufs.push(Buffer.from(data));
        held.len += data.length;
        return;
      }
      await this.spill();
    }
    await this.appendChunked(data);
  }

  /** The input is not going inline: what was held starts the chunk way. */
  private async spill(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const b of held.bufs) await this.appendChunked(b);
  }

  private async appendChunked(data: Buffer): Promise<void> {
    const size = await this.knownChunkSize();
    const expected = this.opts.expectedSize;
    // Checked here, not by a full buffer: a chunk buffer from the client's pool may be bigger.
    if (expected !== undefined && this.total + data.length > expected) throw new CairnError('InvalidArgument', `more than the expected ${expected} bytes were written to ${this.path}`);
    let off = 0;
    // Each turn copies into the current chunk buffer, at least one byte, or waits for a buffer.
    while (off < data.length) {
      this.throwIfFailed();
      if (this.cur === null) {
        // Once a whole chunk has been filled the input is long: later buffers start at full size.
        const want = expected !== undefined ? Math.max(1, Math.min(size, expected)) : this.nextIndex > 0 ? size : Math.min(size, BUFFER_BYTES_FIRST);
        this.cur = { buf: await this.takeBuffer(want), len: 0, crc: 0 };
        continue;
      }
      const cur = this.cur;
      if (cur.len === cur.buf.length && cur.len < size) cur.buf = grow(cur.buf, cur.len, size);
      const n = Math.min(data.length - off, size - cur.len, cur.buf.length - cur.len);
      const piece = data.subarray(off, off + n);
      piece.copy(cur.buf, cur.len);
      cur.crc = crc32c(piece, cur.crc);
      cur.len += n;
      off += n;
      this.total += n;
      if (cur.len === size) {
        this.cur = null;
        this.dispatch(cur, false);
      }
    }
  }

  private async finish(): Promise<PutResult> {
    if (this.held && this.held.len > 0) {
      const data = Buffer.concat(this.held.bufs, this.held.len);
      const crc = crc32c(data);
      if (this.opts.deferCommit) {
        this.stagedInline = { data, crc };
        this.total = data.length;
        return { path: this.path, size: data.length, etag: inlineEtagOf(data.length, crc) };
      }
      const r = await this.putInline(data, crc);
      if (r) return r;
      await this.spill();
    }
    // An empty input goes the chunk way too: a commit of no chunks is already one call.
    this.held = null;
    if (this.cur !== null && this.cur.len > 0) {
      const cur = this.cur;
      this.cur = null;
      this.dispatch(cur, true);
    }
    // Bounded: no new uploads start once _final runs.
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    this.releaseBuffers();
    this.throwIfFailed();
    const chunks = this.parts;
    if (chunks.length !== this.nextIndex) throw new CairnError('Internal', 'a chunk is missing at commit');
    const etag = contentEtag(this.total, chunks.map(([, size, crc]) => ({ size, crc })));
    if (this.opts.deferCommit) {
      this.staged = { etag, chunks };
      return { path: this.path, size: this.total, etag };
    }
    return this.commitStaged(etag, chunks);
  }

  /** With deferCommit, after `done`: make the stored content visible at the path (one Raft entry). */
  async commit(): Promise<PutResult> {
    if (!this.opts.deferCommit) throw new CairnError('Internal', 'commit() is for writers opened with deferCommit');
    await this.done;
    if (this.stagedInline) {
      const { data, crc } = this.stagedInline;
      const r = await this.putInline(data, crc);
      if (r) return r;
      // Refused: this stream is finished, so a writer of its own stores the bytes in chunks.
      const w = new FileWriter(this.core, this.remote, { ...this.opts, deferCommit: false, inline: false, requestId: this.rid }, this.limits);
      await pipeline(Readable.from([data]), w);
      return w.done;
    }
    const st = this.staged!;
    return this.commitStaged(st.etag, st.chunks);
  }

  private async commitStaged(etag: string, chunks: Array<[string, number, number]>): Promise<PutResult> {
    // Bounded: STALE_RING_COMMITS_MAX + 1 commits, each refusal followed by a newer view.
    for (let refusals = 0; ; refusals++) {
      const body = {
        path: this.path,
        size: this.total,
        etag,
        chunks,
        overwrite: this.opts.overwrite ?? false,
        parents: true,
        ...(this.placedWith === null ? {} : { ringVersion: this.placedWith }),
        ...(this.opts.attrs ? { attrs: this.opts.attrs } : {}),
      };
      try {
        const r = await this.core.exactlyOnce('fs.commit', body, decodeCommit, this.rid);
        return { path: r.path, size: this.total, etag };
      } catch (e) {
        if (!isCairnError(e, 'StaleRing') || refusals >= STALE_RING_COMMITS_MAX) throw e;
        this.core.counters.staleRingCommits++;
        const view = await this.core.placement.refresh(null);
        this.checkHolders(view);
        this.core.logger.debug('commit placed with an outdated ring; committing again', { path: this.path, placedWith: this.placedWith, ringVersion: view.ringVersion });
        this.placedWith = view.ringVersion;
      }
    }
  }

  /** Every chunk must keep a holder `view`'s ring counts (a member, not dead): else Unavailable. */
  private checkHolders(view: PlacementView): void {
    this.holders.forEach((held, index) => {
      if (held.some((s) => view.ring.server(s) !== undefined && view.ring.server(s)!.state !== 'dead')) return;
      throw new CairnError('Unavailable', `chunk ${index} of ${this.path} is held only by ${held.join(',')}, which ring version ${view.ringVersion} no longer counts; write it again`);
    });
  }

  /** One fs.put of the whole file: its result, or null when the leader will not inline it. */
  private async putInline(data: Buffer, crc: number): Promise<PutResult | null> {
    const r = await this.core.putInline(this.path, data, crc, this.opts.overwrite ?? false, this.rid, this.opts.attrs);
    if (r === null) return null;
    this.stored = data.length;
    this.opts.onProgress?.(data.length);
    return { path: r.path, size: data.length, etag: r.etag };
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private async knownChunkSize(): Promise<number> {
    if (this.chunkSize === null) {
      const view = await this.core.placement.current();
      this.core.clusterChunkSize = view.chunkSize;
      this.chunkSize = this.opts.chunkSize ?? view.chunkSize;
    }
    return this.chunkSize;
  }

  /** A buffer of at least `size` bytes, or (pooled) a smaller one that grows as it fills. */
  private async takeBuffer(size: number): Promise<Buffer> {
    // Each turn either returns a buffer or waits for an upload to return one (or to fail).
    for (;;) {
      this.throwIfFailed();
      const b = this.pool.pop();
      if (b) return b;
      if (this.buffersTaken < this.uploadsInflight) {
        this.buffersTaken++;
        return this.core.chunkBuffers.takeWhole(size);
      }
      await new Promise<void>((resolve) => this.bufferWaiters.push(resolve));
    }
  }

  /**
   * Once every upload has settled: the chunk buffers go to the client's pool for its next reads
   * and writes (a writer destroyed with uploads in flight leaves its buffers to the collector).
   */
  private releaseBuffers(): void {
    for (const b of this.pool.splice(0)) this.core.chunkBuffers.keep(b);
    if (this.cur !== null && this.cur.len === 0) this.core.chunkBuffers.keep(this.cur.buf);
    this.cur = null;
  }

  private wakeBufferWaiters(): void {
    for (const w of this.bufferWaiters.splice(0)) w();
  }

  /** `last`: the input ended (a first chunk that is also the last is a one-chunk file). */
  private dispatch(fill: Fill, last: boolean): void {
    const index = this.nextIndex++;
    if (index === 0 && !last && !this.opts.overwrite) this.checkAbsent();
    const p: Promise<void> = this.upload(index, fill)
      .catch((e: unknown) => {
        this.failure ??= e as Error;
        this.ac.abort(this.failure);
      })
      .finally(() => {
        this.uploads.delete(p);
        this.pool.push(fill.buf);
        this.wakeBufferWaiters();
      });
    this.uploads.add(p);
  }

  private async upload(index: number, fill: Fill): Promise<void> {
    const { id, holders } = await this.uploader.upload(index, fill.buf.subarray(0, fill.len), fill.crc);
    this.parts[index] = [id, fill.len, fill.crc];
    this.holders[index] = holders;
    this.stored += fill.len;
    this.core.counters.chunksWritten++;
    this.opts.onProgress?.(this.stored);
  }

  /**
   * A file bigger than one chunk that would fail with AlreadyExists at commit fails now instead,
   * before the rest is uploaded. Small files skip this read (the commit decides, atomically,
   * in every case; this is only an early answer). Other errors are left to the commit.
   */
  private checkAbsent(): void {
    this.core.read('fs.stat', { path: this.path }, decodeStat, this.rid).then(
      () => {
        const e = new CairnError('AlreadyExists', `${this.path} already exists (overwrite not requested)`);
        this.failure ??= e;
        this.ac.abort(e);
        this.wakeBufferWaiters();
      },
      () => undefined,
    );
  }
}

/** A buffer twice as big as `buf` (at most `max`) holding its first `len` bytes. */
function grow(buf: Buffer, len: number, max: number): Buffer {
  const next = Buffer.allocUnsafeSlow(Math.min(max, Math.max(buf.length * 2, BUFFER_BYTES_FIRST)));
  buf.copy(next, 0, 0, len);
  return next;
}

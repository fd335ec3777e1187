/**
 * The read path: the file's chunk list from fs.open (a linearizable read on the leader, in pages
 * of PAGE_CHUNKS for big files), then the chunks of the requested range in order.
 *
 * Contracts:
 * - Each chunk comes from the first replica that works (fs.open lists them in ring order, live
 *   verified copies first; a range read rotates the first choice: replica-order.ts). On an error, a timeout (the chunk client's idle timeout) or Corrupt
 *   the read fails over to the next replica; a read cut short resumes at the byte already
 *   received. Corrupt replicas are reported with fs.bad. When every replica failed once, the
 *   chunk's locations and token are fetched again and each replica is tried once more.
 * - Chunk servers verify every segment before sending it (storage/chunk-store.ts); a chunk read
 *   whole is also checked here end to end against the CRC-32C the file was committed with, and
 *   no byte of a chunk is passed on before that check (a failing copy is re-read elsewhere).
 * - readAhead chunks are fetched in parallel ahead of the consumer, each buffered whole in a
 *   buffer from the client's pool (ClientCore.chunkBuffers, piece-pool.ts: reused from chunk to
 *   chunk and from read to read), so a read holds at most readAhead + 1 chunk buffers (+ 1
 *   while a piece is being released); bytes go out in order, pulled by the consumer
 *   (backpressure: nothing beyond the read-ahead window is fetched until it is read).
 * - A range touches only the chunks it overlaps, and only their bytes in the range.
 * - The file must not change under the reader: a later page with another etag fails with
 *   PreconditionFailed.
 * - An inline file (stored with its metadata) comes whole in fs.open's answer: its CRC-32C is
 *   checked (Corrupt otherwise) before any byte is passed on, and a range is a slice of it. open()
 *   then hands those bytes over as `inline` as well, and builds the stream only if it is asked
 *   for, so a small read is one metadata call and no stream machinery.
 * - Instead of reading the stream, a consumer that knows when it is done with bytes takes the
 *   pieces one by one (nextPiece): it borrows the pooled buffers themselves, reused once
 *   released, so a big read neither allocates nor faults in a fresh chunk-sized buffer per
 *   chunk. The stream cannot lend (a Readable cannot tell when its consumer is done with a
 *   buffer): it hands out copies, at most STREAM_PIECE_BYTES each. Every loan ends: a piece is
 *   released (reused) or dropped (left to the collector, for bytes something may still read);
 *   destroying the reader gives back the pieces fetched ahead, and a fetch that fails or is
 *   aborted forgets its buffer — so once its consumer has ended the loans it holds, a destroyed
 *   reader has nothing lent (the gateway's GET bodies, api/file-routes.ts sendOpened, rely on it).
 */
import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import { decodeEmpty, decodeOpen, type OpenAnswer, type OpenChunk } from '../proto/meta-answers.js';
import type { FileAttrs } from '../proto/file-attrs.js';
import type { RemotePath } from '../proto/path.js';
import { crc32c } from '../util/crc32c.js';
import { CairnError, isCairnError, type ErrorCode } from '../util/errors.js';
import type { ClientCore } from './client-core.js';
import type { PiecePool, ReadAheadBudget } from './piece-pool.js';
import { replicaOrder } from './replica-order.js';

/** One piece of a read in order, its buffer lent until release() or drop() (FileReader.nextPiece). */
export interface LentPiece {
  bytes: Buffer;
  /** Gives the buffer back for reuse: call once, after every use of `bytes` finished. */
  release(): void;
  /**
   * Ends the loan without reusing the buffer (it is left to the collector): for bytes something
   * may still read, e.g. a socket write that never reported completion. Call instead of release().
   */
  drop(): void;
}

export interface OpenRange {
  /** First byte. @default 0 */
  start?: number;
  /** One past the last byte (exclusive), clamped to the size. @default the size */
  end?: number;
  signal?: AbortSignal;
  /** Labels this read's calls and chunk requests in the servers' logs. @default a fresh one (ClientCore.newRequestId) */
  requestId?: string;
}

export interface OpenResult {
  size: number;
  etag: string | null;
  mtime: number;
  /** The file's attributes (WriteOptions.attrs); {} when none. */
  attrs: FileAttrs;
  /** The whole file's CRC-32C (not the range's); null from a server that does not send it. */
  crc32c: number | null;
  start: number;
  end: number;
  /** The bytes of [start, end) (a Readable made on first use for an inline file). */
  stream: Readable;
  /**
   * An inline file's bytes of [start, end), already checked against their CRC-32C: the same bytes
   * `stream` yields, for a caller that wants them whole (the stream is then never made). Null for
   * a file stored in chunks.
   */
  inline: Buffer | null;
}

/** Chunks per fs.open page. */
export const PAGE_CHUNKS = 1000;
/** Pages of chunk descriptors kept in memory. */
const PAGES_CACHED_MAX = 4;
/** Passes over a chunk's replicas (the second after refreshing its locations). */
const REPLICA_PASSES = 2;

type ChunkDesc = OpenChunk;
type OpenPage = OpenAnswer;

/** The file's chunk descriptors, fetched page by page (pages aligned to PAGE_CHUNKS). */
class ChunkList {
  private readonly pages = new Map<number, ChunkDesc[]>();

  constructor(
    private readonly core: ClientCore,
    readonly path: string,
    readonly head: OpenPage,
    private readonly rid: string,
  ) {
    this.pages.set(0, head.chunks);
  }

  get total(): number {
    return this.head.total;
  }

  async get(index: number): Promise<ChunkDesc> {
    const p = Math.floor(index / PAGE_CHUNKS);
    let page = this.pages.get(p);
    if (!page) {
      page = (await this.fetch(p * PAGE_CHUNKS, PAGE_CHUNKS)).chunks;
      if (this.pages.size >= PAGES_CACHED_MAX) this.pages.delete(this.pages.keys().next().value as number);
      this.pages.set(p, page);
    }
    const d = page[index - p * PAGE_CHUNKS];
    if (!d) throw new CairnError('Internal', `chunk ${index} of ${this.path} missing from its page`);
    return d;
  }

  /** Fresh locations and token for one chunk. */
  async refresh(index: number): Promise<ChunkDesc> {
    const d = (await this.fetch(index, 1)).chunks[0];
    if (!d) throw new CairnError('Internal', `chunk ${index} of ${this.path} missing`);
    return d;
  }

  /** Index of the chunk holding byte `offset` (0 ≤ offset < size): a search over pages. */
  async indexOf(offset: number): Promise<number> {
    const lastPage = Math.floor((this.total - 1) / PAGE_CHUNKS);
    const firstSize = (await this.get(0)).size;
    let lo = 0;
    let hi = lastPage;
    // Writers cut uniform chunks, so the first guess is nearly always right; then bisect.
    let guess = Math.min(lastPage, firstSize > 0 ? Math.floor(Math.floor(offset / firstSize) / PAGE_CHUNKS) : 0);
    // Bounded: every turn narrows [lo, hi] or returns.
    while (lo <= hi) {
      const base = guess * PAGE_CHUNKS;
      const n = Math.min(PAGE_CHUNKS, this.total - base);
      const first = await this.get(base);
      const last = await this.get(base + n - 1);
      if (offset < first.offset) hi = guess - 1;
      else if (offset >= last.offset + last.size) lo = guess + 1;
      else {
        for (let i = base; i < base + n; i++) {
          const d = await this.get(i);
          if (offset >= d.offset && offset < d.offset + d.size) return i;
        }
        break;
      }
      guess = Math.floor((lo + hi) / 2);
    }
    throw new CairnError('Internal', `no chunk of ${this.path} holds byte ${offset}`);
  }

  private async fetch(first: number, count: number): Promise<OpenPage> {
    const r = await this.core.read('fs.open', { path: this.path, first, count }, decodeOpen, this.rid);
    if (r.etag !== this.head.etag || r.total !== this.head.total) throw new CairnError('PreconditionFailed', `${this.path} changed while it was being read`);
    return r;
  }
}

interface Plan {
  list: ChunkList;
  start: number;
  end: number;
  /** Chunk indexes [first, last] overlapping [start, end); first > last when empty. */
  first: number;
  last: number;
  /** An inline file's bytes in [start, end) (no chunks are read); null for a chunked file. */
  inline: Buffer | null;
}

async function openPlan(core: ClientCore, path: string, range: OpenRange, rid: string): Promise<Plan> {
  const head = await core.read('fs.open', { path, first: 0, count: PAGE_CHUNKS }, decodeOpen, rid);
  const start = range.start ?? 0;
  const end = Math.min(range.end ?? head.size, head.size);
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < 0)))
    throw new CairnError('InvalidArgument', 'range start and end must be non-negative integers');
  if (start > head.size || (range.end !== undefined && range.end < start)) throw new CairnError('RangeNotSatisfiable', `range ${start}-${range.end ?? ''} is outside ${path} (${head.size} bytes)`);
  const list = new ChunkList(core, path, head, rid);
  if (head.inline) {
    const { data, crc } = head.inline;
    if (crc32c(data) !== crc) throw new CairnError('Corrupt', `${path}: its inline bytes fail the CRC-32C they were stored with`);
    core.counters.inlineReads++;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    return { list, start, end: Math.max(start, end), first: 0, last: -1, inline: bytes.subarray(start, Math.max(start, end)) };
  }
  if (end <= start) return { list, start, end: start, first: 0, last: -1, inline: null };
  return { list, start, end, first: await list.indexOf(start), last: await list.indexOf(end - 1), inline: null };
}

/**
 * The stream's pieces: copies, this long at most, of the pooled buffer a chunk was read into. A
 * Readable cannot tell when its consumer is done with a buffer, so it cannot lend pooled ones;
 * but a fresh chunk-sized buffer per chunk costs far more than copies: the C allocator hands
 * such buffers back to the kernel when they are freed and the next ones fault in page by page
 * (~0.85 CPU-s of faults per GiB read on this machine), while smaller buffers are mostly reused
 * from its heap (bench/RESULTS.md, 2026-12-06 seventh session).
 */
const STREAM_PIECE_BYTES = 256 * 1024;

export class FileReader extends Readable {
  private readonly core: ClientCore;
  private readonly path: string;
  private readonly readAhead: number;
  private plan: Plan | null = null;
  private readonly init: () => Promise<Plan>;
  private readonly queue: Array<Promise<Buffer[]>> = [];
  private nextIndex = 0;
  private wanted = false;
  private pumping = false;
  /** Aborts the chunk requests in flight; made with the first one (an inline read makes none). */
  private ac: AbortController | null = null;
  /** The request id of this read (OpenRange.requestId). */
  private readonly rid: string;
  /**
   * The rotation slots of the range reads open in this process (replica-order.ts): a new one takes
   * the lowest free slot, so concurrent reads of the same chunk start at different replicas, while
   * the same reads repeated later take the same slots, and so the same replicas, whose page caches
   * already hold those chunks (a replica written around the page cache is read from disk once).
   */
  private static readonly rangeSlots = new Set<number>();
  /** This reader's offset in the rotation over replicas; null for a whole-file read (no rotation). */
  private spreadTurn: number | null = null;
  /** The buffers chunks are read into: the client's, shared by its readers (ClientCore.chunkBuffers). */
  private readonly pool: PiecePool;
  /** The client's read-ahead, shared by its readers (ClientCore.readAheadBudget). */
  private readonly budget: ReadAheadBudget;
  /** The stream's chunk being handed out in copies: its pooled buffer and the next byte to copy. */
  private held: { piece: Buffer; at: number } | null = null;

  private constructor(core: ClientCore, path: string, init: Plan | (() => Promise<Plan>), o: { readAhead: number; signal?: AbortSignal | undefined; rid: string }) {
    // At most one piece in the stream's own buffer (the read-ahead is this reader's queue): a
    // read() takes everything buffered as one buffer, so two pieces buffered would be copied
    // once more into a new one.
    super({ highWaterMark: 1, ...(o.signal ? { signal: o.signal } : {}) });
    this.core = core;
    this.rid = o.rid;
    this.path = path;
    this.readAhead = o.readAhead;
    this.pool = core.chunkBuffers;
    this.budget = core.readAheadBudget;
    if (typeof init === 'function') this.init = init;
    else {
      this.plan = init;
      this.nextIndex = init.first;
      this.init = () => Promise.resolve(init);
    }
    core.track(this);
  }

  static async open(core: ClientCore, path: RemotePath, range: OpenRange, o: { readAhead: number }): Promise<OpenResult> {
    range.signal?.throwIfAborted();
    const rid = range.requestId ?? core.newRequestId();
    const plan = await openPlan(core, path.text, range, rid);
    const { size, etag, mtime } = plan.list.head;
    const attrs = plan.list.head.attrs ?? {};
    const crc = plan.list.head.crc32c ?? null;
    const inline = plan.inline;
    if (inline === null) {
      const stream = new FileReader(core, path.text, plan, { readAhead: o.readAhead, signal: range.signal, rid });
      return { size, etag, mtime, attrs, crc32c: crc, start: plan.start, end: plan.end, stream, inline };
    }
    let stream: Readable | null = null;
    return {
      size,
      etag,
      mtime,
      attrs,
      crc32c: crc,
      start: plan.start,
      end: plan.end,
      inline,
      get stream(): Readable {
        stream ??= new FileReader(core, path.text, { ...plan }, { readAhead: o.readAhead, signal: range.signal, rid });
        return stream;
      },
    };
  }

  static lazy(core: ClientCore, path: RemotePath, range: OpenRange, o: { readAhead: number }): Readable {
    const rid = range.requestId ?? core.newRequestId();
    return new FileReader(core, path.text, () => openPlan(core, path.text, range, rid), { readAhead: o.readAhead, signal: range.signal, rid });
  }

  /**
   * The next piece of the range in order, verified as the stream's are, or null after the last
   * (the reader is then closed). Its buffer is lent: release it once done with its bytes; memory
   * stays bounded by readAhead plus the pieces not yet released. One call at a time; not to be
   * mixed with reading the stream.
   */
  async nextPiece(): Promise<LentPiece | null> {
    if (this.pumping || this.readableFlowing !== null || this.readableLength > 0) throw new CairnError('Internal', 'nextPiece on a reader whose stream is being read');
    if (this.destroyed) this.throwDestroyed();
    this.plan ??= await this.init();
    const plan = this.plan;
    if (plan.inline !== null) {
      const bytes = plan.inline;
      plan.inline = null;
      return bytes.length > 0 ? { bytes, release: () => undefined, drop: () => undefined } : this.endPieces();
    }
    if (this.nextIndex < plan.first) this.nextIndex = plan.first;
    this.fillQueue(plan);
    const next = this.nextQueued();
    if (!next) return this.endPieces();
    let bytes: Buffer;
    try {
      [bytes] = (await next) as [Buffer];
    } catch (e) {
      this.destroy(e as Error);
      throw e;
    }
    const pool = this.pool;
    let released = false;
    const end = (): void => {
      if (released) throw new CairnError('Internal', 'a piece released twice');
      released = true;
    };
    return {
      bytes,
      release: () => {
        end();
        pool.give(bytes);
      },
      drop: () => {
        end();
        pool.forget(bytes);
      },
    };
  }

  private endPieces(): null {
    this.destroy();
    return null;
  }

  private throwDestroyed(): never {
    this.signal().throwIfAborted();
    throw new CairnError('Unavailable', 'read stream destroyed');
  }

  /** Starts fetching the next chunks: up to readAhead of this reader's, within the client's budget (one always). */
  private fillQueue(plan: Plan): void {
    // A destroyed reader starts nothing (its queue was emptied and given back in _destroy).
    if (this.destroyed) return;
    while (this.queue.length < this.readAhead && this.nextIndex <= plan.last && this.budget.take(this.queue.length)) {
      const task = this.fetchPiece(plan, this.nextIndex++);
      task.catch(() => undefined); // awaited in order; this only silences early failures
      this.queue.push(task);
    }
  }

  /** The oldest fetch of the queue, taken out of it (and out of the client's read-ahead). */
  private nextQueued(): Promise<Buffer[]> | undefined {
    const next = this.queue.shift();
    if (next !== undefined) this.budget.give();
    return next;
  }

  override _read(): void {
    this.wanted = true;
    if (this.pumping) return;
    // Never a push from inside _read: read() would hand out what was pushed there together with
    // what was already buffered, copied into one new buffer.
    this.pumping = true;
    queueMicrotask(() => void this.pump());
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.spreadTurn !== null) FileReader.rangeSlots.delete(this.spreadTurn);
    // Nothing is in flight after the end, so a stream destroyed once read (autoDestroy) aborts
    // nothing; before it, chunk requests started now or later see the abort.
    if (!this.readableEnded) {
      this.ac ??= new AbortController();
      this.ac.abort(err ?? new CairnError('Unavailable', 'read stream destroyed'));
    }
    // Pieces fetched ahead that nobody will take: their pooled buffers go back (a fetch still in
    // flight fails on the abort and forgets its own).
    const pool = this.pool;
    const dropped = this.queue.splice(0);
    this.budget.give(dropped.length);
    for (const task of dropped) task.then(([b]) => pool.give(b!), () => undefined);
    if (this.held !== null) pool.give(this.held.piece);
    this.held = null;
    cb(err);
  }

  /** The signal of this reader's chunk requests. */
  private signal(): AbortSignal {
    if (this.ac === null) {
      this.ac = new AbortController();
      setMaxListeners(this.readAhead * 4 + 16, this.ac.signal); // one listener per chunk request in flight
    }
    return this.ac.signal;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      if (!this.plan) {
        this.plan = await this.init();
        this.nextIndex = this.plan.first;
      }
      const plan = this.plan;
      if (plan.inline !== null) {
        // One bounded buffer (at most the inline threshold): no read-ahead to schedule.
        if (plan.inline.length > 0) this.push(plan.inline);
        plan.inline = null;
        this.push(null);
        return;
      }
      // Chunks land in pooled buffers; the stream hands out copies of them, one piece of at
      // most STREAM_PIECE_BYTES per push, and only while the consumer wants more.
      const pool = this.pool;
      while (this.wanted && !this.destroyed) {
        if (this.held === null) {
          this.fillQueue(plan);
          const next = this.nextQueued();
          if (!next) {
            this.push(null);
            return;
          }
          this.fillQueue(plan); // keep readAhead fetches in flight while this one is handed out
          const [piece] = (await next) as [Buffer];
          if (this.destroyed) {
            pool.give(piece);
            return;
          }
          this.held = { piece, at: 0 };
        }
        const held = this.held;
        const end = Math.min(held.piece.length, held.at + STREAM_PIECE_BYTES);
        const copy = Buffer.allocUnsafeSlow(end - held.at);
        held.piece.copy(copy, 0, held.at, end);
        held.at = end;
        if (end === held.piece.length) {
          this.held = null;
          pool.give(held.piece);
        }
        this.wanted = false;
        if (this.push(copy)) this.wanted = true;
      }
    } catch (e) {
      this.destroy(e as Error);
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The bytes of chunk `index` inside the plan's range, verified, in one buffer the replies are
   * read straight into (chunk-client.ts readChunk); fails over between replicas, a cut read
   * resuming after the bytes already in place.
   */
  private async fetchPiece(plan: Plan, index: number): Promise<Buffer[]> {
    const d = await plan.list.get(index);
    const from = Math.max(plan.start, d.offset) - d.offset;
    const to = Math.min(plan.end, d.offset + d.size) - d.offset;
    // A failed read's pooled buffer is not given back (a socket read may still be landing in it),
    // only forgotten, on every way out but success.
    const pool = this.pool;
    const piece = pool.take(to - from);
    try {
      return await this.fillPiece(plan, index, d, piece, from, to);
    } catch (e) {
      pool.forget(piece);
      throw e;
    }
  }

  /** fetchPiece's replica loop: `piece` filled with bytes [from, to) of chunk `index`, verified. */
  private async fillPiece(plan: Plan, index: number, d: ChunkDesc, piece: Buffer, from: number, to: number): Promise<Buffer[]> {
    const whole = from === 0 && to === d.size;
    const signal = this.signal();
    let got = 0;
    const sources = new Set<string>();
    let lastErr: unknown = null;
    for (let pass = 0; pass < REPLICA_PASSES; pass++) {
      if (pass > 0) d = await plan.list.refresh(index);
      for (const rep of replicaOrder(d.replicas, this.spreadsOver(plan), index + (this.spreadTurn ?? 0))) {
        signal.throwIfAborted();
        // A whole chunk in ONE response is checked by the chunk client against the replica's CRC
        // header, so comparing that header with the committed CRC checks the bytes end to end
        // without hashing them twice. A piece put together from several responses (a resumed
        // read) is hashed here once it is complete.
        const single = whole && got === 0;
        try {
          const r = await this.core.chunks.readChunk(rep.addr, d.id, d.token, {
            ...(single ? {} : { range: { start: from + got, end: to } }),
            into: piece.subarray(got),
            signal,
            requestId: this.rid,
          });
          sources.add(rep.id);
          if (single && r.crc32c !== d.crc) throw new CairnError('Corrupt', `chunk ${d.id} on ${rep.addr} is not the one committed (its CRC-32C differs)`);
          got = to - from;
          if (whole && !single && crc32c(piece) !== d.crc) throw new CairnError('Corrupt', `chunk ${d.id} from ${[...sources].join('+')} fails the CRC-32C it was committed with`);
          return [piece];
        } catch (e) {
          signal.throwIfAborted();
          lastErr = e;
          this.core.counters.readFailovers++;
          this.core.logger.debug('chunk read failed; failing over', { chunk: d.id, server: rep.id, err: (e as Error).message });
          const received = isCairnError(e) && typeof e.detail?.received === 'number' ? e.detail.received : 0;
          if (isCairnError(e, 'Corrupt')) {
            // A copy that fails its checksum is reported (when it alone supplied the bytes) and
            // nothing of this attempt is kept: the chunk is read again from its start.
            if (sources.size <= 1) this.reportBad(d.id, rep.id);
            got = 0;
            sources.clear();
          } else if (received > 0) {
            // Bytes that arrived before the cut are in place: the next replica sends the rest.
            got += received;
            sources.add(rep.id);
          }
        }
      }
    }
    const code: ErrorCode = isCairnError(lastErr) && (lastErr.code === 'Corrupt' || lastErr.code === 'Unauthorized') ? lastErr.code : 'Unavailable';
    const why = lastErr instanceof Error ? lastErr.message : 'no replica known';
    throw new CairnError(code, `cannot read chunk ${index} of ${this.path}: every replica failed (last: ${why})`);
  }

  /** Whether this read rotates over replicas: a range (not the whole file). */
  private spreadsOver(plan: Plan): boolean {
    if (plan.start === 0 && plan.end === plan.list.head.size) return false;
    if (this.spreadTurn === null && !this.destroyed) {
      let slot = 0;
      while (FileReader.rangeSlots.has(slot)) slot++;
      FileReader.rangeSlots.add(slot);
      this.spreadTurn = slot;
    }
    return true;
  }

  private reportBad(id: string, server: string): void {
    this.core.counters.badReplicasReported++;
    // Retried: a replica reported bad twice is bad once.
    this.core.idempotentWrite('fs.bad', { id, server }, (a) => decodeEmpty(a, 'fs.bad'), this.rid).catch((e: unknown) => this.core.logger.debug('fs.bad not delivered', { id, server, err: (e as Error).message }));
  }
}

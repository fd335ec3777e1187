/**
 * CairnClient: the client library used by the CLI, the HTTP gateway and batch jobs. Users build
 * one with createCairnClient(config) (`import { createCairnClient, resolveClientConfig } from
 * 'cairn'`); the class itself takes its transports, timers and rng (components), so tests run it
 * over in-process or fake ones.
 *
 * - Namespace calls go to the metadata leader through the MetaCaller (a MetaSession: leader
 *   discovery from any subset of addresses, NotLeader hints followed). Reads are linearizable on
 *   the leader and retried freely; namespace writes carry s = [client, seq, ackedBelow]
 *   (RequestIds), so retrying them after a timeout or leader change is safe too: the state
 *   machine answers a retry with the first outcome. client-core.ts names the kinds of call.
 * - Bulk bytes go straight to and from chunk servers over HTTP (ChunkTransport): see
 *   file-writer.ts (write path) and file-reader.ts (read path).
 * - Paths are parsed once on entry (a string, or a RemotePath parsed by the caller) and passed
 *   as RemotePath after that.
 * - Errors are CairnError with the catalogue code the server sent (NotFound, AlreadyExists,
 *   IsADirectory, NotADirectory, NotEmpty, InvalidPath, Unauthorized, Unavailable, …); an
 *   answer that does not have its documented shape is a ProtocolError.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock, Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { decodeClusterStatus, decodeCommit, decodeEmpty, decodeList, decodeRepairStatus, decodeScrubRound, decodeStat, decodeTransferLeader, type ClusterStatus, type EntryType, type ListEntryAnswer, type RepairStatus, type ScrubRoundStatus } from '../proto/meta-answers.js';
import { attrsProblem, type FileAttrs } from '../proto/file-attrs.js';
import { streamBackup, type BackupSink } from './backup-stream.js';
import type { BackupImageInfo } from '../proto/backup-requests.js';
import { RemotePath } from '../proto/path.js';
import { crc32c } from '../util/crc32c.js';
import { composeCrc32c } from '../util/crc32c-combine.js';
import { CairnError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ClientCore, type ChunkTransport, type ClientCounters, type MetaCaller } from './client-core.js';
import { FileReader, type OpenRange, type OpenResult } from './file-reader.js';
import { FileWriter, type PutResult, type WriteOptions } from './file-writer.js';
import { CHUNK_BUFFERS_BURST_KEEP_DEFAULT, INLINE_BYTES_MAX_DEFAULT, READ_AHEAD_DEFAULT, UPLOADS_INFLIGHT_DEFAULT } from '../config/defaults.js';
import { INLINE_FILE_BYTES_MAX } from '../proto/meta-fields.js';

export type { ClusterStatus, EntryType, RepairStatus, ScrubRoundStatus } from '../proto/meta-answers.js';
export type { ChunkTransport, ClientCounters, MetaCaller } from './client-core.js';
export type { OpenRange, OpenResult } from './file-reader.js';
export type { PutResult, WriteOptions } from './file-writer.js';

/** A remote path: a canonical string (checked on entry) or one already parsed. */
export type PathArg = string | RemotePath;

/** What the client talks to and runs on; createCairnClient builds the real ones. */
export interface CairnClientComponents {
  /** The metadata leader (a MetaSession: leader discovery, retries). */
  meta: MetaCaller;
  /** The chunk servers (a ChunkClient). */
  chunks: ChunkTransport;
  timers: Timers;
  /** Monotonic time (how old the placement view is). */
  clock: Clock;
  /** Draws the default client id. */
  rng: Rng;
  logger?: Logger;
}

export interface CairnClientOptions {
  /** Session id for exactly-once writes ([A-Za-z0-9._:-]{1,128}). @default random */
  clientId?: string;
  /** Chunk size of new files. @default the cluster's (fs.view) */
  chunkSize?: number;
  /** Chunks being uploaded (or filled) at once per write; memory ≈ uploadsInflight × chunkSize. @default 3 */
  uploadsInflight?: number;
  /** Chunks fetched ahead of the reader per read; memory ≈ readAhead × chunkSize. @default 3 */
  readAhead?: number;
  /**
   * A write that ends within this many bytes (and within one chunk) is sent whole to the leader
   * and stored inline with its metadata (fs.put: one call, one Raft entry); 0: never. Lowered to
   * the cluster's own threshold when the leader refuses a file as over it.
   * @default INLINE_BYTES_MAX_DEFAULT
   */
  inlineBytesMax?: number;
}

export interface StatResult {
  path: string;
  type: EntryType;
  size: number;
  /** ms since the epoch */
  mtime: number;
  etag: string | null;
  /** `replicas`: chunk servers that hold a verified copy now (ids). */
  chunks: Array<{ id: string; size: number; replicas: string[] }>;
  /** The file's attributes (WriteOptions.attrs); {} when none and for a directory. */
  attrs: FileAttrs;
  /**
   * A file's CRC-32C (Castagnoli) of all its bytes, composed from its chunks' CRCs (as GCS and
   * HDFS COMPOSITE_CRC); null for a directory. crcToHex (util/crc32c.ts) gives the 8 hex digits.
   */
  crc32c: number | null;
}

export type ListEntry = ListEntryAnswer;

export interface ListResult {
  entries: ListEntry[];
  /** Pass back for the next page; null on the last page. */
  cursor: string | null;
}

const LS_PAGE_ENTRIES = 1000;
export const CHUNK_SIZE_MAX = 256 * 1024 * 1024;
const CLIENT_ID_HEX_DIGITS = 24;

export class CairnClient {
  readonly clientId: string;
  readonly counters: ClientCounters;
  private readonly core: ClientCore;
  private readonly metaCaller: MetaCaller;
  private readonly chunkSize: number | undefined;
  private readonly uploadsInflight: number;
  private readonly readAhead: number;

  constructor(components: CairnClientComponents, options: CairnClientOptions = {}) {
    this.clientId = options.clientId ?? `cl-${randomHex(components.rng, CLIENT_ID_HEX_DIGITS)}`;
    if (options.chunkSize !== undefined) checkChunkSize(options.chunkSize);
    this.chunkSize = options.chunkSize;
    this.uploadsInflight = positiveInt(options.uploadsInflight ?? UPLOADS_INFLIGHT_DEFAULT, 'uploadsInflight', 64);
    this.readAhead = positiveInt(options.readAhead ?? READ_AHEAD_DEFAULT, 'readAhead', 64);
    const inlineBytesMax = options.inlineBytesMax ?? INLINE_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(inlineBytesMax) || inlineBytesMax < 0 || inlineBytesMax > INLINE_FILE_BYTES_MAX) throw new CairnError('InvalidArgument', `inlineBytesMax must be an integer in 0..${INLINE_FILE_BYTES_MAX}`);
    const logger = (components.logger ?? silentLogger).child({ component: 'cairn-client' });
    this.core = new ClientCore({ meta: components.meta, chunks: components.chunks, timers: components.timers, clock: components.clock, logger }, {
      clientId: this.clientId,
      inlineBytesMax,
      // What one read uses at once (readAhead fetches, the piece being handed out, one more
      // being released), or one write (its uploads in flight and the chunk filling), kept idle
      // for the next read or write.
      chunkBuffersKeptMax: Math.max(this.readAhead + 2, this.uploadsInflight + 1),
      // Several reads or writes at once: what they used together, for a few seconds.
      chunkBuffersBurstKeepMax: CHUNK_BUFFERS_BURST_KEEP_DEFAULT,
      readAheadMax: this.readAhead,
    });
    this.counters = this.core.counters;
    this.metaCaller = components.meta;
  }

  async stat(path: PathArg): Promise<StatResult> {
    const r = await this.core.read('fs.stat', { path: RemotePath.of(path).text }, decodeStat);
    return { path: r.path, type: r.type, size: r.size, mtime: r.mtime, etag: r.etag, chunks: r.chunks.map((c) => ({ id: c.id, size: c.size, replicas: c.replicas })), attrs: r.attrs ?? {}, crc32c: r.type === 'file' ? (r.crc32c ?? composeCrc32c(r.chunks)) : null };
  }

  /** One page of a directory, names in byte order. */
  async list(path: PathArg, opts: { limit?: number; cursor?: string | null } = {}): Promise<ListResult> {
    return this.page('fs.list', RemotePath.of(path), opts);
  }

  /** Every entry of a directory (or, recursive, everything below it in pre-order), paging as it goes. */
  async *ls(path: PathArg, opts: { recursive?: boolean } = {}): AsyncIterable<ListEntry> {
    const p = RemotePath.of(path);
    const method = opts.recursive ? 'fs.walk' : 'fs.list';
    let cursor: string | null = null;
    // Each page advances the cursor; a page without a cursor is the last.
    for (;;) {
      const page = await this.page(method, p, { limit: LS_PAGE_ENTRIES, cursor });
      yield* page.entries;
      if (page.cursor === null || page.entries.length === 0) return;
      cursor = page.cursor;
    }
  }

  async mkdir(path: PathArg, opts: { parents?: boolean } = {}): Promise<void> {
    await this.core.exactlyOnce('fs.mkdir', { path: RemotePath.of(path).text, parents: opts.parents ?? false }, (a) => decodeEmpty(a, 'fs.mkdir'));
  }

  async rm(path: PathArg, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.core.exactlyOnce('fs.rm', { path: RemotePath.of(path).text, recursive: opts.recursive ?? false }, (a) => decodeEmpty(a, 'fs.rm'));
  }

  /** Atomic rename of a file or a whole directory. */
  async mv(from: PathArg, to: PathArg): Promise<void> {
    await this.core.exactlyOnce('fs.mv', { from: RemotePath.of(from).text, to: RemotePath.of(to).text }, (a) => decodeEmpty(a, 'fs.mv'));
  }

  /**
   * Server-side copy of the file `from` to `to` (fs.copy): the copy shares the source's chunks,
   * no byte passes through the client; atomic like a put. Without `overwrite` an existing `to`
   * is AlreadyExists; parents are created unless `parents: false`. IsADirectory for a directory
   * source (copy a tree file by file).
   */
  async copy(from: PathArg, to: PathArg, opts: { overwrite?: boolean; parents?: boolean } = {}): Promise<PutResult> {
    const body = { from: RemotePath.of(from).text, to: RemotePath.of(to).text, overwrite: opts.overwrite ?? false, parents: opts.parents ?? true };
    const r = await this.core.exactlyOnce('fs.copy', body, (a) => decodeCommit(a, 'fs.copy'));
    return { path: r.path, size: r.size, etag: r.etag };
  }

  /**
   * `to` made of the files `dir/names[0]`, `dir/names[1]`, … in order (fs.concat), which are
   * removed in the same atomic step: the new file holds their chunks, no byte moves. Sources
   * stored inline are InlineRefused (write them with `inline: false`); other rules as copy().
   */
  async concat(dir: PathArg, names: readonly string[], to: PathArg, opts: { overwrite?: boolean; parents?: boolean; attrs?: FileAttrs } = {}): Promise<PutResult> {
    const body = { dir: RemotePath.of(dir).text, names: [...names], to: RemotePath.of(to).text, overwrite: opts.overwrite ?? false, parents: opts.parents ?? true, ...(opts.attrs ? { attrs: opts.attrs } : {}) };
    const r = await this.core.exactlyOnce('fs.concat', body, (a) => decodeCommit(a, 'fs.concat'));
    return { path: r.path, size: r.size, etag: r.etag };
  }

  /** A consistent image of the metadata state at one applied index, read in pieces into `sink` (backup-stream.ts). */
  backup(sink: BackupSink): Promise<BackupImageInfo> {
    return streamBackup(this.core, sink);
  }

  async status(): Promise<ClusterStatus> {
    return this.core.read('cluster.status', {}, decodeClusterStatus);
  }

  /** Move every replica off a chunk server (its ring state becomes draining). Idempotent. */
  async drain(serverId: string): Promise<void> {
    await this.core.idempotentWrite('cluster.drain', { id: serverId }, (a) => decodeEmpty(a, 'cluster.drain'));
  }

  /**
   * Forget a chunk server. PreconditionFailed while it holds the only live copy of a chunk, and
   * (unless `force`) while a chunk it holds has fewer than R live copies elsewhere. Sent once:
   * a retry after it was applied would answer NotFound, so a Timeout is passed on instead.
   */
  async removeServer(serverId: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.core.writeOnce('cluster.remove', { id: serverId, force: opts.force ?? false }, (a) => decodeEmpty(a, 'cluster.remove'));
  }

  /** The metadata server addresses this client dials now (refreshed from the leader's membership). */
  metaMembers(): readonly string[] {
    return this.metaCaller.members?.() ?? [];
  }

  /** Add a metadata server (as a learner; the leader promotes it once caught up). Idempotent. */
  async metaAdd(id: string, addr: string): Promise<void> {
    await this.core.idempotentWrite('meta.add', { id, addr }, (a) => decodeEmpty(a, 'meta.add'));
  }

  /** Remove a metadata server from the group. Idempotent. */
  async metaRemove(id: string): Promise<void> {
    await this.core.idempotentWrite('meta.remove', { id }, (a) => decodeEmpty(a, 'meta.remove'));
  }

  /** Hand metadata leadership to `id` (absent: the most caught-up voter); resolves with the new leader. */
  async metaTransferLeader(id?: string): Promise<string> {
    return (await this.core.idempotentWrite('meta.transferLeader', id === undefined ? {} : { id }, decodeTransferLeader)).leader;
  }

  /**
   * Start a scrub round (verify every replica of one chunk server, or of every live one, now) or
   * join the running one over the same servers; follow it with scrubStatus(round).
   */
  async scrub(opts: { server?: string; bytesPerSecMax?: number; timeoutMs?: number } = {}): Promise<ScrubRoundStatus> {
    return this.core.idempotentWrite('cluster.scrub', { ...opts }, (a) => decodeScrubRound(a, 'cluster.scrub'));
  }

  /** A scrub round's progress (absent: the running round, else the latest); NotFound when the leader does not know it. */
  async scrubStatus(round?: string): Promise<ScrubRoundStatus> {
    return this.core.read('cluster.scrubStatus', round === undefined ? {} : { round }, (a) => decodeScrubRound(a, 'cluster.scrubStatus'));
  }

  /**
   * The ring new chunks are placed by (the cached placement view, fetched when it is stale):
   * each server's zone, weight and ring state, and the replicas per chunk.
   */
  async ring(): Promise<{ version: number; replicas: number; servers: ReadonlyArray<{ id: string; zone: string; weight: number; state: 'up' | 'draining' | 'dead' }> }> {
    const v = await this.core.placement.current();
    return { version: v.ringVersion, replicas: v.replicas, servers: v.ring.servers };
  }

  /** The leader's repair progress (queued and in-flight copies, deletions, garbage). */
  async repairStatus(): Promise<RepairStatus> {
    return this.core.read('cluster.repair', {}, decodeRepairStatus);
  }

  /**
   * A Writable that stores what is written at `path`. Nothing is visible before the stream
   * finishes: 'finish' (and `done`) come after the commit. Without `overwrite` an existing
   * file fails with AlreadyExists (at commit); parents are created. An error, destroy() or the
   * signal before the commit leaves no file. Throws InvalidPath at once for a malformed path.
   */
  createWriteStream(path: PathArg, opts: WriteOptions = {}): FileWriter {
    const p = RemotePath.of(path);
    if (p.isRoot) throw new CairnError('IsADirectory', '/ is a directory');
    const chunkSize = opts.chunkSize ?? this.chunkSize;
    if (chunkSize !== undefined) checkChunkSize(chunkSize);
    checkAttrs(opts.attrs);
    return new FileWriter(this.core, p, { ...opts, ...(chunkSize === undefined ? {} : { chunkSize }) }, { uploadsInflight: this.uploadsInflight });
  }

  /**
   * Stores `source` at `path` (see createWriteStream). A Uint8Array is the whole content, which
   * must not change until the put settles; one that goes inline is sent as one fs.put without a
   * write stream.
   */
  async put(path: PathArg, source: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array, opts: WriteOptions = {}): Promise<PutResult> {
    // An already aborted signal fails the put before anything is built or sent.
    opts.signal?.throwIfAborted();
    // A Uint8Array, or pieces in hand, that fit inline: one fs.put, no write stream (its
    // pipeline, abort controller and writer cost more than the call itself for a small file).
    const pieces = source instanceof Uint8Array ? [source] : source;
    if (Array.isArray(pieces) && pieces.length > 0 && pieces.every((b) => b instanceof Uint8Array)) {
      let total = 0;
      for (const b of pieces) total += b.byteLength;
      if (total > 0 && total <= this.core.inlineBytesMax) {
        const p = RemotePath.of(path);
        const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
        const r = await this.putInline(p, whole, opts);
        if (r === 'refused') return this.put(p, [whole], { ...opts, inline: false });
        if (r !== null) return r;
      }
    }
    const ws = this.createWriteStream(path, opts);
    try {
      await pipeline(pieces, ws, ...(opts.signal ? [{ signal: opts.signal }] : []));
    } catch (e) {
      ws.destroy(e as Error);
      await ws.done.catch(() => undefined);
      throw e;
    }
    return ws.done;
  }

  /**
   * Opens `path` for reading [start, end) (end exclusive, clamped to the size). Resolves once the
   * file's chunk list is known: NotFound, IsADirectory, RangeNotSatisfiable (start > size) fail here.
   */
  async open(path: PathArg, range: OpenRange = {}): Promise<OpenResult> {
    return FileReader.open(this.core, RemotePath.of(path), range, { readAhead: this.readAhead });
  }

  /** open() as a Readable right away; errors (NotFound, …) surface as the stream's error. */
  createReadStream(path: PathArg, range: OpenRange = {}): Readable {
    return FileReader.lazy(this.core, RemotePath.of(path), range, { readAhead: this.readAhead });
  }

  /**
   * Stops the client: reads and writes in flight fail with Closed (a write leaves no file), so
   * do calls in flight and every later call. Not calling it is harmless for a job that is done:
   * an idle client holds no timer and only unref'd sockets, so the process still exits.
   */
  close(): void {
    this.core.close();
  }

  /** A fresh request id of this client (proto/request-id.ts), e.g. for WriteOptions.requestId. */
  newRequestId(): string {
    return this.core.newRequestId();
  }

  /**
   * A whole content that goes inline (the writer's rule: non-empty, within the inline threshold
   * and the chunk size) as ONE fs.put, as FileWriter would send it: its result; 'refused' when the
   * leader will not inline it (its threshold is then remembered, as FileWriter does); null when
   * the write needs a stream (empty, too big, or a signal, deferCommit, inline: false or an
   * expectedSize that differs).
   */
  private async putInline(p: RemotePath, data: Uint8Array, opts: WriteOptions): Promise<PutResult | 'refused' | null> {
    if (opts.signal !== undefined || opts.deferCommit || opts.inline === false || (opts.expectedSize !== undefined && opts.expectedSize !== data.length)) return null;
    if (p.isRoot) throw new CairnError('IsADirectory', '/ is a directory');
    const chunkSize = opts.chunkSize ?? this.chunkSize;
    if (chunkSize !== undefined) checkChunkSize(chunkSize);
    checkAttrs(opts.attrs);
    const core = this.core;
    if (data.length === 0 || data.length > Math.min(core.inlineBytesMax, chunkSize ?? core.clusterChunkSize ?? Infinity)) return null;
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    const r = await core.putInline(p.text, bytes, crc32c(bytes), opts.overwrite ?? false, opts.requestId ?? core.newRequestId(), opts.attrs);
    if (r === null) return 'refused';
    opts.onProgress?.(bytes.length);
    return { path: r.path, size: bytes.length, etag: r.etag };
  }

  private async page(method: 'fs.list' | 'fs.walk', path: RemotePath, opts: { limit?: number; cursor?: string | null }): Promise<ListResult> {
    const body: Record<string, unknown> = { path: path.text };
    if (opts.limit !== undefined) body.limit = opts.limit;
    if (opts.cursor !== undefined && opts.cursor !== null) body.cursor = opts.cursor;
    return this.core.read(method, body, (a) => decodeList(a, method));
  }
}

function positiveInt(n: number, what: string, max: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new CairnError('InvalidArgument', `${what} must be an integer in 1..${max}`);
  return n;
}

function checkChunkSize(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > CHUNK_SIZE_MAX) throw new CairnError('InvalidArgument', `chunkSize must be an integer in 1..${CHUNK_SIZE_MAX} bytes`);
}

/** Attributes are refused before any byte is sent (the leader checks them again). */
function checkAttrs(attrs: FileAttrs | undefined): void {
  if (attrs === undefined) return;
  const problem = attrsProblem(attrs);
  if (problem) throw new CairnError('InvalidArgument', `attrs: ${problem}`);
}

function randomHex(rng: Rng, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += rng.int(16).toString(16);
  return out;
}

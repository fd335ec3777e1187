/**
 * CairnClient: the client library used by the CLI, the HTTP gateway and batch jobs
 * (`import { CairnClient, resolveClientConfig } from 'cairn'`).
 *
 * - Namespace calls go to the metadata leader through MetaSession (leader discovery from any
 *   subset of addresses, NotLeader hints followed). Reads are linearizable on the leader and
 *   retried freely; writes carry s = [client, seq, ackedBelow] (RequestIds), so retrying them
 *   after a timeout or leader change is safe too: the state machine answers a retry with the
 *   first outcome.
 * - Bulk bytes go straight to and from chunk servers over HTTP (ChunkClient): see
 *   file-writer.ts (write path) and file-reader.ts (read path).
 * - Errors are CairnError with the catalogue code the server sent (NotFound, AlreadyExists,
 *   IsADirectory, NotADirectory, NotEmpty, InvalidPath, Unauthorized, Unavailable, …).
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChunkClient } from '../chunk/chunk-client.js';
import { secureRandomBytes, systemClock, systemRng, systemTimers } from '../env/system.js';
import { parsePath } from '../proto/path.js';
import { RpcClient } from '../net/rpc-client.js';
import { CairnError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type { ClientConfig } from './client-config.js';
import { FileReader, type OpenRange, type OpenResult } from './file-reader.js';
import { FileWriter, type PutResult, type WriteOptions } from './file-writer.js';
import { MetaSession } from './meta-session.js';
import { RequestIds } from './request-ids.js';

export type { ClientConfig } from './client-config.js';
export { resolveClientConfig } from './client-config.js';
export type { OpenRange, OpenResult } from './file-reader.js';
export type { PutResult, WriteOptions } from './file-writer.js';

export interface CairnClientOptions {
  /** Session id for exactly-once writes ([A-Za-z0-9._:-]{1,128}). @default random */
  clientId?: string;
  /** Chunk size of new files. @default the cluster's (fs.alloc) */
  chunkSize?: number;
  /** Chunks being uploaded (or filled) at once per write; memory ≈ uploadsInflight × chunkSize. @default 3 */
  uploadsInflight?: number;
  /** Chunks fetched ahead of the reader per read; memory ≈ readAhead × chunkSize. @default 3 */
  readAhead?: number;
  /** Per-attempt timeout of a metadata call. @default 5000 */
  callTimeoutMs?: number;
  /** Give up retrying a metadata call after this long. @default 30000 */
  retryDeadlineMs?: number;
  /** A chunk-server request with no traffic this long fails over (Timeout). @default 30000 */
  chunkIdleTimeoutMs?: number;
  logger?: Logger;
}

export type EntryType = 'file' | 'dir';

export interface StatResult {
  path: string;
  type: EntryType;
  size: number;
  /** ms since the epoch */
  mtime: number;
  etag: string | null;
  /** `replicas`: chunk servers that hold a verified copy now (ids). */
  chunks: Array<{ id: string; size: number; replicas: string[] }>;
}

export interface ListEntry {
  name: string;
  /** Absolute path. */
  path: string;
  type: EntryType;
  size: number;
  mtime: number;
}

export interface ListResult {
  entries: ListEntry[];
  /** Pass back for the next page; null on the last page. */
  cursor: string | null;
}

/** The object of `cairn status --json` (CONTRACT). */
export interface ClusterStatus {
  leader: string | null;
  meta: Array<{ id: string; addr: string | null; role: 'leader' | 'follower' | 'learner' | 'unreachable' }>;
  chunkServers: Array<{ id: string; addr: string; state: 'alive' | 'dead' | 'draining'; used: number; capacity: number; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

/** What the client did, for tests, metrics and progress (monotonic counts). */
export interface ClientCounters {
  /** Chunks stored on every replica. */
  chunksWritten: number;
  /** Times a failed write target was replaced (fs.retarget). */
  retargets: number;
  /** Chunk reads that moved on to another replica (error, timeout, cut short or corrupt). */
  readFailovers: number;
  /** Replicas reported corrupt to the leader (fs.bad). */
  badReplicasReported: number;
}

/** Everything the writer and reader share. */
export interface ClientCore {
  counters: ClientCounters;
  meta: MetaSession;
  chunks: ChunkClient;
  ids: RequestIds;
  logger: Logger;
  /** A write call (carries s; safe to retry). */
  write(method: string, body: Record<string, unknown>): Promise<unknown>;
  /** A read call (retried). */
  read(method: string, body: Record<string, unknown>): Promise<unknown>;
  sleep(ms: number): Promise<void>;
  /** The cluster's chunk size, learned from the first fs.alloc. */
  clusterChunkSize: number | null;
}

const LS_PAGE_ENTRIES = 1000;
export const CHUNK_SIZE_MAX = 256 * 1024 * 1024;

export class CairnClient {
  readonly clientId: string;
  readonly counters: ClientCounters = { chunksWritten: 0, retargets: 0, readFailovers: 0, badReplicasReported: 0 };
  private readonly core: ClientCore;
  private readonly chunkSize: number | undefined;
  private readonly uploadsInflight: number;
  private readonly readAhead: number;

  constructor(config: ClientConfig, options: CairnClientOptions = {}) {
    this.clientId = options.clientId ?? `cl-${secureRandomBytes(12).toString('hex')}`;
    if (options.chunkSize !== undefined) checkChunkSize(options.chunkSize);
    this.chunkSize = options.chunkSize;
    this.uploadsInflight = positiveInt(options.uploadsInflight ?? 3, 'uploadsInflight', 64);
    this.readAhead = positiveInt(options.readAhead ?? 3, 'readAhead', 64);
    const logger = (options.logger ?? silentLogger).child({ component: 'cairn-client' });
    const meta = new MetaSession(
      {
        dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken: config.token, connectTimeoutMs: 3000 }),
        clock: systemClock,
        timers: systemTimers,
        rng: systemRng,
      },
      {
        addrs: config.metaAddrs,
        ...(options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs }),
        ...(options.retryDeadlineMs === undefined ? {} : { retryDeadlineMs: options.retryDeadlineMs }),
      },
    );
    const chunks = new ChunkClient({ logger }, { idleTimeoutMs: options.chunkIdleTimeoutMs ?? 30_000 });
    const ids = new RequestIds(this.clientId);
    this.core = {
      counters: this.counters,
      meta,
      chunks,
      ids,
      logger,
      clusterChunkSize: null,
      async write(method, body) {
        const s = ids.begin();
        try {
          return await meta.call(method, { ...body, s }, { idempotent: true });
        } finally {
          ids.end(s[1]);
        }
      },
      read: (method, body) => meta.call(method, body, { idempotent: true }),
      sleep: (ms) => new Promise<void>((resolve) => systemTimers.setTimeout(resolve, ms)),
    };
  }

  async stat(path: string): Promise<StatResult> {
    const r = (await this.core.read('fs.stat', { path })) as StatResult & { chunks: Array<{ id: string; size: number; replicas: string[] }> };
    return { path: r.path, type: r.type, size: r.size, mtime: r.mtime, etag: r.etag ?? null, chunks: r.chunks.map((c) => ({ id: c.id, size: c.size, replicas: c.replicas })) };
  }

  /** One page of a directory, names in byte order. */
  async list(path: string, opts: { limit?: number; cursor?: string | null } = {}): Promise<ListResult> {
    return this.page('fs.list', path, opts);
  }

  /** Every entry of a directory (or, recursive, everything below it in pre-order), paging as it goes. */
  async *ls(path: string, opts: { recursive?: boolean } = {}): AsyncIterable<ListEntry> {
    const method = opts.recursive ? 'fs.walk' : 'fs.list';
    let cursor: string | null = null;
    // Each page advances the cursor; a page without a cursor is the last.
    for (;;) {
      const page = await this.page(method, path, { limit: LS_PAGE_ENTRIES, cursor });
      yield* page.entries;
      if (page.cursor === null || page.entries.length === 0) return;
      cursor = page.cursor;
    }
  }

  async mkdir(path: string, opts: { parents?: boolean } = {}): Promise<void> {
    await this.core.write('fs.mkdir', { path, parents: opts.parents ?? false });
  }

  async rm(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.core.write('fs.rm', { path, recursive: opts.recursive ?? false });
  }

  /** Atomic rename of a file or a whole directory. */
  async mv(from: string, to: string): Promise<void> {
    await this.core.write('fs.mv', { from, to });
  }

  async status(): Promise<ClusterStatus> {
    return (await this.core.read('cluster.status', {})) as ClusterStatus;
  }

  /** Move every replica off a chunk server (its ring state becomes draining). Idempotent. */
  async drain(serverId: string): Promise<void> {
    await this.core.read('cluster.drain', { id: serverId });
  }

  /**
   * Forget a chunk server. PreconditionFailed while it holds the only live copy of a chunk, and
   * (unless `force`) while a chunk it holds has fewer than R live copies elsewhere.
   */
  async removeServer(serverId: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.core.read('cluster.remove', { id: serverId, force: opts.force ?? false });
  }

  /** The leader's repair progress (queued and in-flight copies, deletions, garbage). */
  async repairStatus(): Promise<Record<string, number | boolean | string[]>> {
    return (await this.core.read('cluster.repair', {})) as Record<string, number | boolean | string[]>;
  }

  /**
   * A Writable that stores what is written at `path`. Nothing is visible before the stream
   * finishes: 'finish' (and `done`) come after the commit. Without `overwrite` an existing
   * file fails with AlreadyExists (at commit); parents are created. An error, destroy() or the
   * signal before the commit leaves no file. Throws InvalidPath at once for a malformed path.
   */
  createWriteStream(path: string, opts: WriteOptions = {}): FileWriter {
    if (parsePath(path).length === 0) throw new CairnError('IsADirectory', '/ is a directory');
    const chunkSize = opts.chunkSize ?? this.chunkSize;
    if (chunkSize !== undefined) checkChunkSize(chunkSize);
    return new FileWriter(this.core, path, { ...opts, ...(chunkSize === undefined ? {} : { chunkSize }) }, { uploadsInflight: this.uploadsInflight });
  }

  /** Stores `source` at `path` (see createWriteStream). */
  async put(path: string, source: Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: WriteOptions = {}): Promise<PutResult> {
    const ws = this.createWriteStream(path, opts);
    try {
      await pipeline(source, ws, ...(opts.signal ? [{ signal: opts.signal }] : []));
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
  async open(path: string, range: OpenRange = {}): Promise<OpenResult> {
    return FileReader.open(this.core, path, range, { readAhead: this.readAhead });
  }

  /** open() as a Readable right away; errors (NotFound, …) surface as the stream's error. */
  createReadStream(path: string, range: OpenRange = {}): Readable {
    return FileReader.lazy(this.core, path, range, { readAhead: this.readAhead });
  }

  close(): void {
    this.core.meta.close();
    this.core.chunks.close();
  }

  private async page(method: string, path: string, opts: { limit?: number; cursor?: string | null }): Promise<ListResult> {
    const body: Record<string, unknown> = { path };
    if (opts.limit !== undefined) body.limit = opts.limit;
    if (opts.cursor !== undefined && opts.cursor !== null) body.cursor = opts.cursor;
    const r = (await this.core.read(method, body)) as ListResult;
    return { entries: r.entries.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime })), cursor: r.cursor ?? null };
  }
}

function positiveInt(n: number, what: string, max: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new CairnError('InvalidArgument', `${what} must be an integer in 1..${max}`);
  return n;
}

function checkChunkSize(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > CHUNK_SIZE_MAX) throw new CairnError('InvalidArgument', `chunkSize must be an integer in 1..${CHUNK_SIZE_MAX} bytes`);
}

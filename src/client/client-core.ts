/**
 * ClientCore: what CairnClient, the file writer and the file reader share — the metadata caller,
 * the chunk transport, request ids, counters — and the four ways to call the metadata leader.
 * Each call's name says whether it may be sent again:
 *
 * - read:            changes nothing; retried freely until the retry deadline.
 * - exactlyOnce:     a namespace change carrying s = [client, seq, ackedBelow]; retried, and the
 *                    state machine applies it once and answers a retry with the first outcome.
 * - idempotentWrite: changes leader state, but applying it twice is applying it once (a placement
 *                    never used is garbage, a replica reported bad twice is bad, a server set to
 *                    draining twice is draining); retried like a read.
 * - writeOnce:       changes state, has no request id and is not idempotent: sent once, and sent
 *                    again only when it certainly was not applied (NotLeader, or no connection
 *                    was ever made); a Timeout leaves its outcome unknown to the caller.
 *
 * Every answer goes through a decoder from proto/meta-answers.ts: a malformed answer is a
 * ProtocolError naming the field, never a cast.
 */
import type { ChunkClient } from '../chunk/chunk-client.js';
import type { Clock, Timers } from '../env/clock.js';
import { decodeCommit, decodeView, type CommitAnswer } from '../proto/meta-answers.js';
import type { FileAttrs } from '../proto/file-attrs.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { PiecePool, ReadAheadBudget } from './piece-pool.js';
import { PlacementCache } from './placement-cache.js';
import { RequestIds } from './request-ids.js';

/** The metadata leader, as the client calls it (MetaSession implements it). */
export interface MetaCaller {
  /**
   * `idempotent`: the call may be sent again after an error that leaves its outcome unknown
   * (Timeout, Unavailable, ProposalDropped); without it only after NotLeader or a failed connect.
   * `requestId` labels the call in the servers' logs (proto/request-id.ts).
   */
  call(method: string, body: unknown, opts?: { idempotent?: boolean; requestId?: string }): Promise<unknown>;
  close(): void;
  /** The metadata addresses dialled now (MetaSession: configured, then refreshed from the leader). */
  members?(): readonly string[];
}

/** The chunk servers' data plane, as the client uses it (ChunkClient implements it). */
export type ChunkTransport = Pick<ChunkClient, 'putChunk' | 'getChunk' | 'readChunk' | 'close'>;

/** What the client did, for tests, metrics and progress (monotonic counts). */
export interface ClientCounters {
  /** Chunks stored on every replica. */
  chunksWritten: number;
  /** Times a failed write target was replaced (the next servers in ring order, or fs.retarget). */
  retargets: number;
  /** Placement views fetched (fs.view). */
  viewFetches: number;
  /** Commits refused as placed with an outdated ring (StaleRing), then sent again. */
  staleRingCommits: number;
  /** Chunk reads that moved on to another replica (error, timeout, cut short or corrupt). */
  readFailovers: number;
  /** Replicas reported corrupt to the leader (fs.bad). */
  badReplicasReported: number;
  /** Files stored inline with their metadata (fs.put). */
  inlinePuts: number;
  /** Inline files read from fs.open's bytes. */
  inlineReads: number;
}

export interface ClientCoreComponents {
  meta: MetaCaller;
  chunks: ChunkTransport;
  timers: Timers;
  /** Monotonic time (the age of the placement view). */
  clock: Clock;
  logger: Logger;
}

type Decode<T> = (answer: unknown) => T;
type CallBody = Record<string, unknown>;

export class ClientCore {
  readonly counters: ClientCounters = { chunksWritten: 0, retargets: 0, viewFetches: 0, staleRingCommits: 0, readFailovers: 0, badReplicasReported: 0, inlinePuts: 0, inlineReads: 0 };
  readonly meta: MetaCaller;
  readonly chunks: ChunkTransport;
  readonly ids: RequestIds;
  readonly logger: Logger;
  /** Monotonic time (placement ages, retarget windows). */
  readonly clock: Clock;
  /** The cluster's placement view and write grant, shared by every writer of this client. */
  readonly placement: PlacementCache;
  /** The cluster's chunk size, learned from the first fs.view. */
  clusterChunkSize: number | null = null;
  /**
   * Chunk-sized buffers reused from read to read and write to write: every reader of this client
   * reads chunks into them (file-reader.ts), every writer fills its chunks in them (file-writer.ts).
   */
  readonly chunkBuffers: PiecePool;
  /** Chunks fetched ahead by this client's readers, all together. */
  readonly readAheadBudget: ReadAheadBudget;
  /**
   * The largest file a write sends whole as fs.put (stored inline with its metadata); 0: never.
   * Starts at the client's option and is lowered to the cluster's threshold when a refusal
   * (InlineRefused, detail.inlineBytesMax) says it is lower.
   */
  inlineBytesMax: number;
  private readonly timers: Timers;
  /**
   * Read and write streams not yet closed: close() destroys them. Held weakly, so a stream its
   * owner dropped without reading or destroying it (an open() whose stream was never used) is
   * still collected; entries leave on 'close', dead ones when the set has doubled since the
   * last sweep.
   */
  private readonly streams = new Set<WeakRef<Stream>>();
  private streamsSweepAt = STREAMS_SWEEP_MIN;
  private closedError: CairnError | null = null;
  private requestIdsMade = 0;

  /**
   * `chunkBuffersKeptMax`: idle chunk buffers kept for the next reads and writes (piece-pool.ts),
   * `chunkBuffersBurstKeepMax` (default: the same) while several at once use more;
   * `readAheadMax`: chunks fetched ahead by all readers together, beyond one each (ReadAheadBudget).
   */
  constructor(c: ClientCoreComponents, o: { clientId: string; inlineBytesMax: number; chunkBuffersKeptMax: number; chunkBuffersBurstKeepMax?: number; readAheadMax: number }) {
    this.inlineBytesMax = o.inlineBytesMax;
    this.chunkBuffers = new PiecePool({ clock: c.clock }, { keepMax: o.chunkBuffersKeptMax, burstKeepMax: o.chunkBuffersBurstKeepMax ?? o.chunkBuffersKeptMax });
    this.readAheadBudget = new ReadAheadBudget(o.readAheadMax);
    this.meta = c.meta;
    this.chunks = c.chunks;
    this.timers = c.timers;
    this.logger = c.logger;
    this.clock = c.clock;
    this.ids = new RequestIds(o.clientId);
    // Retried like fs.alloc: a view fetched twice only leaves an unused grant.
    this.placement = new PlacementCache({
      clock: c.clock,
      fetch: async () => {
        this.counters.viewFetches++;
        return this.idempotentWrite('fs.view', {}, decodeView);
      },
    });
  }

  /**
   * A fresh id for one user request (a write, a read), unique to this client: its calls and
   * chunk requests carry it so the servers' logs can be joined (proto/request-id.ts).
   */
  newRequestId(): string {
    return `${this.ids.client}-r${++this.requestIdsMade}`;
  }

  /** A call that changes nothing (retried). `rid`: the request id of the user request it serves. */
  async read<T>(method: string, body: CallBody, decode: Decode<T>, rid?: string): Promise<T> {
    return decode(await this.meta.call(method, body, callOpts(true, rid)));
  }

  /** A namespace change with a fresh request id (retried; applied once). */
  async exactlyOnce<T>(method: string, body: CallBody, decode: Decode<T>, rid?: string): Promise<T> {
    const s = this.ids.begin();
    try {
      // Object.assign, not `{ ...body, s }`: V8 copies a spread followed by more fields slowly.
      return decode(await this.meta.call(method, Object.assign({}, body, { s }), callOpts(true, rid)));
    } finally {
      // Answered, or given up on (never re-sent): either way its seq needs no more memory.
      this.ids.end(s[1]);
    }
  }

  /** A change that applied twice is applied once (retried). */
  async idempotentWrite<T>(method: string, body: CallBody, decode: Decode<T>, rid?: string): Promise<T> {
    return decode(await this.meta.call(method, body, callOpts(true, rid)));
  }

  /** A change that must not be repeated blindly (sent once; see the header). */
  async writeOnce<T>(method: string, body: CallBody, decode: Decode<T>, rid?: string): Promise<T> {
    return decode(await this.meta.call(method, body, callOpts(false, rid)));
  }

  /**
   * One fs.put of a whole file's bytes (stored inline with its metadata): the leader's answer, or
   * null when it will not inline them (InlineRefused) — its threshold, when it names one, is then
   * remembered so later writes of this client go to chunks at once.
   */
  async putInline(path: string, data: Buffer, crc: number, overwrite: boolean, rid?: string, attrs?: FileAttrs): Promise<CommitAnswer | null> {
    let r;
    try {
      r = await this.exactlyOnce('fs.put', { path, data, crc, overwrite, parents: true, ...(attrs ? { attrs } : {}) }, (a) => decodeCommit(a, 'fs.put'), rid);
    } catch (e) {
      if (!isCairnError(e, 'InlineRefused')) throw e;
      const clusterMax = e.detail?.inlineBytesMax;
      if (typeof clusterMax === 'number' && Number.isSafeInteger(clusterMax) && clusterMax >= 0) this.inlineBytesMax = Math.min(this.inlineBytesMax, clusterMax);
      this.logger.debug('inline put refused; storing in chunks', { path, size: data.length, err: e.message });
      return null;
    }
    this.counters.inlinePuts++;
    return r;
  }

  /** Resolves after `ms`, or at once when `signal` aborts (the caller then sees the abort). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        t.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = this.timers.setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Follow a read or write stream of this client until it closes, so that close() can stop it;
   * one made after close() is destroyed with Closed at once (on the next tick, so that its
   * creator can attach handlers first).
   */
  track(s: Stream): void {
    const closed = this.closedError;
    if (closed !== null) {
      this.timers.setTimeout(() => s.destroy(closed), 0);
      return;
    }
    const ref = new WeakRef(s);
    this.streams.add(ref);
    s.once('close', () => this.streams.delete(ref));
    if (this.streams.size >= this.streamsSweepAt) {
      for (const r of this.streams) if (r.deref() === undefined) this.streams.delete(r);
      this.streamsSweepAt = Math.max(STREAMS_SWEEP_MIN, 2 * this.streams.size);
    }
  }

  /**
   * Stop everything: streams in flight fail with Closed (a write leaves no file), so do calls
   * in flight and every later call; sockets are closed.
   */
  close(): void {
    this.closedError ??= new CairnError('Closed', 'client closed');
    for (const r of [...this.streams]) r.deref()?.destroy(this.closedError);
    this.streams.clear();
    this.chunkBuffers.trim(true);
    this.meta.close();
    this.chunks.close();
  }
}

/** Tracked streams below this many are never swept for collected ones. */
const STREAMS_SWEEP_MIN = 64;

function callOpts(idempotent: boolean, rid: string | undefined): { idempotent: boolean; requestId?: string } {
  return rid === undefined ? { idempotent } : { idempotent, requestId: rid };
}

/** What ClientCore needs of a read or write stream. */
interface Stream {
  destroy(err: Error): void;
  once(event: 'close', fn: () => void): unknown;
}

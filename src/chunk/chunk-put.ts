/**
 * PUT of /chunks/<id> (the wire API is in chunk-http-server.ts): the body stored here and, for a
 * pipelined write, forwarded to the next server at the same time, with backpressure from both.
 *
 * A large body goes through without a stream per branch: each socket read is pushed into this
 * server's replica writer (ChunkStore.writer: hashed once, written to the temp file in 1 MiB
 * batches) and into the downstream request (ChunkClient's PutFeed: a few reads gathered into one
 * socket write), and the request is paused while either has no room. A branch that fails stops
 * being fed; the body keeps flowing to the other (a healthy server keeps its copy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChunkPutOptions, ChunkPutResult, ChunkStore, ChunkWriter } from '../storage/chunk-store.js';
import { crcFromHex, crcToHex } from '../util/crc32c.js';
import { H_CRC, H_PIPELINE, H_SIZE, H_TOKEN, parsePipeline, type ChunkTarget, type ChunkTargetResult, type WireError } from '../proto/chunk-http.js';
import type { ChunkToken } from '../proto/chunk-token.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { pipelineTimeoutMs, type ChunkClient, type ChunkClientPutOptions, type ChunkPutOutcome } from './chunk-client.js';
import { clientGone, headerOf, isClientGone, logRequestError, notAttempted, parseSize, sendError, sendJson, wireOf } from './chunk-http-answer.js';
import { PutFeed, pumpBody } from './request-body.js';

/** Which addresses a write pipeline may be forwarded to (registered-peers.ts). */
export interface PipelinePeers {
  /** Never rejects. */
  knows(addr: string): Promise<boolean>;
}

export interface ChunkPutComponents {
  store: ChunkStore;
  /** Forwards a pipelined write to the next server. */
  downstream: ChunkClient;
  tokens: ChunkToken;
  /** The cluster's chunk servers; absent: any address is forwarded to. */
  pipelinePeers?: PipelinePeers;
  logger: Logger;
  /** Sends what a forwarded body gathered at the end of the event-loop turn (PutFeed); absent: at once. */
  defer?: (fn: () => void) => void;
}

export interface ChunkPutHandlerOptions {
  uploadsMax: number;
  pipelineTargetsMax: number;
  idleTimeoutMs: number;
  pipelineTimeoutExtensionMs: number;
}

/** A PUT body up to this long is received whole before it is stored and forwarded (putBuffered). */
const BUFFERED_BODY_BYTES_MAX = 256 * 1024;

export class ChunkPut {
  private uploads = 0;
  private readonly log: Logger;
  private readonly uploadsMax: number;
  private readonly pipelineTargetsMax: number;
  private readonly idleTimeoutMs: number;
  private readonly extensionMs: number;

  constructor(
    private readonly c: ChunkPutComponents,
    options: ChunkPutHandlerOptions,
  ) {
    this.log = c.logger;
    this.uploadsMax = options.uploadsMax;
    this.pipelineTargetsMax = options.pipelineTargetsMax;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.extensionMs = options.pipelineTimeoutExtensionMs;
  }

  /** PUTs in progress. */
  get uploadsInFlight(): number {
    return this.uploads;
  }

  /** Answers a PUT of chunk `id` (token already verified); throws CairnError before the body is read. */
  async handle(id: string, req: IncomingMessage, res: ServerResponse, rid: string | null, selfAddr: string): Promise<void> {
    const store = this.c.store;
    const limit = store.options.chunkBytesMax;
    const contentLength = parseSize(req.headers['content-length'], 'Content-Length');
    const declared = parseSize(headerOf(req, H_SIZE), H_SIZE);
    if (contentLength === undefined && !/\bchunked\b/i.test(String(req.headers['transfer-encoding'] ?? '')))
      throw new CairnError('InvalidArgument', 'a PUT needs Content-Length or Transfer-Encoding: chunked');
    if (contentLength !== undefined && declared !== undefined && contentLength !== declared)
      throw new CairnError('InvalidArgument', `Content-Length ${contentLength} differs from ${H_SIZE} ${declared}`);
    const size = contentLength ?? declared;
    if (size !== undefined && size > limit) throw new CairnError('TooLarge', `chunk of ${size} bytes exceeds the limit of ${limit}`);
    const crcHeader = headerOf(req, H_CRC);
    const crc = crcHeader === undefined ? undefined : crcFromHex(crcHeader);
    if (crc === null) throw new CairnError('InvalidArgument', `${H_CRC} must be 8 hex digits`);
    const down = parsePipeline(headerOf(req, H_PIPELINE), this.pipelineTargetsMax);
    // A token string already verified for this chunk and these ops in this request (a write grant
    // is the same string for every server of the pipeline) is not verified again: same answer.
    const verified = new Set<string | undefined>([headerOf(req, H_TOKEN)]);
    for (const t of down) {
      if (verified.has(t.token)) continue;
      this.c.tokens.verify(t.token, ['write', 'copy'], id);
      verified.add(t.token);
    }
    await this.checkPeers(down);
    if (this.uploads >= this.uploadsMax) {
      res.setHeader('retry-after', '1');
      throw new CairnError('Unavailable', `${this.uploadsMax} uploads in progress; try again`);
    }

    this.uploads++;
    if (/^100-continue$/i.test(String(req.headers.expect ?? ''))) res.writeContinue();
    // Our upstream waits pipelineTimeoutMs(…, down.length + 1) for us; we may stall reading for
    // as long as our own downstream timeout. Wait a little longer than the upstream: it decides.
    req.setTimeout(pipelineTimeoutMs(this.idleTimeoutMs, this.extensionMs, down.length + 2));
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(clientGone());
    req.once('aborted', onAbort);
    res.once('close', () => {
      if (!res.writableFinished) onAbort();
    });
    try {
      const putOpts: { size?: number; crc32c?: number; signal: AbortSignal } = { signal: ac.signal };
      if (size !== undefined) putOpts.size = size;
      if (crc !== undefined) putOpts.crc32c = crc;
      const downOpts = rid === null ? putOpts : Object.assign({}, putOpts, { requestId: rid });
      const { own, downP } = await (contentLength !== undefined && contentLength <= BUFFERED_BODY_BYTES_MAX
        ? this.putBuffered(id, req, down, putOpts, downOpts, ac)
        : this.putStreamed(id, req, down, putOpts, downOpts, ac, limit)
      ).catch((e: unknown) => {
        // The body broke because the client went away: say so (logged at info), not ECONNRESET.
        throw ac.signal.aborted && isClientGone(ac.signal.reason) ? ac.signal.reason : e;
      });
      const ownResult = await own;
      const downOutcome = downP ? await downP : null;

      const results: ChunkTargetResult[] = [{ addr: selfAddr, ok: ownResult.ok, ...(ownResult.ok ? {} : { error: wireOf(ownResult.e) }) }];
      if (downOutcome) results.push(...downOutcome.results);
      const failedAt = results.findIndex((r) => !r.ok);
      if (failedAt < 0 && ownResult.ok) {
        const r = ownResult.r;
        return sendJson(res, 201, { id, size: r.size, crc32c: crcToHex(r.crc32c), created: r.created, results });
      }
      const failed = results[failedAt]!;
      const ridField = rid === null ? {} : { rid };
      if (!ownResult.ok) logRequestError(this.log, 'chunk put failed here', ownResult.e, { id, ...ridField });
      else if (ac.signal.aborted && isClientGone(ac.signal.reason)) this.log.info('chunk put cut off downstream: the client went away', { id, ...ridField });
      else this.log.warn('chunk pipeline failed downstream', { id, ...ridField, failed: failed.addr, code: failed.error?.code });
      const err: WireError = failed.error ?? { code: 'Internal', message: 'failed' };
      res.setHeader('connection', 'close');
      return sendError(res, err, { error: { ...err, failed: failed.addr }, results });
    } finally {
      this.uploads--;
      req.off('aborted', onAbort);
    }
  }

  /** InvalidArgument unless every downstream address is a chunk server of this cluster; the text names no address. */
  private async checkPeers(down: readonly ChunkTarget[]): Promise<void> {
    const peers = this.c.pipelinePeers;
    if (peers === undefined || down.length === 0) return;
    const known = await Promise.all(down.map((t) => peers.knows(t.addr)));
    if (known.includes(false)) throw new CairnError('InvalidArgument', 'a pipeline may only name chunk servers of this cluster');
  }

  /**
   * A small body (Content-Length ≤ BUFFERED_BODY_BYTES_MAX) is received whole, then stored here
   * and sent downstream as one buffer each: no stream machinery per hop, and the store hashes it
   * in one pass. Pipelining buys nothing at this size (the body is one or two socket reads).
   */
  private async putBuffered(id: string, req: IncomingMessage, down: readonly ChunkTarget[], putOpts: ChunkPutOptions, downOpts: ChunkClientPutOptions, ac: AbortController): Promise<PutBranches> {
    const parts: Buffer[] = [];
    let received = 0;
    try {
      for await (const buf of req as AsyncIterable<Buffer>) {
        received += buf.length;
        parts.push(buf);
      }
      ac.signal.throwIfAborted();
    } catch (e) {
      if (!ac.signal.aborted) ac.abort(e);
      throw e;
    }
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, received);
    const own = this.c.store.put(id, body, putOpts).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const downP = down.length > 0 ? this.c.downstream.putChunk(id, down, body, downOpts).catch((e: unknown) => failedDownstream(down, e)) : null;
    return { own, downP };
  }

  /**
   * A large (or unknown-length) body goes to the store and downstream as it arrives, socket read
   * by socket read (no concatenation, no stream per branch), with backpressure from both.
   */
  private async putStreamed(id: string, req: IncomingMessage, down: readonly ChunkTarget[], putOpts: ChunkPutOptions, downOpts: ChunkClientPutOptions, ac: AbortController, limit: number): Promise<PutBranches> {
    let writer: ChunkWriter | null = null;
    let ownFailed: { e: unknown } | null = null;
    try {
      writer = this.c.store.writer(id, putOpts);
    } catch (e) {
      ownFailed = { e };
    }
    const failOwn = (e: unknown): void => {
      ownFailed ??= { e };
    };
    const toOwn = (buf: Buffer): Promise<void> | undefined => {
      if (ownFailed !== null || writer === null) return undefined;
      try {
        return writer.write(buf)?.catch(failOwn);
      } catch (e) {
        failOwn(e);
        return undefined;
      }
    };
    let feed: PutFeed | null = null;
    let downP: Promise<ChunkPutOutcome> | null = null;
    if (down.length > 0) {
      feed = new PutFeed(this.c.defer);
      downP = this.c.downstream.putChunk(id, down, feed, downOpts).catch((e: unknown) => failedDownstream(down, e));
    }
    const settleOwn = (): PutBranches['own'] => {
      const w = writer;
      if (w === null) return Promise.resolve({ ok: false as const, e: ownFailed!.e });
      return (ownFailed !== null ? w.abort(ownFailed.e) : w.end()).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e }),
      );
    };
    try {
      await pumpBody(req, limit, (buf) => {
        const a = toOwn(buf);
        const b = feed?.write(buf);
        return a && b ? Promise.all([a, b]) : (a ?? b);
      });
      ac.signal.throwIfAborted();
    } catch (e) {
      // The client went away or the body broke: abort both branches and let them clean up.
      if (!ac.signal.aborted) ac.abort(e);
      failOwn(e);
      await settleOwn();
      if (downP) await downP;
      throw e;
    }
    feed?.end();
    return { own: settleOwn(), downP };
  }
}

/** The two branches of a PUT: this server's store and the rest of the pipeline. */
interface PutBranches {
  own: Promise<{ ok: true; r: ChunkPutResult } | { ok: false; e: unknown }>;
  downP: Promise<ChunkPutOutcome> | null;
}

/** A downstream call that threw: its first server failed with that error, the rest were not reached. */
function failedDownstream(down: readonly ChunkTarget[], e: unknown): ChunkPutOutcome {
  return { ok: false, results: down.map((t, i) => ({ addr: t.addr, ok: false, error: i === 0 ? wireOf(e) : notAttempted() })) };
}

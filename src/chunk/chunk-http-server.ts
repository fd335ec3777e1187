/**
 * A chunk server's data plane: chunk bytes over plain HTTP/1.1 so streams, Range and curl work.
 * Control traffic (heartbeats, reports, commands) goes to the metadata servers over src/net.
 *
 *   PUT    /chunks/<id>   body = the chunk; 201 when durable here AND on every downstream server
 *   GET    /chunks/<id>   200 whole chunk, or 206 for `Range: bytes=a-b | a- | -n`; 416 if unsatisfiable
 *   HEAD   /chunks/<id>   the GET headers, no body
 *   DELETE /chunks/<id>   204; 404 when absent
 *   GET    /healthz       200 {"ok":true}
 *
 * Request headers:
 *   X-Cairn-Token     a chunk token (chunk-token.ts) for this chunk: PUT 'write'|'copy', GET/HEAD
 *                     'read'|'copy', DELETE 'delete'; for a PUT also a client's write grant whose
 *                     prefix starts the chunk id (the fast write path: no per-chunk token exists).
 *                     Missing/bad/expired/other op/other chunk or prefix → 401.
 *   Content-Length    or `Transfer-Encoding: chunked` for a PUT (a chunk of unknown length; still
 *                     bounded by chunkBytesMax). Over the limit → 413.
 *   X-Cairn-Size      optional expected size (must equal Content-Length when both are sent).
 *   X-Cairn-Crc32c    optional expected whole-chunk CRC-32C, 8 hex digits; mismatch → Corrupt, nothing kept.
 *   X-Cairn-Pipeline  optional downstream servers for a pipelined write, `host:port token, …` in
 *                     order. This server stores the body AND streams it to the first of them with
 *                     the rest of the list, which does the same (HDFS write pipeline). Every
 *                     downstream token (or grant) is verified here first (no forwarding on a
 *                     client's say-so), and every downstream address must be a chunk server of
 *                     this cluster (pipelinePeers, registered-peers.ts): any other address is
 *                     refused, 400, before a connection is tried — the same answer whether
 *                     something listens there or not.
 *   X-Cairn-Io-Class  `repair` on a repair copy's GET: served after client requests (io-priority.ts);
 *                     every other request counts as a client's.
 *   X-Request-Id      optional request id (proto/request-id.ts): logged with the request (one
 *                     debug line per request, and its warnings and errors) and passed downstream.
 * Response headers of GET/HEAD: Content-Length, Accept-Ranges: bytes, Content-Range (206),
 *   X-Cairn-Size and X-Cairn-Crc32c of the WHOLE chunk (a client checks whole reads end to end).
 *
 * PUT response body: 201 `{"id","size","crc32c","created","results":[{"addr","ok":true},…]}`,
 * results in pipeline order starting with this server. On any failure the status and
 * `{"error":{"code","message","failed":"<addr of the first failed server>"},"results":[…]}` are
 * those of the first failed server in pipeline order; a server the pipeline never reached has
 * `ok:false` with code Unavailable. A healthy server keeps its copy when a downstream fails (the
 * client re-sends only to a replacement; the idempotent PUT makes re-sending to a holder harmless).
 * Other errors are `{"error":{"code","message"}}` with the status of util/errors.ts. Every error
 * answer also names its code in X-Cairn-Error (a HEAD answer has no body): src/proto/chunk-http.ts.
 *
 * A client that goes away mid-upload (Ctrl-C of a put) is logged at info, not as an error: nothing
 * is wrong with this server, and the upload leaves nothing behind.
 *
 * GET streams verified bytes (ChunkStore checks each segment before sending it). A mismatch in
 * the first segment sent is answered 500 Corrupt; a later one cuts the response short (the
 * client sees fewer bytes than Content-Length). Either way the store records the replica as corrupt.
 *
 * Limits: uploadsMax concurrent PUTs (503 beyond), headersTimeoutMs / requestTimeoutMs (whole
 * request) / idleTimeoutMs (socket silence) against slow clients, header sizes by Node's default
 * (16 KiB). Backpressure end to end: the body is read only as fast as both the disk and the
 * downstream server take it. A small body (Content-Length ≤ BUFFERED_BODY_BYTES_MAX) is read
 * whole first and handed to the store and downstream as one buffer (no streams per hop).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { feed, pumpBody } from './request-body.js';
import { formatHostPort } from '../proto/addr.js';
import type { Clock } from '../env/clock.js';
import type { ChunkPutOptions, ChunkPutResult, ChunkStore } from '../storage/chunk-store.js';
import { isChunkId } from '../util/chunk-id.js';
import { crcFromHex, crcToHex } from '../util/crc32c.js';
import { H_CRC, H_PIPELINE, H_SIZE, H_TOKEN, errorHead, parsePipeline, type ChunkTarget, type ChunkTargetResult, type WireError } from '../proto/chunk-http.js';
import { decideRange, formatContentRange, unsatisfiedContentRange } from '../proto/http-range.js';
import { parseRequestId, REQUEST_ID_HEADER } from '../proto/request-id.js';
import { CairnError, ERROR_CODES, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { ChunkClient, pipelineTimeoutMs, type ChunkClientPutOptions, type ChunkPutOutcome } from './chunk-client.js';
import { ChunkToken } from '../proto/chunk-token.js';
import { IO_CLASS_HEADER, IO_CLASS_REPAIR, type IoPriority } from './io-priority.js';
import {
  CHUNK_HEADERS_TIMEOUT_MS_DEFAULT,
  CHUNK_IDLE_TIMEOUT_MS_DEFAULT,
  CHUNK_REQUEST_TIMEOUT_MS_DEFAULT,
  CHUNK_SOCKET_BUFFER_BYTES_DEFAULT,
  CHUNK_TIMEOUT_CHECK_INTERVAL_MS_DEFAULT,
  CHUNK_UPLOADS_MAX_DEFAULT,
  HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT,
  PIPELINE_TARGETS_MAX_DEFAULT,
  PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT,
} from '../config/defaults.js';

/** Which addresses a write pipeline may be forwarded to (registered-peers.ts). */
export interface PipelinePeers {
  /** Never rejects. */
  knows(addr: string): Promise<boolean>;
}

export interface ChunkHttpServerComponents {
  store: ChunkStore;
  /** The cluster's chunk servers; absent: any address is forwarded to (tests of a lone server). */
  pipelinePeers?: PipelinePeers;
  /** Wall-clock ms since the epoch (token expiry, request durations). */
  clock: Clock;
  logger: Logger;
  /** Told of every request once its response is over (metrics); body bytes as their Content-Length says, counted for 2xx answers. */
  observe?: (r: ChunkRequestSeen) => void;
  /** Client-first I/O: client requests are counted in it, repair reads (IO_CLASS_HEADER) paced by it. */
  io?: IoPriority;
}

/** One request as the data plane saw it. */
export interface ChunkRequestSeen {
  op: 'put' | 'get' | 'head' | 'delete' | 'healthz' | 'other';
  status: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

export interface ChunkHttpServerOptions {
  /** The cluster secret that signs chunk tokens. */
  secret: string | Uint8Array;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** Serve HTTPS with this certificate and key; `ca` verifies the pipeline's next servers (PEM). @default plain HTTP */
  tls?: { cert: Uint8Array; key: Uint8Array; ca: Uint8Array } | null;
  /** Address reported in PUT results. @default the listening host:port */
  advertiseAddr?: string;
  /** Concurrent PUTs; more get 503 Unavailable. @default CHUNK_UPLOADS_MAX_DEFAULT */
  uploadsMax?: number;
  /** Downstream servers in one X-Cairn-Pipeline. @default PIPELINE_TARGETS_MAX_DEFAULT */
  pipelineTargetsMax?: number;
  /** Time to receive the request headers. @default CHUNK_HEADERS_TIMEOUT_MS_DEFAULT */
  headersTimeoutMs?: number;
  /** Time to receive a whole request. @default CHUNK_REQUEST_TIMEOUT_MS_DEFAULT */
  requestTimeoutMs?: number;
  /**
   * A socket silent this long is closed, and a downstream server that makes no progress this long
   * is reported failed. A PUT's sockets get `pipelineTimeoutExtensionMs` more per server after
   * them (chunk-client.ts pipelineTimeoutMs), so the server nearest a hung one reports it. @default CHUNK_IDLE_TIMEOUT_MS_DEFAULT
   */
  idleTimeoutMs?: number;
  /** @default PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT */
  pipelineTimeoutExtensionMs?: number;
  /** How often Node checks the two request timeouts. @default CHUNK_TIMEOUT_CHECK_INTERVAL_MS_DEFAULT */
  timeoutCheckIntervalMs?: number;
  /** Socket read/write buffer per connection. @default CHUNK_SOCKET_BUFFER_BYTES_DEFAULT */
  socketBufferBytes?: number;
  /** Clock skew tolerated on token expiry. @default TOKEN_SKEW_MS_DEFAULT (chunk-token.ts) */
  tokenSkewMs?: number;
}

/** The socket type, named through node:http (node:net is src/net's alone). */
type Socket = IncomingMessage['socket'];

/** Buffers queued per branch of a streamed PUT before the body is paused: 4 socket reads of up to 64 KiB, the 256 KiB a branch held before. */
const BRANCH_BUFFERS_MAX = 4;

/** A PUT body up to this long is received whole before it is stored and forwarded (putBuffered). */
const BUFFERED_BODY_BYTES_MAX = 256 * 1024;

const ROUTE = /^\/chunks\/([^/?#]*)(?:\?.*)?$/;

export class ChunkHttpServer {
  private readonly server: Server;
  private readonly tokens: ChunkToken;
  private readonly downstream: ChunkClient;
  private readonly log: Logger;
  private readonly uploadsMax: number;
  private readonly pipelineTargetsMax: number;
  private readonly idleTimeoutMs: number;
  private readonly extensionMs: number;
  private uploads = 0;
  private selfAddr = '';
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly components: ChunkHttpServerComponents,
    private readonly options: ChunkHttpServerOptions,
  ) {
    this.log = components.logger.child({ component: 'chunk-http' });
    this.tokens = new ChunkToken({ clock: components.clock }, { secret: options.secret, ...(options.tokenSkewMs !== undefined ? { skewMs: options.tokenSkewMs } : {}) });
    const idleTimeoutMs = options.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT_MS_DEFAULT;
    this.idleTimeoutMs = idleTimeoutMs;
    this.extensionMs = options.pipelineTimeoutExtensionMs ?? PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT;
    const tls = options.tls ?? null; // the one choice between HTTP and HTTPS, for both directions
    this.downstream = new ChunkClient({ logger: this.log }, { idleTimeoutMs, pipelineTimeoutExtensionMs: this.extensionMs, tls: tls && { ca: tls.ca } });
    this.uploadsMax = options.uploadsMax ?? CHUNK_UPLOADS_MAX_DEFAULT;
    this.pipelineTargetsMax = options.pipelineTargetsMax ?? PIPELINE_TARGETS_MAX_DEFAULT;
    this.server = (tls ? (o: object, h: (req: IncomingMessage, res: ServerResponse) => void) => createHttpsServer({ ...o, cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) }, h) : createServer)(
      {
        headersTimeout: options.headersTimeoutMs ?? CHUNK_HEADERS_TIMEOUT_MS_DEFAULT,
        requestTimeout: options.requestTimeoutMs ?? CHUNK_REQUEST_TIMEOUT_MS_DEFAULT,
        keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT,
        connectionsCheckingInterval: options.timeoutCheckIntervalMs ?? CHUNK_TIMEOUT_CHECK_INTERVAL_MS_DEFAULT,
        // Bigger socket buffers than the 16 KiB default: fewer pause/resume cycles on bulk bodies
        // (measured ≈ +20% on a 64 MiB loopback PUT).
        highWaterMark: options.socketBufferBytes ?? CHUNK_SOCKET_BUFFER_BYTES_DEFAULT,
      },
      (req, res) => this.handle(req, res),
    );
    // `Expect: 100-continue` (curl sends it for bodies over 1 MiB): the PUT handler answers 100
    // only after the token and headers passed, so a refused upload costs no body bytes.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    this.server.setTimeout(idleTimeoutMs); // no 'timeout' listener: an idle socket is destroyed
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed HTTP, oversize headers, or a request timeout: answer if we still can, then close.
      if (socket.writable && !socket.destroyed) {
        const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      } else {
        socket.destroy();
      }
    });
  }

  /** Listens; resolves with the bound `host:port`. */
  async start(): Promise<string> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new CairnError('Internal', 'chunk server is not listening on a TCP port');
    const bound = formatHostPort({ host, port: a.port });
    this.selfAddr = this.options.advertiseAddr ?? bound;
    this.log.info('chunk data plane listening', { addr: bound });
    return bound;
  }

  /** Stops accepting, cuts open connections (uploads in flight are aborted and leave nothing). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.downstream.close();
    await closed;
  }

  /** PUTs in progress (for tests and status). */
  get uploadsInFlight(): number {
    return this.uploads;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const rid = parseRequestId(req.headers[REQUEST_ID_HEADER]);
    if (rid !== null) {
      res.once('close', () => this.log.debug('chunk request', { rid, method: req.method, url: req.url, status: res.writableFinished ? res.statusCode : 499 }));
    }
    const io = this.components.io;
    if (io && req.headers[IO_CLASS_HEADER] !== IO_CLASS_REPAIR && req.url !== '/healthz') res.once('close', io.clientStarted());
    const observe = this.components.observe;
    if (observe) {
      const startMs = this.components.clock.nowMs();
      res.once('close', () => {
        const ok = res.statusCode >= 200 && res.statusCode < 300 && res.writableFinished;
        const m = req.method ?? '';
        const op = req.url === '/healthz' ? 'healthz' : m === 'PUT' ? 'put' : m === 'GET' ? 'get' : m === 'HEAD' ? 'head' : m === 'DELETE' ? 'delete' : 'other';
        const bytesIn = ok && op === 'put' ? Number(req.headers['content-length'] ?? 0) || 0 : 0;
        const bytesOut = ok && op === 'get' ? Number(res.getHeader('content-length') ?? 0) || 0 : 0;
        observe({ op, status: res.statusCode, bytesIn, bytesOut, seconds: Math.max(0, this.components.clock.nowMs() - startMs) / 1000 });
      });
    }
    this.route(req, res, rid).catch((e: unknown) => this.fail(res, e, rid));
  }

  private async route(req: IncomingMessage, res: ServerResponse, rid: string | null): Promise<void> {
    const url = req.url ?? '';
    if (url === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) return sendJson(res, 200, { ok: true });
    const m = ROUTE.exec(url);
    if (!m) throw new CairnError('NotFound', 'no such endpoint');
    const id = m[1]!;
    if (!isChunkId(id)) throw new CairnError('InvalidArgument', 'a chunk id is 32 lowercase hex digits');
    const token = headerOf(req, H_TOKEN);
    switch (req.method) {
      case 'PUT':
        this.tokens.verify(token, ['write', 'copy'], id);
        return this.put(id, req, res, rid);
      case 'GET':
      case 'HEAD':
        this.tokens.verify(token, ['read', 'copy'], id);
        return this.get(id, req, res, req.method === 'HEAD');
      case 'DELETE': {
        this.tokens.verify(token, 'delete', id);
        if (!(await this.components.store.delete(id))) throw new CairnError('NotFound', `chunk ${id} not found`);
        res.writeHead(204).end();
        return;
      }
      default:
        res.setHeader('allow', 'GET, HEAD, PUT, DELETE');
        throw new CairnError('InvalidArgument', `method ${req.method ?? ''} not allowed`);
    }
  }

  private async put(id: string, req: IncomingMessage, res: ServerResponse, rid: string | null): Promise<void> {
    const store = this.components.store;
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
      this.tokens.verify(t.token, ['write', 'copy'], id);
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
      const putOpts = { ...(size !== undefined ? { size } : {}), ...(crc !== undefined ? { crc32c: crc } : {}), signal: ac.signal };
      const downOpts = rid === null ? putOpts : { ...putOpts, requestId: rid };
      const { own, downP } = await (contentLength !== undefined && contentLength <= BUFFERED_BODY_BYTES_MAX
        ? this.putBuffered(id, req, down, putOpts, downOpts, ac)
        : this.putStreamed(id, req, down, putOpts, downOpts, ac, limit)
      ).catch((e: unknown) => {
        // The body broke because the client went away: say so (logged at info), not ECONNRESET.
        throw ac.signal.aborted && isClientGone(ac.signal.reason) ? ac.signal.reason : e;
      });
      const ownResult = await own;
      const downOutcome = downP ? await downP : null;

      const results: ChunkTargetResult[] = [{ addr: this.selfAddr, ok: ownResult.ok, ...(ownResult.ok ? {} : { error: wireOf(ownResult.e) }) }];
      if (downOutcome) results.push(...downOutcome.results);
      const failedAt = results.findIndex((r) => !r.ok);
      if (failedAt < 0 && ownResult.ok) {
        const r = ownResult.r;
        return sendJson(res, 201, { id, size: r.size, crc32c: crcToHex(r.crc32c), created: r.created, results });
      }
      const failed = results[failedAt]!;
      const ridField = rid === null ? {} : { rid };
      if (!ownResult.ok) this.logError('chunk put failed here', ownResult.e, { id, ...ridField });
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
    const peers = this.components.pipelinePeers;
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
    const own = this.components.store.put(id, body, putOpts).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const downP = down.length > 0 ? this.downstream.putChunk(id, down, body, downOpts).catch((e: unknown) => failedDownstream(down, e)) : null;
    return { own, downP };
  }

  /**
   * A large (or unknown-length) body streams to the store and downstream as it arrives, with
   * backpressure from both. Each buffer that comes off the socket goes on as it is: the request is
   * read in flowing mode (paused while a branch is full) and the branches carry buffers as
   * objects, so no hop concatenates what queued up between two reads (a stream's byte-mode
   * read() copies everything buffered into one new buffer).
   */
  private async putStreamed(id: string, req: IncomingMessage, down: readonly ChunkTarget[], putOpts: ChunkPutOptions, downOpts: ChunkClientPutOptions, ac: AbortController, limit: number): Promise<PutBranches> {
    const ownIn = new PassThrough({ objectMode: true, highWaterMark: BRANCH_BUFFERS_MAX });
    const own = this.components.store.put(id, ownIn, putOpts).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    let downIn: PassThrough | null = null;
    let downP: Promise<ChunkPutOutcome> | null = null;
    if (down.length > 0) {
      downIn = new PassThrough({ objectMode: true, highWaterMark: BRANCH_BUFFERS_MAX });
      downP = this.downstream.putChunk(id, down, downIn, downOpts).catch((e: unknown) => failedDownstream(down, e));
    }
    // Branches that settle early (failed) stop being fed; the body keeps flowing to the others.
    void own.then(() => ownIn.destroy());
    void downP?.then(() => downIn?.destroy());
    try {
      await pumpBody(req, limit, (buf) => {
        const a = feed(ownIn, buf);
        const b = downIn ? feed(downIn, buf) : undefined;
        return a && b ? Promise.all([a, b]) : (a ?? b);
      });
      ac.signal.throwIfAborted();
    } catch (e) {
      // The client went away or the body broke: abort both branches and let them clean up.
      if (!ac.signal.aborted) ac.abort(e);
      await own;
      if (downP) await downP;
      throw e;
    }
    ownIn.end();
    downIn?.end();
    return { own, downP };
  }

  private async get(id: string, req: IncomingMessage, res: ServerResponse, head: boolean): Promise<void> {
    const store = this.components.store;
    if (head) {
      const meta = await store.stat(id);
      if (!meta) throw new CairnError('NotFound', `chunk ${id} not found`);
      res.writeHead(200, chunkHeaders(meta.size, meta.crc32c, meta.size)).end();
      return;
    }
    const rangeHeader = headerOf(req, 'range');
    let rangeWanted = false;
    let size = -1;
    const rd = await store.read(id, {
      resolveRange: (chunkSize) => {
        size = chunkSize;
        const r = decideRange(rangeHeader, chunkSize);
        if (r.kind === 'unsatisfiable') throw new CairnError('RangeNotSatisfiable', `range ${rangeHeader ?? ''} of a ${chunkSize}-byte chunk`, { size: chunkSize });
        rangeWanted = r.kind === 'partial';
        return r.kind === 'partial' ? { start: r.start, end: r.end } : { start: 0, end: chunkSize };
      },
    }).catch((e: unknown) => {
      if (isCairnError(e, 'RangeNotSatisfiable')) res.setHeader('content-range', unsatisfiedContentRange(size));
      throw e;
    });
    const { meta, start, end } = rd;
    if (rd.bytes) {
      // A small replica, already verified in memory: one write, no stream.
      const headers = chunkHeaders(meta.size, meta.crc32c, end - start);
      if (rangeWanted) headers['content-range'] = formatContentRange(start, end, meta.size);
      res.writeHead(rangeWanted ? 206 : 200, headers).end(rd.bytes);
      return;
    }
    const stream = rd.stream;
    try {
      await firstReadable(stream, end - start);
    } catch (e) {
      stream.destroy();
      throw e;
    }
    const headers = chunkHeaders(meta.size, meta.crc32c, end - start);
    if (rangeWanted) headers['content-range'] = formatContentRange(start, end, meta.size);
    res.writeHead(rangeWanted ? 206 : 200, headers);
    const io = req.headers[IO_CLASS_HEADER] === IO_CLASS_REPAIR ? this.components.io : undefined;
    await pipeline(io ? io.paced(stream) : stream, res).catch((e: unknown) => {
      // Headers are out: the only signal left is cutting the response short.
      if (isCairnError(e, 'Corrupt')) this.log.warn('corrupt segment mid-read; response cut', { id });
      res.destroy();
    });
  }

  private fail(res: ServerResponse, e: unknown, rid: string | null): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!isCairnError(e) || e.status >= 500) this.logError('chunk request failed', e, rid === null ? {} : { rid });
    const err = wireOf(e);
    if (!res.hasHeader('connection') && res.req.readableEnded === false) res.setHeader('connection', 'close');
    sendError(res, err, { error: err });
  }

  /** A refused request or a client that went away is routine (info); anything else is an error. */
  private logError(msg: string, e: unknown, fields: Record<string, unknown>): void {
    if (isCairnError(e) && (e.status < 500 || isClientGone(e))) this.log.info(msg, { ...fields, code: e.code, err: e.message });
    else this.log.error(msg, { ...fields, err: e instanceof Error ? e.message : String(e) });
  }
}

/** Why an upload stopped when its client went away (a disconnect, a Ctrl-C): not this server's fault. */
function clientGone(): CairnError {
  return new CairnError('Unavailable', 'the client went away mid-upload', { clientGone: true });
}

function isClientGone(e: unknown): boolean {
  return isCairnError(e) && e.detail?.clientGone === true;
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

/** Waits until the stream has data buffered (or ends, for an empty range); rejects with its error. */
function firstReadable(stream: Readable, length: number): Promise<void> {
  if (length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReadable = (): void => {
      cleanup();
      resolve();
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      stream.off('readable', onReadable);
      stream.off('error', onError);
    };
    stream.on('readable', onReadable);
    stream.on('error', onError);
  });
}

function chunkHeaders(size: number, crc: number, length: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'accept-ranges': 'bytes',
    [H_SIZE]: String(size),
    [H_CRC]: crcToHex(crc),
  };
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw new CairnError('InvalidArgument', `header ${name} given more than once`);
  return v;
}

function parseSize(v: string | string[] | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new CairnError('InvalidArgument', `bad ${name}`);
  return Number(v);
}

function wireOf(e: unknown): WireError {
  if (isCairnError(e)) return { code: e.code, message: e.expose ? e.message : ERROR_CODES[e.code].message };
  if ((e as { name?: unknown })?.name === 'AbortError') return { code: 'Unavailable', message: 'aborted' };
  return { code: 'Internal', message: ERROR_CODES.Internal.message };
}

function notAttempted(): WireError {
  return { code: 'Unavailable', message: 'not attempted: an earlier server in the pipeline failed' };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An error answer: the code's status, the code in X-Cairn-Error, and `body` (which carries it too). */
function sendError(res: ServerResponse, err: WireError, body: unknown): void {
  const { status, headers } = errorHead(err.code);
  sendJson(res, status, body, headers);
}

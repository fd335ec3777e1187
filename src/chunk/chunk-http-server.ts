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
 *   X-Cairn-Verify    `reader` on a GET: the reader checks a whole chunk against X-Cairn-Crc32c
 *                     itself, so a 200 answer's segments are sent unchecked here (proto/chunk-http.ts);
 *                     a 206 answer is checked segment by segment whatever this says.
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
import { closeOrDrainUnreadBody } from '../net/unread-body.js';
import { formatHostPort } from '../proto/addr.js';
import type { Clock } from '../env/clock.js';
import type { ChunkStore } from '../storage/chunk-store.js';
import { isChunkId } from '../util/chunk-id.js';
import { H_TOKEN } from '../proto/chunk-http.js';
import { parseRequestId, REQUEST_ID_HEADER } from '../proto/request-id.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { ChunkClient } from './chunk-client.js';
import { ChunkGet } from './chunk-get.js';
import { headerOf, logRequestError, sendError, sendJson, wireOf } from './chunk-http-answer.js';
import { ChunkPut, type PipelinePeers } from './chunk-put.js';
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

export type { PipelinePeers } from './chunk-put.js';

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
  /**
   * Runs a function after the current event-loop turn's I/O (env/system.ts systemDefer): a
   * forwarded PUT body gathers the socket reads of one turn into one write downstream. Absent:
   * each read is forwarded as it comes.
   */
  defer?: (fn: () => void) => void;
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

const ROUTE = /^\/chunks\/([^/?#]*)(?:\?.*)?$/;

export class ChunkHttpServer {
  private readonly server: Server;
  private readonly tokens: ChunkToken;
  private readonly downstream: ChunkClient;
  private readonly log: Logger;
  private readonly putHandler: ChunkPut;
  private readonly getHandler: ChunkGet;
  private selfAddr = '';
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly components: ChunkHttpServerComponents,
    private readonly options: ChunkHttpServerOptions,
  ) {
    this.log = components.logger.child({ component: 'chunk-http' });
    this.tokens = new ChunkToken({ clock: components.clock }, { secret: options.secret, ...(options.tokenSkewMs !== undefined ? { skewMs: options.tokenSkewMs } : {}) });
    const idleTimeoutMs = options.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT_MS_DEFAULT;
    const extensionMs = options.pipelineTimeoutExtensionMs ?? PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT;
    const tls = options.tls ?? null; // the one choice between HTTP and HTTPS, for both directions
    this.downstream = new ChunkClient({ logger: this.log }, { idleTimeoutMs, pipelineTimeoutExtensionMs: extensionMs, tls: tls && { ca: tls.ca } });
    this.putHandler = new ChunkPut(
      { store: components.store, downstream: this.downstream, tokens: this.tokens, logger: this.log, ...(components.pipelinePeers ? { pipelinePeers: components.pipelinePeers } : {}), ...(components.defer ? { defer: components.defer } : {}) },
      {
        uploadsMax: options.uploadsMax ?? CHUNK_UPLOADS_MAX_DEFAULT,
        pipelineTargetsMax: options.pipelineTargetsMax ?? PIPELINE_TARGETS_MAX_DEFAULT,
        idleTimeoutMs,
        pipelineTimeoutExtensionMs: extensionMs,
      },
    );
    this.getHandler = new ChunkGet({ store: components.store, logger: this.log, ...(components.io ? { io: components.io } : {}) });
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
    return this.putHandler.uploadsInFlight;
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
        return this.putHandler.handle(id, req, res, rid, this.selfAddr);
      case 'GET':
      case 'HEAD':
        this.tokens.verify(token, ['read', 'copy'], id);
        return this.getHandler.serve(id, req, res, req.method === 'HEAD');
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

  private fail(res: ServerResponse, e: unknown, rid: string | null): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!isCairnError(e) || e.status >= 500) logRequestError(this.log, 'chunk request failed', e, rid === null ? {} : { rid });
    const err = wireOf(e);
    if (!res.hasHeader('connection')) closeOrDrainUnreadBody(res.req, (f, v) => res.setHeader(f, v));
    sendError(res, err, { error: err });
  }
}

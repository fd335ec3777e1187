/**
 * NetServer: the one listening address of a metadata server, carrying both Raft peer traffic
 * and client RPC (handshake.ts tells them apart and authenticates them).
 *
 * Per accepted connection:
 * - peer (proved the cluster secret with its node id X): a one-way stream of frames, each
 *   handed to onPeerFrame(X, payload) in arrival order. The server never writes to a peer
 *   after the handshake; replies travel on the replier's own outbound connection.
 * - client (proved the client token): request/response RPC.
 *     request  { id, method, body, rid? }       id: non-negative safe integer chosen by the client;
 *                                               rid: the request id (proto/request-id.ts), logged
 *     response { id, ok: true, body }
 *            | { id, ok: false, error: { code, message, detail } }
 *   Unknown method → InvalidArgument. A handler's CairnError is passed on (message and detail
 *   only when the error is exposable); any other exception becomes Internal with the
 *   catalogue message (nothing leaked) and is logged. At most requestsInflightMax requests run
 *   per connection; beyond that, and while the socket's write buffer is full, the server stops
 *   reading from that connection (TCP backpressure) instead of buffering.
 *
 * Any malformed or oversize frame, failed handshake, or handshake slower than
 * handshakeTimeoutMs closes that connection and is counted; other connections are unaffected.
 *
 * Strangers are bounded apart from authenticated callers: connections still in the handshake
 * have their own budget (handshakesMax in total, handshakesPerAddrMax per source address; see
 * handshake-budget.ts) and a short deadline, so a flood of raw connections costs the flooder its
 * own slots and never the slots of peers and logged-in clients. A connection that misses its
 * deadline or is pushed out of the budget is parked, not closed: the server stops reading it
 * and closes it after handshakeParkMs (or when more than handshakesParkedMax are parked, oldest
 * first). Closing at once would only make a flooder reconnect at once, and a flood that
 * reconnects as fast as it is closed keeps the kernel's accept queue full, which delays every
 * honest dialer's connect; a parked flood stands still.
 *
 * A request frame is held to the limits of the method it names (requestLimits: bytes, msgpack
 * elements, nesting depth) before it is decoded: the size as soon as the frame's first bytes
 * name the method (a frame must name its method before its body to get more than the limits of
 * an unnamed request), the elements and depth by a scan of the raw bytes (msgpack-limits.ts).
 * A frame over its limits closes the connection and counts as oversize or malformed.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Timers } from '../env/clock.js';
import { pack } from '../proto/msgpack.js';
import { parseRequestId } from '../proto/request-id.js';
import type { NodeId } from '../raft/types.js';
import { CairnError, ERROR_CODES } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import {
  HANDSHAKE_PARK_MS_DEFAULT,
  HANDSHAKE_TIMEOUT_MS_DEFAULT,
  HANDSHAKES_PARKED_MAX_DEFAULT,
  HANDSHAKES_MAX_DEFAULT,
  HANDSHAKES_PER_ADDR_MAX_DEFAULT,
  REQUEST_DEPTH_MAX_DEFAULT,
  REQUEST_ELEMENTS_MAX_DEFAULT,
} from '../config/defaults.js';
import { DEFAULT_FRAME_BYTES_MAX, isOversizeFrameError, type FrameGate } from './frame.js';
import { FramedSocket } from './framed-socket.js';
import { createListener, type TlsServerConfig } from './tls.js';
import {
  HANDSHAKE_FRAME_BYTES_MAX,
  NONCE_BYTES,
  OK_FRAME,
  computeMac,
  decodeAuth,
  encodeErrorFrame,
  encodeHello,
  macMatches,
  unpackObject,
  type Credential,
} from './handshake.js';
import { HandshakeBudget } from './handshake-budget.js';
import { peekRequestHead, scanMsgpack, type MsgpackLimits } from './msgpack-limits.js';

export interface RpcContext {
  /** `ip:port` of the caller, for logs. */
  remoteAddr: string;
  /** Who is calling: a client (client token) or a cluster server under its id (cluster secret). */
  caller: { role: 'client' } | { role: 'service'; id: NodeId };
  /** Aborted when the caller's connection closes: the answer can no longer be delivered. */
  signal: AbortSignal;
  /** The request id the caller sent (proto/request-id.ts), for logs; absent when none or malformed. */
  requestId?: string;
}

/** Answers one request; throw a CairnError to send a typed error. */
export type RpcHandler = (method: string, body: unknown, ctx: RpcContext) => Promise<unknown>;

/** What one request may hold before it is decoded. */
export interface RequestLimits extends MsgpackLimits {
  /** Bytes of the whole request frame (id, method and body). */
  bytesMax: number;
}

/**
 * The limits of a request naming `method`; undefined: a frame whose first bytes name no method.
 * Must be cheap (runs per frame) and return at most the server's frameBytesMax.
 */
export type RequestLimitsOf = (method: string | undefined) => RequestLimits;

export type PeerFrameHandler = (from: NodeId, payload: Uint8Array) => void;

export interface NetServerHandlers {
  /**
   * A frame from authenticated peer `from`. Runs synchronously in arrival order; payload may
   * be a view into a socket chunk (do not mutate). Throwing a CairnError closes that peer's
   * connection and counts a malformed frame (the peer redials).
   */
  onPeerFrame?: PeerFrameHandler;
  rpc?: RpcHandler;
  /** When given, methods outside this set are refused with InvalidArgument before the handler runs. */
  methods?: Iterable<string>;
  /** Per-method request limits. @default frameBytesMax, REQUEST_ELEMENTS_MAX_DEFAULT, REQUEST_DEPTH_MAX_DEFAULT for every request */
  requestLimits?: RequestLimitsOf;
}

export interface NetServerComponents {
  /** OS randomness for handshake nonces (env/system.ts secureRandomBytes in production). */
  randomBytes: (n: number) => Uint8Array;
  timers: Timers;
  logger: Logger;
}

export interface NetServerInit {
  host: string;
  /** 0 picks a free port; read it back with address(). */
  port: number;
  /** Peers must prove this; null refuses every peer. */
  clusterSecret: Credential | null;
  /** Clients must prove this; null refuses every client. */
  clientToken: Credential | null;
  /** Largest frame after the handshake. @default 64 MiB */
  frameBytesMax?: number;
  /** A connection must authenticate within this. @default HANDSHAKE_TIMEOUT_MS_DEFAULT */
  handshakeTimeoutMs?: number;
  /** Unauthenticated connections at once. @default HANDSHAKES_MAX_DEFAULT */
  handshakesMax?: number;
  /** Unauthenticated connections at once from one source address. @default HANDSHAKES_PER_ADDR_MAX_DEFAULT */
  handshakesPerAddrMax?: number;
  /** How long a connection that failed to authenticate in time stays parked. @default HANDSHAKE_PARK_MS_DEFAULT */
  handshakeParkMs?: number;
  /** Parked connections at once; beyond it the oldest is closed. @default HANDSHAKES_PARKED_MAX_DEFAULT */
  handshakesParkedMax?: number;
  /** Requests running at once per client connection. @default 64 */
  requestsInflightMax?: number;
  /**
   * Authenticated connections at once; a dialer authenticating beyond it is refused with
   * Unavailable. (Unauthenticated ones count against handshakesMax instead.) @default 1024
   */
  connectionsMax?: number;
  /** Longest method name accepted. @default 128 */
  methodCharsMax?: number;
  /** Serve over TLS with this certificate (tls.ts). @default plain TCP */
  tls?: TlsServerConfig | null;
}

export interface NetServerCounters {
  connectionsAccepted: number;
  connectionsOpen: number;
  /** Refused after authenticating because connectionsMax was reached. */
  connectionsRefused: number;
  handshakeTimeouts: number;
  /** Unauthenticated connections parked to admit newer ones (handshake budget). */
  handshakesEvicted: number;
  /** Connections parked now (deadline missed or evicted). */
  handshakesParked: number;
  authFailures: number;
  /** Malformed or oversize frames (each closed its connection). */
  malformedFrames: number;
  /** The subset of malformedFrames that exceeded the frame limit. */
  oversizeFrames: number;
  peerFrames: number;
  requests: number;
  /** Requests answered with ok: false. */
  requestErrors: number;
}

export class NetServer {
  readonly counters: NetServerCounters = {
    connectionsAccepted: 0,
    connectionsOpen: 0,
    connectionsRefused: 0,
    handshakeTimeouts: 0,
    handshakesEvicted: 0,
    handshakesParked: 0,
    authFailures: 0,
    malformedFrames: 0,
    oversizeFrames: 0,
    peerFrames: 0,
    requests: 0,
    requestErrors: 0,
  };
  private readonly c: NetServerComponents;
  private readonly log: Logger;
  private readonly init: NetServerInit;
  private readonly frameBytesMax: number;
  private readonly handshakeTimeoutMs: number;
  private readonly requestsInflightMax: number;
  private readonly connectionsMax: number;
  private readonly methodCharsMax: number;
  private handlers: NetServerHandlers;
  private methods: Set<string> | null;
  private readonly server: Server;
  private readonly conns = new Set<ServerConn>();
  /** Open connections that authenticated (at most connectionsMax). */
  private authenticated = 0;
  private readonly handshakes: HandshakeBudget<ServerConn>;
  /** Parked connections, oldest first. */
  private readonly parked = new Set<ServerConn>();
  private readonly handshakeParkMs: number;
  private readonly handshakesParkedMax: number;
  private readonly gate: FrameGate;
  private listening = false;

  constructor(c: NetServerComponents, init: NetServerInit, handlers: NetServerHandlers = {}) {
    this.c = c;
    this.log = c.logger.child({ component: 'net-server' });
    this.init = init;
    this.frameBytesMax = init.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX;
    this.handshakeTimeoutMs = init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
    this.requestsInflightMax = init.requestsInflightMax ?? 64;
    this.connectionsMax = init.connectionsMax ?? 1024;
    this.methodCharsMax = init.methodCharsMax ?? 128;
    this.handlers = handlers;
    this.methods = handlers.methods ? new Set(handlers.methods) : null;
    this.handshakes = new HandshakeBudget(
      { totalMax: init.handshakesMax ?? HANDSHAKES_MAX_DEFAULT, perAddrMax: init.handshakesPerAddrMax ?? HANDSHAKES_PER_ADDR_MAX_DEFAULT },
      (conn) => {
        this.counters.handshakesEvicted++;
        this.park(conn);
      },
    );
    this.handshakeParkMs = init.handshakeParkMs ?? HANDSHAKE_PARK_MS_DEFAULT;
    this.handshakesParkedMax = init.handshakesParkedMax ?? HANDSHAKES_PARKED_MAX_DEFAULT;
    this.gate = {
      headBytes: REQUEST_HEAD_BYTES,
      check: (frameBytes, head) => {
        const limits = this.requestLimits(peekRequestHead(head).method);
        if (frameBytes > limits.bytesMax) throw new CairnError('ProtocolError', `request of ${frameBytes} bytes exceeds its limit of ${limits.bytesMax}`, { frameBytes, frameBytesMax: limits.bytesMax });
        // What the first bytes already show (e.g. an array claiming millions of elements) is refused now.
        scanMsgpack(head.length < frameBytes ? head : head.subarray(0, frameBytes), limits, head.length < frameBytes);
      },
    };
    this.server = createListener(init.tls ?? null, (socket) => this.accept(socket), { handshakeTimeoutMs: init.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT });
  }

  /** Install handlers later (the Raft runtime and the RPC service are usually built after the server). */
  setHandlers(h: NetServerHandlers): void {
    this.handlers = h;
    this.methods = h.methods ? new Set(h.methods) : null;
  }

  /** Start listening; resolves with the bound `host:port`. Rejects (e.g. EADDRINUSE) with the OS error. */
  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.init.host, port: this.init.port }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error('listener error', { err: err.message }));
        this.listening = true;
        resolve(this.address());
      });
    });
  }

  /** The bound address, `host:port` (after listen()). */
  address(): string {
    const a = this.server.address() as AddressInfo | null;
    if (a === null) throw new CairnError('Unavailable', 'server is not listening');
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** Stop accepting, close every connection (in-flight requests are abandoned). */
  async close(): Promise<void> {
    for (const conn of this.conns) conn.fs.destroy();
    if (!this.listening) return;
    this.listening = false;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.counters.connectionsAccepted++;
    this.counters.connectionsOpen++;
    const conn = new ServerConn(this, socket);
    this.conns.add(conn);
    this.handshakes.admit(conn.sourceAddr, conn);
  }

  /** Stop serving `conn`'s handshake; it is closed after handshakeParkMs or when the lot overflows. */
  private park(conn: ServerConn): void {
    if (this.parked.size >= this.handshakesParkedMax) {
      const oldest = this.parked.values().next().value as ServerConn;
      this.parked.delete(oldest);
      oldest.fs.destroy();
    }
    this.parked.add(conn);
    this.counters.handshakesParked = this.parked.size;
    conn.park(this.handshakeParkMs);
  }

  private requestLimits(method: string | undefined): RequestLimits {
    return this.handlers.requestLimits?.(method) ?? { bytesMax: this.frameBytesMax, elementsMax: REQUEST_ELEMENTS_MAX_DEFAULT, depthMax: REQUEST_DEPTH_MAX_DEFAULT };
  }

  // --- called by ServerConn --------------------------------------------------------------------

  /** @internal */ get _c(): NetServerComponents {
    return this.c;
  }
  /** @internal */ get _log(): Logger {
    return this.log;
  }
  /** @internal */ get _init(): NetServerInit {
    return this.init;
  }
  /** @internal */ get _limits(): { frameBytesMax: number; handshakeTimeoutMs: number; requestsInflightMax: number; methodCharsMax: number } {
    return { frameBytesMax: this.frameBytesMax, handshakeTimeoutMs: this.handshakeTimeoutMs, requestsInflightMax: this.requestsInflightMax, methodCharsMax: this.methodCharsMax };
  }
  /** @internal */ get _handlers(): NetServerHandlers {
    return this.handlers;
  }
  /** @internal */ get _methods(): Set<string> | null {
    return this.methods;
  }
  /** @internal */ get _gate(): FrameGate {
    return this.gate;
  }
  /** @internal */ _requestLimits(method: string | undefined): RequestLimits {
    return this.requestLimits(method);
  }
  /**
   * @internal The connection left the handshake (authenticated, refused or closed). False when
   * it authenticated but connectionsMax authenticated connections are open: it must be refused.
   */
  /** @internal The handshake deadline passed. */
  _handshakeTimedOut(conn: ServerConn): void {
    this.counters.handshakeTimeouts++;
    this.handshakes.release(conn.sourceAddr, conn);
    this.park(conn);
  }
  _handshakeDone(conn: ServerConn, authenticated: boolean): boolean {
    this.handshakes.release(conn.sourceAddr, conn);
    if (!authenticated) return true;
    if (this.authenticated >= this.connectionsMax) {
      this.counters.connectionsRefused++;
      return false;
    }
    this.authenticated++;
    conn.counted = true;
    return true;
  }
  /** @internal */ _closed(conn: ServerConn): void {
    this.handshakes.release(conn.sourceAddr, conn);
    if (this.parked.delete(conn)) this.counters.handshakesParked = this.parked.size;
    if (conn.counted) this.authenticated--;
    conn.counted = false;
    if (this.conns.delete(conn)) this.counters.connectionsOpen--;
  }
}

/** Enough of a request's start to read its id and a method name of up to 128 characters. */
const REQUEST_HEAD_BYTES = 192;

interface Request {
  id: number;
  method: string;
  body: unknown;
  rid: string | null;
}

/** One accepted connection: handshake, then peer stream or client RPC. */
class ServerConn {
  readonly fs: FramedSocket;
  /** The remote IP address (the handshake budget's unit). */
  readonly sourceAddr: string;
  /** Counted against connectionsMax (NetServer's bookkeeping). */
  counted = false;
  private readonly srv: NetServer;
  private state: 'handshake' | 'parked' | 'peer' | 'client' | 'closed' = 'handshake';
  private readonly nonce: Uint8Array;
  private handshakeTimer: { cancel(): void } | null;
  private peerId: NodeId = '';
  private caller: RpcContext['caller'] = { role: 'client' };
  private inflight = 0;
  /** Requests read but not started (inflight limit reached); bounded by what one chunk holds. */
  private readonly waiting: Request[] = [];
  private writeBlocked = false;
  private readonly abort = new AbortController();

  constructor(srv: NetServer, socket: Socket) {
    this.srv = srv;
    this.sourceAddr = socket.remoteAddress ?? '?';
    this.fs = new FramedSocket(socket, HANDSHAKE_FRAME_BYTES_MAX, {
      onFrame: (p) => this.onFrame(p),
      onClose: () => this.onClose(),
      onProtocolError: (err) => {
        srv.counters.malformedFrames++;
        if (isOversizeFrameError(err)) srv.counters.oversizeFrames++;
        srv._log.debug('protocol error, closing connection', { remote: this.fs.remoteAddr, err: err.message });
      },
    });
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.pump();
    });
    const n = srv._c.randomBytes(NONCE_BYTES);
    this.nonce = new Uint8Array(n.buffer, n.byteOffset, n.length).slice();
    this.handshakeTimer = srv._c.timers.setTimeout(() => {
      this.handshakeTimer = null;
      if (this.state === 'handshake') srv._handshakeTimedOut(this);
    }, srv._limits.handshakeTimeoutMs);
    this.fs.write(encodeHello(this.nonce));
  }

  /** Stop reading and answering; close after `ms` (NetServer.park). */
  park(ms: number): void {
    this.state = 'parked';
    this.fs.socket.pause();
    this.handshakeTimer?.cancel();
    this.handshakeTimer = this.srv._c.timers.setTimeout(() => {
      this.handshakeTimer = null;
      this.fs.destroy();
    }, ms);
  }

  private onFrame(payload: Uint8Array): void {
    switch (this.state) {
      case 'parked':
        return;
      case 'handshake':
        return this.onAuth(payload);
      case 'peer':
        this.srv.counters.peerFrames++;
        this.srv._handlers.onPeerFrame?.(this.peerId, payload);
        return;
      case 'client':
        return this.onRequest(payload);
      case 'closed':
        return;
    }
  }

  private onAuth(payload: Uint8Array): void {
    const auth = decodeAuth(payload); // ProtocolError closes the connection (counted as malformed)
    const init = this.srv._init;
    const key = auth.role === 'client' ? init.clientToken : init.clusterSecret;
    const ok = key !== null && macMatches(computeMac(key, this.nonce, auth.role, auth.role === 'client' ? undefined : auth.id), auth.mac);
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
    if (!this.srv._handshakeDone(this, ok)) {
      this.state = 'closed';
      this.fs.write(encodeErrorFrame('Unavailable', 'too many connections'));
      this.fs.end();
      return;
    }
    if (!ok) {
      this.srv.counters.authFailures++;
      this.srv._log.warn('authentication failed', { remote: this.fs.remoteAddr, role: auth.role });
      this.state = 'closed';
      this.fs.write(encodeErrorFrame('Unauthorized', ERROR_CODES.Unauthorized.message));
      this.fs.end();
      return;
    }
    this.fs.setFrameBytesMax(this.srv._limits.frameBytesMax);
    if (auth.role === 'peer') {
      this.state = 'peer';
      this.peerId = auth.id;
    } else {
      // Clients and services both speak request/response; the handler sees which one calls.
      this.state = 'client';
      this.caller = auth.role === 'service' ? { role: 'service', id: auth.id } : { role: 'client' };
      this.fs.setGate(this.srv._gate);
    }
    this.fs.write(OK_FRAME);
  }

  private onRequest(payload: Uint8Array): void {
    // The size passed the gate; elements and depth are checked before msgpackr sees the bytes.
    const named = peekRequestHead(payload.subarray(0, REQUEST_HEAD_BYTES)).method;
    scanMsgpack(payload, this.srv._requestLimits(named));
    const v = unpackObject(payload);
    const id = v.id;
    const method = v.method;
    if (named !== undefined && method !== named) throw new CairnError('ProtocolError', 'request names two methods');
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new CairnError('ProtocolError', 'request id must be a non-negative integer');
    if (typeof method !== 'string' || method.length === 0 || method.length > this.srv._limits.methodCharsMax) {
      throw new CairnError('ProtocolError', 'request method must be a short string');
    }
    this.waiting.push({ id, method, body: v.body, rid: parseRequestId(v.rid) });
    this.pump();
  }

  /** Start waiting requests while under the limits; stop reading the socket when over them. */
  private pump(): void {
    const max = this.srv._limits.requestsInflightMax;
    while (this.state === 'client' && !this.writeBlocked && this.inflight < max && this.waiting.length > 0) {
      void this.run(this.waiting.shift()!);
    }
    if (this.state !== 'client') return;
    const saturated = this.writeBlocked || this.inflight >= max;
    if (saturated && !this.fs.socket.isPaused()) this.fs.socket.pause();
    else if (!saturated && this.fs.socket.isPaused()) this.fs.socket.resume();
  }

  private async run(req: Request): Promise<void> {
    this.inflight++;
    this.srv.counters.requests++;
    let response: Uint8Array;
    try {
      const methods = this.srv._methods;
      const handler = this.srv._handlers.rpc;
      if (!handler || (methods !== null && !methods.has(req.method))) {
        throw new CairnError('InvalidArgument', `unknown method ${JSON.stringify(req.method)}`);
      }
      const ctx: RpcContext = { remoteAddr: this.fs.remoteAddr, caller: this.caller, signal: this.abort.signal };
      if (req.rid !== null) ctx.requestId = req.rid;
      const body = await handler(req.method, req.body, ctx);
      if (req.rid !== null) this.srv._log.debug('rpc', { rid: req.rid, method: req.method, ok: true });
      response = pack({ id: req.id, ok: true, body });
      if (response.length > this.srv._limits.frameBytesMax) throw new CairnError('Internal', `response of ${response.length} bytes exceeds the frame limit`);
    } catch (err) {
      this.srv.counters.requestErrors++;
      response = this.errorResponse(req, err);
      if (req.rid !== null) this.srv._log.debug('rpc', { rid: req.rid, method: req.method, ok: false, code: err instanceof CairnError ? err.code : 'Internal' });
    }
    this.inflight--;
    if (this.state === 'client') {
      if (!this.fs.write(response)) this.writeBlocked = true;
      this.pump();
    }
  }

  private errorResponse(req: Request, err: unknown): Uint8Array {
    let e: CairnError;
    if (err instanceof CairnError) {
      e = err;
    } else {
      this.srv._log.error('request handler failed', { method: req.method, ...(req.rid === null ? {} : { rid: req.rid }), err: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      e = new CairnError('Internal');
    }
    if (e.code === 'Internal' && err instanceof CairnError) this.srv._log.error('request failed', { method: req.method, ...(req.rid === null ? {} : { rid: req.rid }), err: e.message });
    const message = e.expose ? e.message : ERROR_CODES[e.code].message;
    const error: Record<string, unknown> = { code: e.code, message };
    if (e.expose && e.detail !== undefined) error.detail = e.detail;
    try {
      return pack({ id: req.id, ok: false, error });
    } catch {
      // An unencodable detail: send the error without it.
      return pack({ id: req.id, ok: false, error: { code: e.code, message } });
    }
  }

  private onClose(): void {
    this.state = 'closed';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = null;
    this.waiting.length = 0;
    this.abort.abort();
    this.srv._closed(this);
  }
}

/**
 * RpcClient: one client connection to one server address (a metadata server's single address),
 * authenticated with the client token (handshake.ts), carrying many concurrent calls matched by
 * request id (wire format in net-server.ts).
 *
 * The connection is opened on the first call and reopened by a later call after it breaks.
 * call() settles exactly once:
 * - with the response body;
 * - with the server's CairnError (code, message and detail as sent);
 * - Unauthorized when the server refused the token;
 * - Unavailable when the connection could not be made or broke before the answer (the call may
 *   or may not have run: only idempotent calls are safe to retry), or the client was closed or
 *   the caller's signal aborted;
 * - Timeout when no answer came within timeoutMs (the call may still run on the server).
 * Implements client/meta-session.ts's RpcConn.
 *
 * An idle connection (no call outstanding) does not keep the process alive: its socket is
 * unref'd, and ref'd again while a call waits for its answer, so a job that forgot close()
 * still exits once its work is done.
 */
import type { Timers } from '../env/clock.js';
import { pack } from '../proto/msgpack.js';
import { CairnError, isCairnError } from '../util/errors.js';
import { DEFAULT_FRAME_BYTES_MAX } from './frame.js';
import type { FramedSocket } from './framed-socket.js';
import { dialAuthenticated, isErrorCode, unpackObject, type Credential } from './handshake.js';
import type { TlsClientConfig } from './tls.js';

export interface RpcClientComponents {
  timers: Timers;
}

export interface RpcClientInit {
  addr: string;
  clientToken: Credential;
  /**
   * Call as a cluster service under `serviceId`, proving `clientToken` is the cluster secret
   * (chunk servers calling the metadata leader). @default calls as a client
   */
  serviceId?: string;
  /** @default 64 MiB */
  frameBytesMax?: number;
  /** Connect + handshake deadline. @default 3000 */
  connectTimeoutMs?: number;
  /** Default per-call timeout. @default 10000 */
  callTimeoutMs?: number;
  /** Calls outstanding at once on this client; more are refused with Unavailable. @default 1024 */
  callsInflightMax?: number;
  /** Dial over TLS, verifying the server against this CA. @default plain TCP */
  tls?: TlsClientConfig | null;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Sent as the frame's `rid` (proto/request-id.ts): the server logs it with the call. */
  requestId?: string;
}

export interface RpcClientCounters {
  calls: number;
  /** Calls that settled with an error (any code). */
  errors: number;
  timeouts: number;
  connects: number;
  connectFailures: number;
}

interface Pending {
  resolve: (body: unknown) => void;
  reject: (err: CairnError) => void;
  /** The connection the request was written to (null while connecting). */
  conn: Conn | null;
  frame: Uint8Array;
}

interface Conn {
  fs: FramedSocket | null;
  /** Requests waiting for the handshake to finish. */
  waiting: number[];
  dead: boolean;
}

export class RpcClient {
  readonly addr: string;
  readonly counters: RpcClientCounters = { calls: 0, errors: 0, timeouts: 0, connects: 0, connectFailures: 0 };
  private readonly c: RpcClientComponents;
  private readonly init: RpcClientInit;
  private readonly frameBytesMax: number;
  private readonly pending = new Map<number, Pending>();
  private conn: Conn | null = null;
  private nextId = 1;
  private closed = false;

  constructor(c: RpcClientComponents, init: RpcClientInit) {
    this.c = c;
    this.init = init;
    this.addr = init.addr;
    this.frameBytesMax = init.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX;
  }

  call(method: string, body: unknown, opts: CallOptions = {}): Promise<unknown> {
    this.counters.calls++;
    if (this.closed) return this.fail(new CairnError('Unavailable', 'client closed'));
    if (opts.signal?.aborted) return this.fail(new CairnError('Unavailable', 'call aborted', { aborted: true }));
    if (this.pending.size >= (this.init.callsInflightMax ?? 1024)) return this.fail(new CairnError('Unavailable', 'too many calls in flight'));
    const id = this.nextId++;
    let frame: Uint8Array;
    try {
      frame = pack(opts.requestId === undefined ? { id, method, body } : { id, method, body, rid: opts.requestId });
    } catch (err) {
      return this.fail(new CairnError('InvalidArgument', `request body cannot be encoded: ${err instanceof Error ? err.message : String(err)}`));
    }
    if (frame.length > this.frameBytesMax) return this.fail(new CairnError('InvalidArgument', `request of ${frame.length} bytes exceeds the frame limit of ${this.frameBytesMax}`));

    return new Promise<unknown>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.init.callTimeoutMs ?? 10_000;
      const signal = opts.signal;
      const onAbort = (): void => settle(new CairnError('Unavailable', 'call aborted', { aborted: true }));
      const timer = this.c.timers.setTimeout(() => {
        this.counters.timeouts++;
        settle(new CairnError('Timeout', `${method} got no answer from ${this.addr} within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (err: CairnError | null, out?: unknown): void => {
        if (!this.pending.delete(id)) return;
        if (this.pending.size === 0) this.holdOpen(false);
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          this.counters.errors++;
          reject(err);
        } else resolve(out);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve: (b) => settle(null, b), reject: (e) => settle(e), conn: null, frame });
      if (this.pending.size === 1) this.holdOpen(true);
      this.dispatch(id);
    });
  }

  /** Close the connection; outstanding calls fail with Unavailable. */
  close(): void {
    this.closed = true;
    const err = new CairnError('Unavailable', 'client closed');
    for (const p of [...this.pending.values()]) p.reject(err);
    this.conn?.fs?.destroy();
    if (this.conn) this.conn.dead = true;
    this.conn = null;
  }

  // -------------------------------------------------------------------------------------------

  private fail(err: CairnError): Promise<never> {
    this.counters.errors++;
    return Promise.reject(err);
  }

  /** Whether the open connection keeps the event loop alive (only while calls are outstanding). */
  private holdOpen(busy: boolean): void {
    const socket = this.conn?.fs?.socket;
    if (socket === undefined) return;
    if (busy) socket.ref();
    else socket.unref();
  }

  /** Write the request now, or queue it behind the handshake (dialling if needed). */
  private dispatch(id: number): void {
    const p = this.pending.get(id)!;
    const conn = this.conn ?? this.connect();
    p.conn = conn;
    if (conn.fs === null) conn.waiting.push(id);
    else conn.fs.write(p.frame);
  }

  private connect(): Conn {
    const conn: Conn = { fs: null, waiting: [], dead: false };
    this.conn = conn;
    dialAuthenticated(this.c.timers, {
      addr: this.addr,
      role: this.init.serviceId === undefined ? 'client' : 'service',
      ...(this.init.serviceId === undefined ? {} : { id: this.init.serviceId }),
      credential: this.init.clientToken,
      frameBytesMax: this.frameBytesMax,
      timeoutMs: this.init.connectTimeoutMs ?? 3000,
      tls: this.init.tls ?? null,
    }).then(
      (fs) => {
        if (conn.dead) {
          fs.destroy();
          return;
        }
        this.counters.connects++;
        conn.fs = fs;
        if (this.pending.size === 0) fs.socket.unref();
        fs.setHandlers({
          onFrame: (payload) => this.onResponse(payload),
          onClose: (err) => this.lost(conn, new CairnError('Unavailable', `connection to ${this.addr} lost${err ? `: ${err.message}` : ''}`)),
        });
        for (const id of conn.waiting) {
          const p = this.pending.get(id);
          if (p !== undefined) fs.write(p.frame);
        }
        conn.waiting = [];
      },
      (err: unknown) => {
        this.counters.connectFailures++;
        // connectFailed tells callers that the server never saw the request (nothing listens, or
        // the handshake failed), as opposed to a request lost in flight.
        const e = isCairnError(err, 'Unauthorized') ? err : new CairnError('Unavailable', err instanceof Error ? err.message : String(err), { connectFailed: true });
        this.lost(conn, e);
      },
    );
    return conn;
  }

  /** The connection is gone: fail every call that was on it (or waiting for it). */
  private lost(conn: Conn, err: CairnError): void {
    conn.dead = true;
    if (this.conn === conn) this.conn = null;
    for (const p of [...this.pending.values()]) if (p.conn === conn) p.reject(err);
  }

  /** A response frame. A malformed one throws ProtocolError, which closes the connection. */
  private onResponse(payload: Uint8Array): void {
    const v = unpackObject(payload);
    const id = v.id;
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new CairnError('ProtocolError', 'response without an id');
    if (v.ok === true) {
      this.pending.get(id)?.resolve(v.body);
      return;
    }
    const e = v.error;
    if (v.ok !== false || e === null || typeof e !== 'object') throw new CairnError('ProtocolError', 'malformed response');
    const { code, message, detail } = e as Record<string, unknown>;
    const err = new CairnError(
      isErrorCode(code) ? code : 'Internal',
      typeof message === 'string' ? message : undefined,
      detail !== null && typeof detail === 'object' && !Array.isArray(detail) ? (detail as Record<string, unknown>) : undefined,
    );
    this.pending.get(id)?.reject(err);
  }
}

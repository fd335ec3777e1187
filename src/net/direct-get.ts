/**
 * HTTP/1.1 GETs whose response body lands straight in the caller's buffer: the socket reads into
 * that buffer (net's `onread` with a buffer chosen per read), so a body byte is copied once, from
 * the kernel to where it is used. Node's own HTTP client copies every body byte once more (its
 * parser hands each body piece over as a fresh buffer) and allocates a buffer per socket read;
 * for bulk chunk reads those two costs were a large share of a reader's CPU (bench/RESULTS.md).
 *
 * Scope: what the chunk servers' data plane answers (chunk-http-server.ts), nothing more — a
 * status line, headers, and a body of Content-Length bytes (no chunked bodies, no 1xx, no
 * pipelining: one request at a time per socket). Keep-alive sockets are pooled per address; a
 * request on a reused socket that fails before any answer byte is sent once more on a new socket
 * (the server may have closed the idle socket as the request left).
 *
 * Errors: DirectGetError with `received`, the body bytes already in place (a caller may resume
 * a range after them), and `status` when the head had arrived. Never a partial result.
 */
import { connect, type Socket } from 'node:net';
import { CairnError } from '../util/errors.js';

/** Largest response head (status line and headers). */
const HEAD_BYTES_MAX = 16 * 1024;
/** Largest body of an answer the caller gives no buffer for (an error's JSON). */
const SMALL_BODY_BYTES_MAX = 64 * 1024;
/** The first read of each answer lands here (then is copied); never handed out. */
const SPARE_BYTES = 4 * 1024;

export interface DirectGetHead {
  status: number;
  /** Header values by lowercase name (a repeated header: the last value). */
  headers: Map<string, string>;
}

export interface DirectGetRequest {
  /** host:port */
  host: string;
  port: number;
  /** Request target, already encoded. */
  path: string;
  /** Extra request headers; names and values must not hold CR or LF. */
  headers: Record<string, string>;
  /**
   * Called once the head arrived with a 2xx status: the buffer the body goes into, exactly the
   * announced Content-Length long; or a CairnError to fail the request with.
   */
  bodyInto(head: DirectGetHead, contentLength: number): Buffer | CairnError;
  /** Each piece of a 2xx body as it lands, in order (while it is still in the CPU's cache: a checksum costs least here). */
  onBody?(piece: Buffer): void;
  signal?: AbortSignal;
  /** The socket may be silent this long before the request fails with Timeout. */
  idleTimeoutMs: number;
}

export interface DirectGetResult {
  head: DirectGetHead;
  /** The 2xx body (the buffer bodyInto gave, filled), or a non-2xx answer's own body. */
  body: Buffer;
}

export class DirectGetError extends CairnError {}

export interface DirectGetOptions {
  /** Idle keep-alive sockets kept per address. @default 8 */
  idleSocketsPerHostMax?: number;
  /** An idle pooled socket is closed after this long (below the server's keep-alive timeout). @default 4000 */
  idleKeepMs?: number;
}

/** One socket's state machine: which buffer the next read lands in and what it means. */
class Conn {
  readonly socket: Socket;
  private spare = Buffer.allocUnsafe(SPARE_BYTES);
  private headBuf: Buffer | null = null;
  private headLen = 0;
  private body: Buffer | null = null;
  private bodyLen = 0;
  private filled = 0;
  private head: DirectGetHead | null = null;
  /** The body in flight is a 2xx body (the caller's buffer). */
  private wanted = false;
  private keepAlive = true;
  private cur: { req: DirectGetRequest; resolve: (r: DirectGetResult) => void; reject: (e: Error) => void } | null = null;
  /** Bytes of an answer seen (head included) for the request in flight. */
  private answered = 0;
  closed = false;
  reused = false;

  constructor(host: string, port: number, onClose: (c: Conn) => void) {
    this.socket = connect({ host, port, noDelay: true, onread: { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => {
          this.onRead(n, buf);
          return true; // never pause: every read has a place to land
        } } });
    const fail = (e: Error | null, why: string): void => {
      this.closed = true;
      onClose(this);
      this.fail(e ?? new DirectGetError('Unavailable', why));
    };
    this.socket.on('error', (e) => fail(e, e.message));
    this.socket.on('end', () => {
      fail(null, 'the server closed the connection');
      this.socket.destroy();
    });
    this.socket.on('close', () => fail(null, 'connection closed'));
    this.socket.on('timeout', () => {
      if (this.cur) this.socket.destroy(new DirectGetError('Timeout', `no progress for ${this.cur.req.idleTimeoutMs} ms`));
      else this.socket.destroy(); // an idle pooled socket past its keep time
    });
  }

  get busy(): boolean {
    return this.cur !== null;
  }

  start(req: DirectGetRequest, resolve: (r: DirectGetResult) => void, reject: (e: Error) => void): void {
    this.cur = { req, resolve, reject };
    this.headBuf ??= Buffer.allocUnsafe(HEAD_BYTES_MAX);
    this.headLen = 0;
    this.head = null;
    this.body = null;
    this.answered = 0;
    let text = `GET ${req.path} HTTP/1.1\r\nhost: ${req.host}:${req.port}\r\n`;
    for (const [k, v] of Object.entries(req.headers)) {
      if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) {
        // Nothing was sent; the socket is not handed out again.
        this.fail(new DirectGetError('InvalidArgument', `header ${k} holds a line break`));
        this.socket.destroy();
        return;
      }
      text += `${k}: ${v}\r\n`;
    }
    this.socket.setTimeout(req.idleTimeoutMs);
    this.socket.write(`${text}\r\n`, 'latin1');
  }

  /** Where the next socket read lands. Never an empty buffer (a read into one fails with ENOBUFS). */
  private nextBuffer(): Buffer {
    if (this.cur === null) return this.spare;
    if (this.head === null) return this.headBuf!.subarray(this.headLen);
    if (this.filled < this.bodyLen) return this.body!.subarray(this.filled);
    return this.spare;
  }

  /**
   * `n` bytes arrived at the start of `buf`: normally exactly where nextBuffer() said (the head
   * buffer or the body, in place); the first read of an answer may land in the spare buffer
   * (nextBuffer was asked while no request was in flight) and is copied where it belongs.
   */
  private onRead(n: number, buf: Uint8Array): void {
    if (this.cur === null) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.socket.destroy();
      return;
    }
    this.answered += n;
    if (this.head === null) {
      const hb = this.headBuf!;
      if (!landedAt(buf, hb, this.headLen)) {
        if (this.headLen + n > hb.length) return this.protocolError('response head too large');
        hb.set(buf.subarray(0, n), this.headLen);
      }
      this.headLen += n;
      const end = hb.subarray(0, this.headLen).indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (this.headLen >= HEAD_BYTES_MAX) this.protocolError('response head too large');
        return;
      }
      if (!this.parseHead(hb.toString('latin1', 0, end))) return;
      const extra = hb.subarray(end + 4, this.headLen);
      if (extra.length > this.bodyLen - this.filled) return this.protocolError('more bytes than the announced Content-Length');
      extra.copy(this.body!, this.filled);
      this.landed(this.filled, extra.length);
      this.filled += extra.length;
    } else {
      if (this.filled + n > this.bodyLen) return this.protocolError('more bytes than the announced Content-Length');
      if (!landedAt(buf, this.body!, this.filled)) this.body!.set(buf.subarray(0, n), this.filled);
      this.landed(this.filled, n);
      this.filled += n;
    }
    if (this.filled === this.bodyLen) this.finish();
  }

  private landed(at: number, n: number): void {
    if (n > 0 && this.wanted) this.cur!.req.onBody?.(this.body!.subarray(at, at + n));
  }

  /** False when the request already failed. */
  private parseHead(text: string): boolean {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m) {
      this.protocolError('not an HTTP/1.x status line');
      return false;
    }
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        this.protocolError('malformed header line');
        return false;
      }
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const status = Number(m[2]);
    const head: DirectGetHead = { status, headers };
    const cl = headers.get('content-length');
    if (cl === undefined || !/^\d{1,15}$/.test(cl) || headers.has('transfer-encoding')) {
      this.protocolError('an answer without a Content-Length');
      return false;
    }
    const length = Number(cl);
    const conn = (headers.get('connection') ?? '').toLowerCase();
    this.keepAlive = m[1] === '1' ? conn !== 'close' : conn === 'keep-alive';
    if (status >= 200 && status < 300) {
      const into = this.cur!.req.bodyInto(head, length);
      if (into instanceof Error) {
        this.keepAlive = false;
        this.fail(into);
        this.socket.destroy();
        return false;
      }
      if (into.length !== length) {
        // Thrown here it would escape the socket's read callback and end the process.
        this.fail(new DirectGetError('Internal', `bodyInto gave ${into.length} bytes for a ${length}-byte body`));
        this.socket.destroy();
        return false;
      }
      this.body = into;
      this.wanted = true;
    } else {
      if (length > SMALL_BODY_BYTES_MAX) {
        this.protocolError(`an HTTP ${status} answer of ${length} bytes`);
        return false;
      }
      this.body = Buffer.allocUnsafe(length);
      this.wanted = false;
    }
    this.head = head;
    this.bodyLen = length;
    this.filled = 0;
    return true;
  }

  private finish(): void {
    const cur = this.cur!;
    const result: DirectGetResult = { head: this.head!, body: this.body! };
    this.cur = null;
    this.body = null;
    this.head = null;
    this.reused = true;
    if (!this.keepAlive) {
      this.closed = true;
      this.socket.end();
    }
    cur.resolve(result);
  }

  private protocolError(why: string): void {
    this.fail(new DirectGetError('ProtocolError', why));
    this.socket.destroy();
  }

  /** Fails the request in flight, if any, with `e` (as a DirectGetError carrying what arrived). */
  fail(e: Error): void {
    const cur = this.cur;
    if (cur === null) return;
    this.cur = null;
    this.keepAlive = false;
    const base = e instanceof CairnError ? e : null;
    const err = new DirectGetError(base?.code ?? 'Unavailable', e.message, {
      ...(base?.detail ?? {}),
      received: this.head === null ? 0 : this.filled,
      answered: this.answered,
      reused: this.reused,
      ...(this.head ? { status: this.head.status } : {}),
    });
    this.head = null;
    this.body = null;
    cur.reject(err);
  }
}

/** Whether `buf` starts at byte `off` of `base` (the read landed in place). */
function landedAt(buf: Uint8Array, base: Buffer, off: number): boolean {
  return buf.buffer === base.buffer && buf.byteOffset === base.byteOffset + off;
}

export class DirectGet {
  private readonly idle = new Map<string, Conn[]>();
  private readonly all = new Set<Conn>();
  private readonly idleMax: number;
  private readonly keepMs: number;

  constructor(options: DirectGetOptions = {}) {
    this.idleMax = options.idleSocketsPerHostMax ?? 8;
    this.keepMs = options.idleKeepMs ?? 4000;
  }

  /** One GET. Rejects with DirectGetError (or the signal's reason). */
  async get(req: DirectGetRequest): Promise<DirectGetResult> {
    req.signal?.throwIfAborted();
    const key = `${req.host}:${req.port}`;
    // Bounded: a reused socket that failed before answering is retried once on a new one.
    for (let attempt = 0; ; attempt++) {
      const conn = attempt === 0 ? this.take(key) : null;
      const c = conn ?? this.open(key, req);
      c.socket.ref();
      try {
        const r = await this.run(c, req);
        this.release(key, c);
        return r;
      } catch (e) {
        const d = (e as CairnError).detail;
        if (req.signal?.aborted) throw req.signal.reason;
        if (attempt === 0 && conn !== null && d?.answered === 0) continue;
        throw e;
      }
    }
  }

  /** Closes every socket; requests in flight fail. */
  close(): void {
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.clear();
  }

  private run(c: Conn, req: DirectGetRequest): Promise<DirectGetResult> {
    return new Promise<DirectGetResult>((resolve, reject) => {
      const signal = req.signal;
      const onAbort = (): void => {
        c.fail(new DirectGetError('Unavailable', 'aborted'));
        c.socket.destroy();
      };
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      signal?.addEventListener('abort', onAbort, { once: true });
      c.start(
        req,
        (r) => {
          done();
          resolve(r);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }

  private take(key: string): Conn | null {
    const list = this.idle.get(key);
    // Each turn removes one socket from the list.
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (!c.closed) return c;
    }
    return null;
  }

  private open(key: string, req: DirectGetRequest): Conn {
    const c = new Conn(req.host, req.port, (gone) => {
      this.all.delete(gone);
      const list = this.idle.get(key);
      const i = list?.indexOf(gone) ?? -1;
      if (i >= 0) list!.splice(i, 1);
    });
    this.all.add(c);
    return c;
  }

  private release(key: string, c: Conn): void {
    if (c.closed || c.busy) return;
    const list = this.idle.get(key) ?? [];
    if (list.length >= this.idleMax) {
      c.socket.end();
      return;
    }
    // An idle pooled socket neither keeps the process alive nor outlives the server's keep-alive.
    c.socket.setTimeout(this.keepMs);
    c.socket.unref();
    list.push(c);
    this.idle.set(key, list);
  }
}

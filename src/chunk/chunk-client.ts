/**
 * HTTP client of the chunk servers' data plane (see chunk-http-server.ts for the wire API), over a
 * keep-alive Agent. Used by the client library, and by chunk servers themselves to forward a
 * pipelined write downstream and (later) to copy replicas from each other.
 *
 * putChunk streams ONE pass over `source` (or sends it in one write when it is the whole chunk as
 * one buffer, or takes what the caller pushes into a PutFeed) to the first target, which forwards to the next, and
 * so on (HDFS write pipeline). Its outcome lists every target in order with ok / error; the
 * source cannot be replayed here, so replacing a failed target (next server on the ring) and
 * re-sending is the caller's job. Target failures are outcomes, not exceptions; the call throws
 * only when the source itself fails or the signal aborts.
 *
 * getChunk resolves once the response headers arrived (errors as CairnError with the server's
 * code), with a stream of the body that fails if the server cuts it short; a whole-chunk read is
 * also checked end to end against the replica's CRC-32C (header X-Cairn-Crc32c).
 */
import { Agent, request, type IncomingMessage, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DirectGet, type DirectGetResult } from '../net/index.js';
import { parseHostPort } from '../proto/addr.js';
import { crc32c, crcFromHex, crcToHex } from '../util/crc32c.js';
import { H_CRC, H_ERROR, H_PIPELINE, H_SIZE, H_TOKEN, H_VERIFY, VERIFY_BY_READER, formatPipeline, wireErrorOf, type ChunkTarget, type ChunkTargetResult, type WireError } from '../proto/chunk-http.js';
import { formatRange, parseContentRange } from '../proto/http-range.js';
import { REQUEST_ID_HEADER } from '../proto/request-id.js';
import { CairnError, type ErrorCode } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { IO_CLASS_HEADER, IO_CLASS_REPAIR } from './io-priority.js';
import { PutFeed } from './request-body.js';
import { CHUNK_IDLE_TIMEOUT_MS_DEFAULT, CHUNK_SOCKETS_PER_HOST_MAX_DEFAULT, PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT } from '../config/defaults.js';

export { H_CRC, H_PIPELINE, H_SIZE, H_TOKEN, formatPipeline, parsePipeline, type ChunkTarget, type ChunkTargetResult } from '../proto/chunk-http.js';

/**
 * A kept-alive socket idle this long is closed by us. Chunk servers close idle sockets after
 * HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT (5 s), and an agent on its own keeps one until a second
 * before that (the server's Keep-Alive hint): a starved event loop on either side (load 30–50 on
 * 2 cores) turns that second into reusing a socket the server has just reset — EPIPE/ECONNRESET
 * on a pipeline hop, which cannot re-send a streamed body. Closing first leaves a margin of 3 s.
 */
const IDLE_SOCKET_CLOSE_MS = 2000;

/** Largest JSON response body read from a chunk server. */
const RESPONSE_JSON_BYTES_MAX = 64 * 1024;

export interface ChunkPutOutcome {
  /** Every target holds the chunk durably. */
  ok: boolean;
  results: ChunkTargetResult[];
  size?: number;
  crc32c?: number;
}

export interface ChunkClientPutOptions {
  size?: number;
  crc32c?: number;
  signal?: AbortSignal;
  /** Sent as X-Request-Id (proto/request-id.ts), for the chunk servers' logs. */
  requestId?: string;
}

/**
 * Idle timeout of a PUT to a pipeline of `targets` servers: each hop waits longer than the hop
 * after it (HDFS's socket timeout + extension per pipeline node), so the server next to a hung
 * one gives up first and reports exactly which one failed.
 */
export function pipelineTimeoutMs(baseMs: number, extensionMs: number, targets: number): number {
  return baseMs + extensionMs * Math.max(0, targets - 1);
}

/** Who checks the bytes of a whole read. */
export interface WholeReadCheck {
  /**
   * Who checks the bytes of a whole read: 'reader' (X-Cairn-Verify: reader; the server sends them
   * without checking each segment first) or 'server'. @default 'reader' when verifyCrc is on (this
   * client checks them), else 'server'. The replicator says 'reader' with verifyCrc off: its store
   * checks a copy against the source's CRC as it writes it.
   */
  checkedBy?: 'reader' | 'server';
}

export interface ChunkGetOptions extends WholeReadCheck {
  /** Byte range, `end` exclusive; omitted end = to the end of the chunk. */
  range?: { start: number; end?: number };
  signal?: AbortSignal;
  /**
   * Check a whole read against the chunk's CRC-32C as it streams. Turn it off only when the
   * consumer checks the result's crc32c itself (the replicator: the store verifies it while
   * writing, so each byte is hashed once there, not twice). Length is always checked. @default true
   */
  verifyCrc?: boolean;
  /** Sent as X-Request-Id (proto/request-id.ts), for the chunk server's log. */
  requestId?: string;
  /** A repair copy's read: the server serves it after its client requests (io-priority.ts). */
  repair?: boolean;
}

export interface ChunkReadOptions extends WholeReadCheck {
  /** Byte range, `end` exclusive; omitted: the whole chunk. */
  range?: { start: number; end: number };
  /**
   * Where the bytes go: exactly the range's length (a reader resuming a range passes the rest of
   * its buffer). @default a new buffer
   */
  into?: Buffer;
  /** Without `into`: a scratch buffer the body lands in (a view of its start) when it is long enough. @default a new buffer */
  scratch?: Buffer;
  signal?: AbortSignal;
  /** Check a whole read against the chunk's CRC-32C. @default true */
  verifyCrc?: boolean;
  requestId?: string;
  /** A repair copy's read: the server serves it after its client requests (io-priority.ts). */
  repair?: boolean;
}

export interface ChunkReadResult {
  /** The whole chunk's size and CRC (from the response headers). */
  size: number;
  crc32c: number;
  start: number;
  end: number;
  /** The bytes of [start, end): the `into` buffer, filled. */
  bytes: Buffer;
}

export interface ChunkGetResult {
  /** The whole chunk's size and CRC (from the response headers). */
  size: number;
  crc32c: number;
  start: number;
  end: number;
  stream: Readable;
}

export interface ChunkClientComponents {
  logger: Logger;
}

export interface ChunkClientOptions {
  /** Open sockets per chunk server. @default CHUNK_SOCKETS_PER_HOST_MAX_DEFAULT */
  socketsPerHostMax?: number;
  /** A request whose socket sees no traffic this long fails with Timeout. @default CHUNK_IDLE_TIMEOUT_MS_DEFAULT */
  idleTimeoutMs?: number;
  /** Added to a PUT's idle timeout per downstream server in its pipeline. @default PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT */
  pipelineTimeoutExtensionMs?: number;
  /** HTTPS, verifying chunk servers' certificates against this CA (PEM). @default plain HTTP */
  tls?: { ca: Uint8Array } | null;
}

export class ChunkClient {
  private readonly agent: Agent;
  /** Bulk reads over plain TCP: bodies straight into the caller's buffer (net/direct-get.ts); null with TLS. */
  private readonly direct: DirectGet | null;
  private readonly idleTimeoutMs: number;
  private readonly extensionMs: number;
  private readonly log: Logger;

  constructor(components: ChunkClientComponents, options: ChunkClientOptions = {}) {
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_CLOSE_MS, maxSockets: options.socketsPerHostMax ?? CHUNK_SOCKETS_PER_HOST_MAX_DEFAULT, scheduling: 'lifo' } as const;
    this.agent = options.tls ? new HttpsAgent({ ...agentOptions, ca: Buffer.from(options.tls.ca), rejectUnauthorized: true }) : new Agent(agentOptions);
    this.direct = options.tls ? null : new DirectGet();
    this.idleTimeoutMs = options.idleTimeoutMs ?? CHUNK_IDLE_TIMEOUT_MS_DEFAULT;
    this.extensionMs = options.pipelineTimeoutExtensionMs ?? PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT;
    this.log = components.logger.child({ component: 'chunk-client' });
  }

  /** Writes one chunk through the pipeline `targets[0] → targets[1] → …`. See the file comment. */
  async putChunk(chunkId: string, targets: readonly ChunkTarget[], source: Readable | AsyncIterable<Uint8Array> | Uint8Array | PutFeed, opts: ChunkClientPutOptions = {}): Promise<ChunkPutOutcome> {
    // A whole buffer can be sent again: once, on a fresh socket, when a kept-alive socket turned
    // out closed by the server before it answered (its idle timeout raced our reuse, which a
    // starved event loop makes likely: EPIPE or ECONNRESET). A PUT is idempotent: a replica the
    // first attempt stored after all is kept as it is.
    for (let attempt = 0; ; attempt++) {
      const r = await this.putOnce(chunkId, targets, source, opts);
      if (r.staleSocket && attempt === 0) {
        this.log.debug('kept-alive socket was closed by the chunk server; sending again', { addr: targets[0]?.addr, chunkId });
        continue;
      }
      return r.outcome;
    }
  }

  private async putOnce(chunkId: string, targets: readonly ChunkTarget[], source: Readable | AsyncIterable<Uint8Array> | Uint8Array | PutFeed, opts: ChunkClientPutOptions): Promise<{ outcome: ChunkPutOutcome; staleSocket: boolean }> {
    const first = targets[0];
    if (!first) throw new CairnError('InvalidArgument', 'putChunk needs at least one target');
    const headers: OutgoingHttpHeaders = { [H_TOKEN]: first.token, 'content-type': 'application/octet-stream' };
    const whole = source instanceof Uint8Array ? source : null;
    if (whole) {
      // The whole chunk at hand: sent in one write (a differing opts.size is the server's to refuse).
      headers['content-length'] = String(whole.length);
      if (opts.size !== undefined) headers[H_SIZE] = String(opts.size);
    } else if (opts.size !== undefined) {
      headers['content-length'] = String(opts.size);
      headers[H_SIZE] = String(opts.size);
    } else {
      headers['transfer-encoding'] = 'chunked';
    }
    if (opts.crc32c !== undefined) headers[H_CRC] = crcToHex(opts.crc32c);
    if (targets.length > 1) headers[H_PIPELINE] = formatPipeline(targets.slice(1));
    if (opts.requestId !== undefined) headers[REQUEST_ID_HEADER] = opts.requestId;

    // Tell a failing source apart from a failing request: pipeline() destroys the source with the
    // request's error too, but only after the request failed.
    let sourceError: unknown = null;
    let reqFailed = false;
    const notReached = (from: number): ChunkTargetResult[] =>
      targets.slice(from).map((t) => ({ addr: t.addr, ok: false, error: { code: 'Unavailable' as ErrorCode, message: 'not attempted: an earlier server in the pipeline failed' } }));

    const req = this.request(first.addr, 'PUT', chunkId, headers, opts.signal, pipelineTimeoutMs(this.idleTimeoutMs, this.extensionMs, targets.length));
    req.once('error', () => (reqFailed = true));
    const responseP = responseOf(req);
    let sent: Promise<unknown>;
    if (whole) {
      req.end(whole);
      sent = Promise.resolve(null);
    } else if (source instanceof PutFeed) {
      // Pushed by the caller (a chunk server forwarding the body it receives); a 201 means it all arrived.
      source.attach(req);
      sent = Promise.resolve(null);
    } else {
      const src = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
      src.once('error', (e) => {
        if (!reqFailed) sourceError = e;
      });
      sent = pipeline(src, req).then(
        () => null,
        (e: unknown) => e,
      );
    }
    let res: IncomingMessage;
    try {
      res = await responseP;
    } catch (e) {
      // Not awaiting `sent`: a source stuck in its own await must not hold us (it is destroyed).
      opts.signal?.throwIfAborted();
      if (sourceError !== null) throw sourceError;
      const code = (e as NodeJS.ErrnoException).code;
      const staleSocket = whole !== null && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
      return { outcome: { ok: false, results: [{ addr: first.addr, ok: false, error: asWireError(e) }, ...notReached(1)] }, staleSocket };
    }
    const body: Record<string, unknown> = await readJson(res).catch((e: unknown) => ({ error: asWireError(e) }));
    const status = res.statusCode ?? 500;
    if (res.statusCode !== 201) req.destroy(); // stop sending a body nobody will store
    else await sent;
    opts.signal?.throwIfAborted();
    if (sourceError !== null) throw sourceError;
    const results = parseResults(body, targets);
    if (res.statusCode === 201 && results.every((r) => r.ok)) {
      const out: ChunkPutOutcome = { ok: true, results };
      if (typeof body.size === 'number') out.size = body.size;
      const crc = typeof body.crc32c === 'string' ? crcFromHex(body.crc32c) : null;
      if (crc !== null) out.crc32c = crc;
      return { outcome: out, staleSocket: false };
    }
    if (results.length === targets.length) return { outcome: { ok: false, results }, staleSocket: false };
    // No per-target detail: the first server refused the request as a whole (401, 400, 413, 507…).
    const err = wireErrorOf(status, res.headers[H_ERROR], body);
    return { outcome: { ok: false, results: [{ addr: first.addr, ok: false, error: err }, ...notReached(1)] }, staleSocket: false };
  }

  /** Opens a verified read of a replica (or a range of it). Throws CairnError on any error response. */
  async getChunk(addr: string, chunkId: string, token: string, opts: ChunkGetOptions = {}): Promise<ChunkGetResult> {
    const headers: OutgoingHttpHeaders = { [H_TOKEN]: token };
    if (opts.requestId !== undefined) headers[REQUEST_ID_HEADER] = opts.requestId;
    if (opts.repair === true) headers[IO_CLASS_HEADER] = IO_CLASS_REPAIR;
    const r = opts.range;
    if (r) {
      if (!Number.isSafeInteger(r.start) || r.start < 0 || (r.end !== undefined && (!Number.isSafeInteger(r.end) || r.end <= r.start)))
        throw new CairnError('InvalidArgument', 'range must be 0 ≤ start < end');
      headers.range = formatRange(r.start, r.end);
    } else if (checkedByReader(opts)) {
      headers[H_VERIFY] = VERIFY_BY_READER; // checked here (BodyCheck) or by the consumer, not first by the server too
    }
    const req = this.request(addr, 'GET', chunkId, headers, opts.signal);
    req.end();
    const res = await responseOf(req).catch((e: unknown) => {
      const w = asWireError(e);
      throw new CairnError(w.code, w.message, { addr });
    });
    if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorOf(res, addr);
    const size = Number(res.headers[H_SIZE]);
    const crc = crcFromHex(String(res.headers[H_CRC] ?? ''));
    const length = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(size) || crc === null || !Number.isSafeInteger(length)) {
      res.destroy();
      throw new CairnError('ProtocolError', `chunk server ${addr} sent a response without size, CRC or length`);
    }
    let start = 0;
    if (res.statusCode === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr) {
        res.destroy();
        throw new CairnError('ProtocolError', `chunk server ${addr} sent a 206 without Content-Range`);
      }
      start = cr.start;
    }
    const check = new BodyCheck(length, res.statusCode === 200 && opts.verifyCrc !== false ? crc : null, addr);
    pipeline(res, check).catch(() => undefined); // errors surface on `check`
    return { size, crc32c: crc, start, end: start + length, stream: check };
  }

  /**
   * Reads a replica (or a range of it) into one buffer: the socket reads straight into it (no
   * stream, no copy after the kernel's). Length always checked; a whole read also against the
   * chunk's CRC-32C (X-Cairn-Crc32c) unless opts.verifyCrc is false. Errors are CairnErrors with
   * `addr`, and `received` (bytes already in place at the start of `into`) when a body was cut.
   */
  async readChunk(addr: string, chunkId: string, token: string, opts: ChunkReadOptions = {}): Promise<ChunkReadResult> {
    const headers: Record<string, string> = { [H_TOKEN]: token };
    if (opts.requestId !== undefined) headers[REQUEST_ID_HEADER] = opts.requestId;
    if (opts.repair === true) headers[IO_CLASS_HEADER] = IO_CLASS_REPAIR;
    const r = opts.range;
    if (r) {
      if (!Number.isSafeInteger(r.start) || r.start < 0 || !Number.isSafeInteger(r.end) || r.end <= r.start) throw new CairnError('InvalidArgument', 'range must be 0 ≤ start < end');
      if (opts.into && opts.into.length !== r.end - r.start) throw new CairnError('InvalidArgument', `a ${opts.into.length}-byte buffer for a ${r.end - r.start}-byte range`);
      headers.range = formatRange(r.start, r.end);
    }
    if (this.direct === null) return this.readChunkStreamed(addr, chunkId, token, opts);
    const { host, port } = parseHostPort(addr);
    // A whole read is checked against the chunk's CRC; a range cannot be (the server checked its
    // segments). The server need not check those of a whole read (H_VERIFY).
    const verify = !r && opts.verifyCrc !== false;
    if (!r && checkedByReader(opts)) headers[H_VERIFY] = VERIFY_BY_READER;
    let wholeCrc = 0;
    let size = -1;
    let crc = 0;
    let start = 0;
    let answer: DirectGetResult;
    try {
      answer = await this.direct.get({
        host,
        port,
        path: `/chunks/${encodeURIComponent(chunkId)}`,
        headers,
        idleTimeoutMs: this.idleTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
        bodyInto: (head, length) => {
          size = Number(head.headers.get(H_SIZE));
          const c = crcFromHex(head.headers.get(H_CRC) ?? '');
          if (!Number.isSafeInteger(size) || c === null) return new CairnError('ProtocolError', `chunk server ${addr} sent a response without size or CRC`, { addr });
          crc = c;
          if (head.status === 206) {
            const cr = parseContentRange(head.headers.get('content-range'));
            if (!cr) return new CairnError('ProtocolError', `chunk server ${addr} sent a 206 without Content-Range`, { addr });
            start = cr.start;
          } else if (head.status !== 200) {
            return new CairnError('ProtocolError', `chunk server ${addr} answered HTTP ${head.status}`, { addr });
          }
          if ((r && (start !== r.start || length !== r.end - r.start)) || (!r && length !== size)) return new CairnError('ProtocolError', `chunk server ${addr} sent another range than the one asked for`, { addr });
          return opts.into ?? (opts.scratch && opts.scratch.length >= length ? opts.scratch.subarray(0, length) : Buffer.allocUnsafeSlow(length));
        },
        // Hashed as it lands (cache-hot), not afterwards from memory.
        ...(verify ? { onBody: (piece: Buffer) => (wholeCrc = crc32c(piece, wholeCrc)) } : {}),
      });
    } catch (e) {
      opts.signal?.throwIfAborted();
      const d = (e as CairnError).detail ?? {};
      const received = typeof d.received === 'number' ? d.received : 0;
      if (e instanceof CairnError && (e.code === 'ProtocolError' || e.code === 'Timeout')) throw new CairnError(e.code, `chunk server ${addr}: ${e.message}`, { addr, received });
      throw new CairnError('Unavailable', `chunk server ${addr} cut the read short after ${received} bytes: ${(e as Error).message}`, { addr, received });
    }
    const status = answer.head.status;
    if (status !== 200 && status !== 206) {
      let body: unknown = {};
      try {
        body = answer.body.length > 0 ? JSON.parse(answer.body.toString('utf8')) : {};
      } catch {
        // not JSON: the status and X-Cairn-Error say it
      }
      const w = wireErrorOf(status, answer.head.headers.get(H_ERROR), body);
      throw new CairnError(w.code, w.message, { addr });
    }
    const bytes = answer.body;
    if (status === 200 && verify && wholeCrc !== crc) throw new CairnError('Corrupt', `chunk from ${addr} fails its CRC-32C`, { addr });
    return { size, crc32c: crc, start, end: start + bytes.length, bytes };
  }

  /** readChunk over the HTTP agent (TLS: the socket's bytes come decrypted, one copy more). */
  private async readChunkStreamed(addr: string, chunkId: string, token: string, opts: ChunkReadOptions): Promise<ChunkReadResult> {
    const g = await this.getChunk(addr, chunkId, token, {
      ...(opts.range ? { range: opts.range } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.requestId !== undefined ? { requestId: opts.requestId } : {}),
      ...(opts.repair === true ? { repair: true } : {}),
      verifyCrc: opts.verifyCrc ?? true,
      ...(opts.checkedBy ? { checkedBy: opts.checkedBy } : {}),
    });
    const length = g.end - g.start;
    const into = opts.into ?? (opts.scratch && opts.scratch.length >= length ? opts.scratch.subarray(0, length) : Buffer.allocUnsafeSlow(length));
    if (into.length !== g.end - g.start) {
      g.stream.destroy();
      throw new CairnError('ProtocolError', `chunk server ${addr} sent another range than the one asked for`, { addr });
    }
    let got = 0;
    try {
      for await (const b of g.stream as AsyncIterable<Buffer>) {
        b.copy(into, got);
        got += b.length;
      }
    } catch (e) {
      opts.signal?.throwIfAborted();
      throw new CairnError(e instanceof CairnError ? e.code : 'Unavailable', (e as Error).message, { addr, received: got });
    }
    return { size: g.size, crc32c: g.crc32c, start: g.start, end: g.end, bytes: into };
  }

  /** The replica's size and CRC, or null when the server does not hold it. */
  async headChunk(addr: string, chunkId: string, token: string, signal?: AbortSignal): Promise<{ size: number; crc32c: number } | null> {
    const req = this.request(addr, 'HEAD', chunkId, { [H_TOKEN]: token }, signal);
    req.end();
    const res = await responseOf(req).catch((e: unknown) => {
      const w = asWireError(e);
      throw new CairnError(w.code, w.message, { addr });
    });
    res.resume();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) {
      // A HEAD answer has no body: the code comes in X-Cairn-Error alone.
      const status = res.statusCode ?? 500;
      throw new CairnError(wireErrorOf(status, res.headers[H_ERROR], undefined).code, `HEAD of chunk ${chunkId} on ${addr}: HTTP ${status}`, { addr });
    }
    const size = Number(res.headers[H_SIZE]);
    const crc = crcFromHex(String(res.headers[H_CRC] ?? ''));
    if (!Number.isSafeInteger(size) || crc === null) throw new CairnError('ProtocolError', `chunk server ${addr} sent a HEAD without size or CRC`);
    return { size, crc32c: crc };
  }

  /** Deletes a replica; false when the server did not hold it. */
  async deleteChunk(addr: string, chunkId: string, token: string, signal?: AbortSignal): Promise<boolean> {
    const req = this.request(addr, 'DELETE', chunkId, { [H_TOKEN]: token }, signal);
    req.end();
    const res = await responseOf(req).catch((e: unknown) => {
      const w = asWireError(e);
      throw new CairnError(w.code, w.message, { addr });
    });
    if (res.statusCode === 204) {
      res.resume();
      return true;
    }
    const err = await errorOf(res, addr);
    if (err.code === 'NotFound') return false;
    throw err;
  }

  /** Closes idle keep-alive sockets; requests in flight continue. */
  close(): void {
    this.agent.destroy();
    this.direct?.close();
  }

  private request(addr: string, method: string, chunkId: string, headers: OutgoingHttpHeaders, signal: AbortSignal | undefined, timeoutMs = this.idleTimeoutMs): ClientRequest {
    const { host, port } = parseHostPort(addr);
    // The agent decides the protocol (an https Agent dials TLS).
    const req = request({ host, port, method, path: `/chunks/${encodeURIComponent(chunkId)}`, headers, agent: this.agent, protocol: this.agent instanceof HttpsAgent ? 'https:' : 'http:', ...(signal ? { signal } : {}) });
    req.setTimeout(timeoutMs, () => {
      this.log.debug('chunk request idle timeout', { addr, method, chunkId });
      req.destroy(new CairnError('Timeout', `chunk server ${addr} made no progress for ${timeoutMs} ms`));
    });
    return req;
  }
}

/** Fails the body when it is shorter or longer than announced, or (whole reads) fails the CRC. */
class BodyCheck extends Transform {
  private seen = 0;
  private crc = 0;

  constructor(
    private readonly length: number,
    private readonly wholeCrc: number | null,
    private readonly addr: string,
  ) {
    // Up to 16 socket reads (64 KiB at most each) ahead of the consumer, handed on as they came:
    // buffers as objects, so a consumer that iterates is never given a concatenated copy.
    super({ readableObjectMode: true, readableHighWaterMark: 16 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.wholeCrc !== null) this.crc = crc32c(chunk, this.crc);
    if (this.seen > this.length) return cb(new CairnError('ProtocolError', `chunk server ${this.addr} sent more bytes than announced`));
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.length) return cb(new CairnError('Unavailable', `chunk server ${this.addr} cut the read short at ${this.seen} of ${this.length} bytes`, { addr: this.addr }));
    if (this.wholeCrc !== null && this.crc !== this.wholeCrc) return cb(new CairnError('Corrupt', `chunk from ${this.addr} fails its CRC-32C`, { addr: this.addr }));
    cb();
  }
}

function responseOf(req: ClientRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
}

async function readJson(res: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > RESPONSE_JSON_BYTES_MAX) {
      res.destroy();
      throw new CairnError('ProtocolError', 'chunk server response too large');
    }
    parts.push(c as Buffer);
  }
  if (n === 0) return {};
  try {
    const v: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    throw new CairnError('ProtocolError', 'chunk server sent malformed JSON');
  }
}

async function errorOf(res: IncomingMessage, addr: string): Promise<CairnError> {
  const body = await readJson(res).catch(() => ({}));
  const w = wireErrorOf(res.statusCode ?? 500, res.headers[H_ERROR], body);
  return new CairnError(w.code, w.message, { addr });
}

function parseResults(body: Record<string, unknown>, targets: readonly ChunkTarget[]): ChunkTargetResult[] {
  const raw = body.results;
  if (!Array.isArray(raw) || raw.length !== targets.length) return [];
  const out: ChunkTargetResult[] = [];
  for (let i = 0; i < targets.length; i++) {
    const r = raw[i] as { ok?: unknown; error?: unknown };
    const entry: ChunkTargetResult = { addr: targets[i]!.addr, ok: r?.ok === true };
    // An entry's error has no header; a malformed one means the server could not be heard: Unavailable.
    if (!entry.ok) entry.error = wireErrorOf(503, undefined, { error: r?.error });
    out.push(entry);
  }
  return out;
}

function asWireError(e: unknown): WireError {
  if (e instanceof CairnError) return { code: e.code, message: e.message };
  const code = (e as { code?: unknown })?.code;
  if (code === 'ABORT_ERR' || (e as Error)?.name === 'AbortError') return { code: 'Unavailable', message: 'aborted' };
  return { code: 'Unavailable', message: `cannot reach chunk server: ${(e as Error)?.message ?? String(e)}` };
}

/** Whether a whole read's bytes are checked by the reader (ChunkGetOptions.checkedBy). */
function checkedByReader(opts: WholeReadCheck & { verifyCrc?: boolean }): boolean {
  return (opts.checkedBy ?? (opts.verifyCrc !== false ? 'reader' : 'server')) === 'reader';
}

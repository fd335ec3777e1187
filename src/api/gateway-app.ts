/**
 * The HTTP API of CONTRACT.md on koa + @koa/router + busboy, over the client library: bodies
 * stream chunk by chunk to the chunk servers and back, with backpressure both ways, so the
 * gateway's memory does not grow with file size.
 *
 * Order of middleware: access log + metrics → JSON errors → overload limits → auth → routes.
 *
 * Decisions where CONTRACT.md is silent (see README "HTTP API"):
 *   - /healthz is open (load balancers); everything else, /metrics included, needs the token.
 *   - Range: one range only; several ranges or a malformed header → the whole file (200).
 *   - PUT without If-None-Match replaces; `If-None-Match: *` refuses an existing file (412);
 *     any other If-None-Match or an If-Match on PUT → 400 (not supported).
 *   - Multipart: every file part is stored before any is committed (a bad or cut-off part
 *     commits nothing); destinations are checked before the commits, which then run one file at
 *     a time. Parts without a filename (plain fields) are ignored within the field limits.
 *   - GET of a directory → 409 IsADirectory.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Router, { type RouterContext } from '@koa/router';
import busboy from 'busboy';
import Koa from 'koa';
import type { CairnClient } from '../client/cairn-client.js';
import type { FileWriter, PutResult } from '../client/file-writer.js';
import { checkName, parsePath } from '../proto/path.js';
import { CairnError, ERROR_CODES, isCairnError, type ErrorCode } from '../util/errors.js';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../util/logger.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { decideRange, etagListMatches, quoteEtag } from './http-range.js';

export interface GatewayLimits {
  /** Requests served at once; beyond it 503 + Retry-After. */
  inflightMax: number;
  /** Requests at once from one remote address. */
  perClientInflightMax: number;
  /** Largest raw PUT body or multipart file part. */
  uploadBytesMax: number;
  /** File parts in one multipart request. */
  multipartFilesMax: number;
  /**
   * Non-file fields in one multipart request, and the bytes of each. (A part's header block is
   * bounded by busboy itself: over 16 KiB fails the request with 400; busboy 1.6 has no per-part
   * header-pair limit of its own, the 16 KiB bound covers it.)
   */
  multipartFieldsMax: number;
  multipartFieldBytesMax: number;
  /** UTF-8 bytes of a multipart filename. */
  filenameBytesMax: number;
  /** JSON request bodies (POST /v1/mv). */
  jsonBytesMax: number;
  /** Largest `limit` of /v1/ls. */
  listLimitMax: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  inflightMax: 512,
  perClientInflightMax: 64,
  uploadBytesMax: 5 * 2 ** 40,
  multipartFilesMax: 100,
  multipartFieldsMax: 32,
  multipartFieldBytesMax: 64 * 1024,
  filenameBytesMax: 255,
  jsonBytesMax: 64 * 1024,
  listLimitMax: 10_000,
};

export interface GatewayDeps {
  client: CairnClient;
  /** The bearer token clients must present (null: no auth). */
  token: string | null;
  logger: Logger;
  /** Monotonic time for latencies (DESIGN rule 2: only env/system.ts reads the real clock). */
  clock: Clock;
  limits?: Partial<GatewayLimits>;
  metrics?: GatewayMetrics;
}

interface State {
  route: string;
}

type Ctx = Koa.ParameterizedContext<State, RouterContext<State>>;

const FILES = '/v1/files/';
const LS = '/v1/ls';
const LIST_LIMIT_DEFAULT = 1000;

/** `{path}` of a URL: percent-decoded, with its leading '/', validated like any remote path. */
function remotePath(rawPath: string, prefix: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath.slice(prefix.length));
  } catch {
    throw new CairnError('InvalidPath', 'the path is not valid percent-encoded UTF-8');
  }
  const path = `/${decoded}`;
  parsePath(path === '/' ? '/' : path);
  return path;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time: both sides are hashed to equal length first. */
function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Counts bytes passing through and fails with TooLarge past `max`. */
function byteLimit(max: number, what: string): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max) cb(new CairnError('TooLarge', `${what} exceeds ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const b of req as AsyncIterable<Buffer>) {
    n += b.length;
    if (n > max) throw new CairnError('TooLarge', `JSON body exceeds ${max} bytes`);
    parts.push(b);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
  } catch {
    throw new CairnError('InvalidArgument', 'the body is not valid JSON');
  }
}

/** A multipart filename is one path segment: no '/', '\', '.', '..', control characters. */
function checkFilename(name: string | undefined, bytesMax: number): string {
  if (name === undefined || name === '') throw new CairnError('InvalidPath', 'a file part has no filename');
  if (Buffer.byteLength(name) > bytesMax) throw new CairnError('InvalidPath', `filename longer than ${bytesMax} bytes`);
  if (name.includes('\\')) throw new CairnError('InvalidPath', 'a filename may not contain "\\"');
  checkName(name);
  return name;
}

/** A request's socket (named through node:http: only src/net imports node:net). */
type Socket = IncomingMessage['socket'];

/** What each socket has already been charged for, so keep-alive requests count only their own bytes. */
const charged = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Bytes read from and written to `sock` since the previous call for it (headers and bodies).
 * Measured at the end of a response: a small request is often read whole before the first
 * middleware runs, so a start-of-request snapshot would miss it. Totals are exact; a pipelined
 * next request read early is charged to the one before it.
 */
function socketBytesSince(sock: Socket): { bytesIn: number; bytesOut: number } {
  const prev = charged.get(sock) ?? { read: 0, written: 0 };
  const now = { read: sock.bytesRead, written: sock.bytesWritten };
  charged.set(sock, now);
  return { bytesIn: Math.max(0, now.read - prev.read), bytesOut: Math.max(0, now.written - prev.written) };
}

/** The remote client's address, for per-client limits and logs. */
const remoteOf = (ctx: Koa.ParameterizedContext<State>): string => ctx.req.socket.remoteAddress ?? 'unknown';

export function createGatewayApp(deps: GatewayDeps): { app: Koa<State>; metrics: GatewayMetrics } {
  const limits: GatewayLimits = { ...DEFAULT_GATEWAY_LIMITS, ...deps.limits };
  const metrics = deps.metrics ?? new GatewayMetrics();
  metrics.watchRepair(() => deps.client.repairStatus());
  const { client, logger } = deps;
  const expectedToken = deps.token === null ? null : digest(deps.token);
  const app = new Koa<State>();
  app.silent = true;
  app.on('error', (err: unknown) => logger.warn('response error', { err: err instanceof Error ? err.message : String(err) }));

  // Access log + metrics: one line and one observation per request, once the response ends.
  app.use(async (ctx, next) => {
    const t0 = deps.clock.nowMs();
    const sock = ctx.req.socket;
    const remote = sock.remoteAddress ?? 'unknown';
    ctx.state.route = 'unmatched';
    metrics.inflight.inc();
    let ended = false;
    const done = (): void => {
      if (ended) return;
      ended = true;
      metrics.inflight.dec();
      const seconds = (deps.clock.nowMs() - t0) / 1000;
      const { bytesIn, bytesOut } = socketBytesSince(sock);
      const route = ctx.state.route;
      const status = ctx.res.writableFinished ? ctx.status : 499; // 499: the client went away first
      metrics.requests.inc({ route, method: ctx.method, status: String(status) });
      metrics.duration.observe({ route, method: ctx.method }, seconds);
      metrics.bytesIn.inc(bytesIn);
      metrics.bytesOut.inc(bytesOut);
      logger.info('http', { method: ctx.method, path: ctx.path, route, status, ms: Math.round(seconds * 1e4) / 10, bytesIn, bytesOut, remote });
    };
    ctx.res.once('close', done);
    await next();
  });

  // Errors as JSON with their status; internals are not shown to the caller.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = isCairnError(err) ? err : null;
      const code: ErrorCode = e ? e.code : 'Internal';
      if (!e || ERROR_CODES[code].status >= 500) logger.warn('request failed', { route: ctx.state.route, code, err: err instanceof Error ? err.message : String(err) });
      if (ctx.headerSent || !ctx.writable) {
        ctx.req.socket.destroy();
        return;
      }
      ctx.status = ERROR_CODES[code].status;
      if (code === 'Unavailable' || code === 'NotLeader' || code === 'Timeout' || code === 'ProposalDropped') ctx.set('Retry-After', '1');
      ctx.body = errorBody(code, e && e.expose ? e.message : ERROR_CODES[code].message);
      // A request body we did not read must not be parsed as the next request.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
    }
  });

  // Overload protection: refuse rather than fall over.
  let inflight = 0;
  const perClient = new Map<string, number>();
  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz') return next();
    const who = remoteOf(ctx);
    const mine = perClient.get(who) ?? 0;
    if (inflight >= limits.inflightMax || mine >= limits.perClientInflightMax) {
      metrics.rejected.inc({ limit: inflight >= limits.inflightMax ? 'global' : 'client' });
      ctx.set('Retry-After', '1');
      throw new CairnError('Unavailable', inflight >= limits.inflightMax ? 'the gateway is at its request limit; retry later' : 'too many requests at once from this client; retry later');
    }
    inflight++;
    perClient.set(who, mine + 1);
    try {
      await next();
    } finally {
      inflight--;
      const left = (perClient.get(who) ?? 1) - 1;
      if (left <= 0) perClient.delete(who);
      else perClient.set(who, left);
    }
  });

  // Auth: Authorization: Bearer <token>, compared in constant time.
  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz' || expectedToken === null) return next();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'));
    if (!m || !tokenMatches(m[1]!, expectedToken)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="cairn"');
      throw new CairnError('Unauthorized', 'missing or wrong bearer token');
    }
    return next();
  });

  const router = new Router<State>();

  router.get('/healthz', (ctx) => {
    ctx.state.route = 'healthz';
    ctx.body = { ok: true };
  });

  router.get('/metrics', async (ctx) => {
    ctx.state.route = 'metrics';
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  router.get('/v1/status', async (ctx) => {
    ctx.state.route = 'status';
    ctx.body = await client.status();
  });

  router.post('/v1/mv', async (ctx) => {
    ctx.state.route = 'mv';
    const body = await readJson(ctx.req, limits.jsonBytesMax);
    const b = body as { from?: unknown; to?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.from !== 'string' || typeof b.to !== 'string') {
      throw new CairnError('InvalidArgument', 'the body must be {"from": "/path", "to": "/path"}');
    }
    parsePath(b.from);
    parsePath(b.to);
    await client.mv(b.from, b.to);
    ctx.body = { from: b.from, to: b.to };
  });

  const ls = async (ctx: Ctx): Promise<void> => {
    ctx.state.route = 'ls';
    const path = ctx.path === LS ? '/' : remotePath(ctx.path, `${LS}/`);
    const q = ctx.query;
    let limit = LIST_LIMIT_DEFAULT;
    if (q.limit !== undefined) {
      if (typeof q.limit !== 'string' || !/^\d{1,6}$/.test(q.limit) || Number(q.limit) < 1 || Number(q.limit) > limits.listLimitMax) {
        throw new CairnError('InvalidArgument', `limit must be an integer from 1 to ${limits.listLimitMax}`);
      }
      limit = Number(q.limit);
    }
    if (q.cursor !== undefined && typeof q.cursor !== 'string') throw new CairnError('InvalidArgument', 'one cursor at most');
    const page = await client.list(path, { limit, cursor: q.cursor === undefined || q.cursor === '' ? null : q.cursor });
    ctx.body = { entries: page.entries.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime })), cursor: page.cursor };
  };
  router.get(LS, ls);
  router.get(/^\/v1\/ls\/.*$/, ls);

  router.put(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.put';
    const path = remotePath(ctx.path, FILES);
    const inm = ctx.get('if-none-match');
    if (ctx.get('if-match') !== '' || (inm !== '' && inm.trim() !== '*')) {
      throw new CairnError('InvalidArgument', 'on PUT only "If-None-Match: *" is supported');
    }
    const createOnly = inm.trim() === '*';
    const declared = ctx.get('content-length');
    if (declared !== '' && Number(declared) > limits.uploadBytesMax) throw new CairnError('TooLarge', `the body exceeds ${limits.uploadBytesMax} bytes`);
    const ac = new AbortController();
    const onGone = (): void => {
      if (!ctx.req.complete) ac.abort(new CairnError('Unavailable', 'the client went away mid-upload'));
    };
    ctx.req.once('close', onGone);
    const w = client.createWriteStream(path, { overwrite: !createOnly, signal: ac.signal, ...(declared === '' ? {} : { expectedSize: Number(declared) }) });
    let r: PutResult;
    try {
      await pipeline(ctx.req, byteLimit(limits.uploadBytesMax, 'the body'), w);
      r = await w.done;
    } catch (e) {
      w.destroy(e as Error);
      if (createOnly && isCairnError(e, 'AlreadyExists')) throw new CairnError('PreconditionFailed', `${path} exists (If-None-Match: *)`);
      throw e;
    } finally {
      ctx.req.off('close', onGone);
    }
    ctx.status = 201;
    ctx.set('ETag', quoteEtag(r.etag));
    ctx.body = { path: r.path, size: r.size, etag: r.etag };
  });

  router.post(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.multipart';
    const dir = remotePath(ctx.path, FILES);
    if (!/^multipart\/form-data\s*;/i.test(ctx.get('content-type'))) throw new CairnError('InvalidArgument', 'POST /v1/files/{dir} needs a multipart/form-data body');
    ctx.body = { files: await multipart(ctx, dir) };
    ctx.status = 201;
  });

  /** Store every file part (uncommitted), then commit them all; any failure commits nothing. */
  async function multipart(ctx: Ctx, dir: string): Promise<PutResult[]> {
    const ac = new AbortController();
    const writers: Array<{ path: string; w: FileWriter }> = [];
    const stored: Array<Promise<unknown>> = [];
    const names = new Set<string>();
    let failure: Error | null = null;
    const fail = (e: Error): void => {
      if (failure) return;
      failure = e;
      ac.abort(e);
    };
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: ctx.req.headers,
        // Keep the filename as sent, so "../x" or "a/b" is refused instead of silently cut down.
        preservePath: true,
        limits: {
          files: limits.multipartFilesMax,
          fields: limits.multipartFieldsMax,
          fieldSize: limits.multipartFieldBytesMax,
          parts: limits.multipartFilesMax + limits.multipartFieldsMax,
          fileSize: limits.uploadBytesMax,
        },
      });
    } catch (e) {
      throw new CairnError('InvalidArgument', `bad multipart request: ${e instanceof Error ? e.message : String(e)}`);
    }
    bb.on('file', (_field: string, stream: Readable, info: busboy.FileInfo) => {
      if (failure) return void stream.resume();
      let name: string;
      try {
        name = checkFilename(info.filename, limits.filenameBytesMax);
        if (names.has(name)) throw new CairnError('InvalidArgument', `file "${name}" appears twice`);
      } catch (e) {
        fail(e as Error);
        return void stream.resume();
      }
      names.add(name);
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const w = client.createWriteStream(path, { overwrite: true, deferCommit: true, signal: ac.signal });
      writers.push({ path, w });
      stream.once('limit', () => fail(new CairnError('TooLarge', `file "${name}" exceeds ${limits.uploadBytesMax} bytes`)));
      stored.push(
        pipeline(stream, w)
          .then(() => w.done)
          .catch((e: unknown) => {
            fail(e as Error);
            stream.resume();
          }),
      );
    });
    bb.on('filesLimit', () => fail(new CairnError('TooLarge', `more than ${limits.multipartFilesMax} files in one request`)));
    bb.on('fieldsLimit', () => fail(new CairnError('TooLarge', `more than ${limits.multipartFieldsMax} fields in one request`)));
    bb.on('partsLimit', () => fail(new CairnError('TooLarge', 'too many parts in one request')));
    bb.on('field', (_name: string, _value: string, info: busboy.FieldInfo) => {
      if (info.valueTruncated || info.nameTruncated) fail(new CairnError('TooLarge', `a field exceeds ${limits.multipartFieldBytesMax} bytes`));
    });
    const onGone = (): void => {
      if (!ctx.req.complete) fail(new CairnError('Unavailable', 'the client went away mid-upload'));
    };
    ctx.req.once('close', onGone);
    try {
      // pipe, not pipeline: a malformed body fails busboy without destroying the request (which
      // would look like the client going away); the error answer then closes the connection.
      await new Promise<void>((resolve) => {
        bb.once('close', resolve);
        bb.once('error', (e: unknown) => {
          fail(isCairnError(e) ? e : new CairnError('InvalidArgument', `bad multipart body: ${e instanceof Error ? e.message : String(e)}`));
          ctx.req.unpipe(bb);
          resolve();
        });
        ctx.req.once('close', () => resolve());
        ctx.req.pipe(bb);
      });
      await Promise.all(stored);
      if (!failure && writers.length === 0) fail(new CairnError('InvalidArgument', 'the request has no file part'));
      // Destinations that cannot take a file refuse before anything is committed.
      if (!failure) {
        for (const { path } of writers) {
          const st = await client.stat(path).catch((e: unknown) => (isCairnError(e, 'NotFound') ? null : Promise.reject(e)));
          if (st?.type === 'dir') fail(new CairnError('IsADirectory', `${path} is a directory`));
        }
      }
      if (failure) throw failure;
      const out: PutResult[] = [];
      for (const { w } of writers) out.push(await w.commit());
      return out;
    } finally {
      ctx.req.off('close', onGone);
      for (const { w } of writers) if (failure) w.destroy(failure);
    }
  }

  const getOrHead = async (ctx: Ctx): Promise<void> => {
    const head = ctx.method === 'HEAD';
    ctx.state.route = head ? 'files.head' : 'files.get';
    const path = remotePath(ctx.path, FILES);
    for (let attempt = 0; ; attempt++) {
      const st = await client.stat(path);
      if (st.type === 'dir') throw new CairnError('IsADirectory', `${path} is a directory`);
      const etag = st.etag;
      ctx.set('Accept-Ranges', 'bytes');
      if (etag !== null) ctx.set('ETag', quoteEtag(etag));
      ctx.set('Last-Modified', new Date(st.mtime).toUTCString());
      const ifMatch = ctx.get('if-match');
      if (ifMatch !== '' && !etagListMatches(ifMatch, etag, false)) throw new CairnError('PreconditionFailed', 'If-Match does not match the current ETag');
      const ifNoneMatch = ctx.get('if-none-match');
      if (ifNoneMatch !== '' && etagListMatches(ifNoneMatch, etag, true)) {
        ctx.status = 304;
        return;
      }
      const range = decideRange(ctx.get('range') || undefined, st.size);
      if (range.kind === 'unsatisfiable') {
        ctx.set('Content-Range', `bytes */${st.size}`);
        throw new CairnError('RangeNotSatisfiable', `range ${ctx.get('range')} is outside the file (${st.size} bytes)`);
      }
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : st.size;
      ctx.type = 'application/octet-stream';
      if (range.kind === 'partial') {
        ctx.status = 206;
        ctx.set('Content-Range', `bytes ${start}-${end - 1}/${st.size}`);
      } else {
        ctx.status = 200;
      }
      if (head) {
        // No body: koa answers HEAD with these headers and the length.
        ctx.length = end - start;
        return;
      }
      const ac = new AbortController();
      const o = await client.open(path, { start, end, signal: ac.signal });
      if (o.etag !== etag) {
        // Replaced between stat and open: answer for the new version (once).
        o.stream.destroy();
        if (attempt === 0) continue;
        throw new CairnError('Unavailable', `${path} is being replaced; retry`);
      }
      ctx.res.once('close', () => {
        if (!ctx.res.writableFinished) ac.abort(new CairnError('Unavailable', 'the client went away'));
        o.stream.destroy();
      });
      ctx.length = end - start;
      ctx.body = o.stream;
      return;
    }
  };
  // A GET route answers HEAD too (koa-router); getOrHead tells them apart.
  router.get(/^\/v1\/files\/.*$/, getOrHead);

  router.delete(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.delete';
    const path = remotePath(ctx.path, FILES);
    const rec = ctx.query.recursive;
    if (rec !== undefined && rec !== 'true' && rec !== 'false') throw new CairnError('InvalidArgument', 'recursive must be true or false');
    await client.rm(path, { recursive: rec === 'true' });
    ctx.status = 204;
  });

  app.use(router.routes());
  // No route matched: a known resource with another method is 405, anything else 404.
  app.use((ctx) => {
    const allow = ctx.path.startsWith(FILES)
      ? 'GET, HEAD, PUT, POST, DELETE'
      : ctx.path === LS || ctx.path.startsWith(`${LS}/`) || ['/v1/status', '/healthz', '/metrics'].includes(ctx.path)
        ? 'GET, HEAD'
        : ctx.path === '/v1/mv'
          ? 'POST'
          : null;
    if (allow !== null) {
      ctx.status = 405;
      ctx.set('Allow', allow);
      ctx.body = errorBody('MethodNotAllowed', `${ctx.method} is not allowed on ${ctx.path}`);
      return;
    }
    ctx.status = 404;
    ctx.body = errorBody('NotFound', `no route for ${ctx.method} ${ctx.path}`);
  });
  return { app, metrics };
}

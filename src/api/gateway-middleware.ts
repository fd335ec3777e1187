/**
 * The gateway's middleware, in the order createGatewayApp installs them:
 * access log + metrics → JSON errors → overload limits → auth → routes.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { Clock } from '../env/clock.js';
import { closeOrDrainUnreadBody } from '../net/unread-body.js';
import { parseRequestId, REQUEST_ID_HEADER } from '../proto/request-id.js';
import { CairnError, ERROR_CODES, isCairnError, isRetryable, type ErrorCode } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { errorBody, type GatewayState } from './gateway-context.js';
import type { GatewayLimits } from './gateway-limits.js';
import type { GatewayMetrics } from './gateway-metrics.js';

type Middleware = Koa.Middleware<GatewayState>;

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
const remoteOf = (ctx: Koa.ParameterizedContext<GatewayState>): string => ctx.req.socket.remoteAddress ?? 'unknown';

/**
 * Access log + metrics: one line and one observation per request, once the response ends. Sets
 * the request id first (the caller's X-Request-Id if well-formed, else `newRequestId()`) and
 * answers it in X-Request-Id.
 */
export function accessLog(c: { clock: Clock; logger: Logger; metrics: GatewayMetrics; newRequestId: () => string }): Middleware {
  const { clock, logger, metrics } = c;
  return async (ctx, next) => {
    const t0 = clock.nowMs();
    const rid = parseRequestId(ctx.get(REQUEST_ID_HEADER)) ?? c.newRequestId();
    ctx.state.requestId = rid;
    ctx.set('X-Request-Id', rid);
    const sock = ctx.req.socket;
    const remote = sock.remoteAddress ?? 'unknown';
    ctx.state.route = 'unmatched';
    metrics.inflight.inc();
    let ended = false;
    const done = (): void => {
      if (ended) return;
      ended = true;
      metrics.inflight.dec();
      const seconds = (clock.nowMs() - t0) / 1000;
      const { bytesIn, bytesOut } = socketBytesSince(sock);
      const route = ctx.state.route;
      const status = ctx.res.writableFinished ? ctx.status : 499; // 499: the client went away first
      metrics.requests.inc({ route, method: ctx.method, status: String(status) });
      metrics.duration.observe({ route, method: ctx.method }, seconds);
      metrics.bytesIn.inc(bytesIn);
      metrics.bytesOut.inc(bytesOut);
      logger.info('http', { rid, method: ctx.method, path: ctx.path, route, status, ms: Math.round(seconds * 1e4) / 10, bytesIn, bytesOut, remote });
    };
    ctx.res.once('close', done);
    await next();
  };
}

/** Errors as JSON with their status; internals are not shown to the caller. */
export function jsonErrors(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = isCairnError(err) ? err : null;
      const code: ErrorCode = e ? e.code : 'Internal';
      if (!e || ERROR_CODES[code].status >= 500) logger.warn('request failed', { rid: ctx.state.requestId, route: ctx.state.route, code, err: err instanceof Error ? err.message : String(err) });
      if (ctx.headerSent || !ctx.writable) {
        ctx.req.socket.destroy();
        return;
      }
      ctx.status = ERROR_CODES[code].status;
      if (isRetryable(code)) ctx.set('Retry-After', '1');
      ctx.body = errorBody(code, e && e.expose ? e.message : ERROR_CODES[code].message);
      closeOrDrainUnreadBody(ctx.req, (f, v) => ctx.set(f, v));
    }
  };
}

/** Overload protection: refuse rather than fall over (all requests but /healthz count). */
export function overloadLimits(limits: GatewayLimits, metrics: GatewayMetrics): Middleware {
  let inflight = 0;
  const perClient = new Map<string, number>();
  return async (ctx, next) => {
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
  };
}

/** One-shot SHA-256 (no Hash object per request). */
function digest(s: string): Buffer {
  return hash('sha256', s, 'buffer');
}

/**
 * Auth: `Authorization: Bearer <token>`, compared in constant time; null token: no auth. /healthz is open.
 * A keep-alive connection that presented the right header once is not hashed again while it sends
 * the same header: that comparison is against the header this same peer sent before, so its
 * timing tells the peer nothing it did not know (the SHA-256 was ~3 % of a gateway's CPU per 4 KiB PUT).
 */
export function bearerAuth(token: string | null): Middleware {
  const expected = token === null ? null : digest(token);
  const accepted = new WeakMap<object, string>();
  return async (ctx, next) => {
    if (ctx.path === '/healthz' || expected === null) return next();
    const header = ctx.get('authorization');
    const conn = ctx.req.socket;
    if (accepted.get(conn) === header) return next();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Constant-time: both sides are hashed to equal length first.
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="cairn"');
      throw new CairnError('Unauthorized', 'missing or wrong bearer token');
    }
    accepted.set(conn, header);
    return next();
  };
}

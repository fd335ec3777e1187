/**
 * What every piece of the gateway shares: the koa state and context types, what routes are
 * given, and the request helpers (paths from URLs, bounded bodies, error bodies).
 */
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import type { RouterContext } from '@koa/router';
import type Koa from 'koa';
import type { CairnClient } from '../client/cairn-client.js';
import { RemotePath } from '../proto/path.js';
import { CairnError, type ErrorCode } from '../util/errors.js';
import type { GatewayLimits } from './gateway-limits.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { UploadBudget } from './upload-budget.js';

export interface GatewayState {
  /** The route's name in logs and metrics ('unmatched' until a route claims the request). */
  route: string;
  /**
   * This request's id (proto/request-id.ts): the caller's X-Request-Id when well-formed, else a
   * fresh one; answered in X-Request-Id, logged, and passed to the client library's put and
   * open so chunk servers and metadata servers log it too.
   */
  requestId: string;
}

export type GatewayCtx = Koa.ParameterizedContext<GatewayState, RouterContext<GatewayState>>;

/** What the routes work with. */
export interface RouteDeps {
  client: CairnClient;
  limits: GatewayLimits;
  metrics: GatewayMetrics;
  /** Upload bytes held in memory, shared by every upload of the gateway (S3's too). */
  uploads: UploadBudget;
}

export const FILES = '/v1/files/';
export const LS = '/v1/ls';

/** `{path}` of a URL: percent-decoded, with its leading '/', parsed once (InvalidPath if it is not a remote path). */
export function remotePath(rawPath: string, prefix: string): RemotePath {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath.slice(prefix.length));
  } catch {
    throw new CairnError('InvalidPath', 'the path is not valid percent-encoded UTF-8');
  }
  return RemotePath.parse(`/${decoded}`);
}

export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Counts bytes passing through and fails with TooLarge past `max`. */
export function byteLimit(max: number, what: string): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max) cb(new CairnError('TooLarge', `${what} exceeds ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

/**
 * A request body of the declared `length` bytes, read whole (the caller bounds `length`: it is
 * all held in memory). Fails with Unavailable if the request ends before all of it came.
 */
export function readBody(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (b: Buffer): void => {
      parts.push(b);
      n += b.length;
    };
    const settle = (err: Error | null): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onFail);
      req.off('close', onFail);
      if (err) reject(err);
      else resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, n));
    };
    const onEnd = (): void => settle(n === length ? null : new CairnError('Unavailable', `the body ended after ${n} of ${length} bytes`));
    const onFail = (): void => settle(new CairnError('Unavailable', 'the client went away mid-upload'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onFail);
    req.once('close', onFail);
  });
}

/** A JSON request body of at most `max` bytes; TooLarge / InvalidArgument otherwise. */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
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

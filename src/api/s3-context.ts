/**
 * What the S3 endpoint's pieces share: its dependencies, koa state, the request's parsed target
 * (bucket, key, query) and the mapping of buckets and keys onto remote paths (docs/s3.md).
 */
import type Koa from 'koa';
import type { CairnClient } from '../client/cairn-client.js';
import type { Clock, Timers } from '../env/clock.js';
import { RemotePath } from '../proto/path.js';
import { isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { GatewayState } from './gateway-context.js';
import type { GatewayLimits } from './gateway-limits.js';
import type { UploadBudget } from './upload-budget.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import { errorDocument, S3Error, s3ErrorOf, xmlDocument, type XmlNode } from './s3-errors.js';
import type { VerifiedAuth } from './s3-sigv4.js';

export interface S3Deps {
  client: CairnClient;
  logger: Logger;
  /** Monotonic time for latencies. */
  clock: Clock;
  /** Keep-alive spaces while a long Complete or Copy runs. */
  timers: Timers;
  /** Wall-clock ms since the epoch (request signing times). */
  wallClockMs(): number;
  /** `bytes` random bytes as hex (request and upload ids). */
  randomHex(bytes: number): string;
  region: string;
  /** Access key id → secret key (s3-credentials.ts: the file as it is now; a Map in tests). */
  credentials: { get(id: string): string | undefined };
  limits: GatewayLimits;
  metrics: GatewayMetrics;
  /** Virtual-host addressing: a request to host `{bucket}.{domain}` names that bucket (virtualHostPath). */
  domain?: string | null;
  /** The gateway's upload budget, shared with /v1 (absent: S3 uploads are not budgeted). */
  uploads?: UploadBudget;
}

export interface S3State extends GatewayState {
  auth: VerifiedAuth;
  requestId: string;
}

export type S3Ctx = Koa.ParameterizedContext<S3State>;

/** The request's target, parsed once. */
export interface S3Target {
  /** '' for the service (ListBuckets). */
  bucket: string;
  /** null for a bucket-level request. */
  key: string | null;
  /** Query parameters, decoded (the first value of a repeated name). */
  query: Map<string, string>;
}

/** Where multipart uploads keep their parts: a top-level directory no bucket can be named (docs/s3.md). */
export const UPLOADS_DIR = '.s3-uploads';
/** S3's key length limit, in UTF-8 bytes. */
export const KEY_BYTES_MAX = 1024;

/**
 * Bucket names S3 allows to be created: 3–63 of [a-z0-9.-], starting and ending with a letter or
 * digit, no '..', not an IP address, not xn--… or …-s3alias.
 */
export function checkNewBucketName(name: string): void {
  const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name) && !name.startsWith('xn--') && !name.endsWith('-s3alias') && !name.includes('.-') && !name.includes('-.');
  if (!ok) throw new S3Error('InvalidBucketName', 'the specified bucket is not valid', { BucketName: name });
}

/**
 * A bucket named in a request: any top-level directory name (directories made by the CLI need
 * not follow S3's naming rules) except hidden ones (a leading '.').
 */
export function bucketDir(name: string): RemotePath {
  if (name.startsWith('.')) throw new S3Error('InvalidBucketName', 'the specified bucket is not valid', { BucketName: name });
  try {
    return RemotePath.parse(`/${name}`);
  } catch {
    throw new S3Error('InvalidBucketName', 'the specified bucket is not valid', { BucketName: name });
  }
}

/**
 * A key's file: `/{bucket}/{key}`; null when the namespace cannot name it (`a//b`, `..`,
 * control characters: docs/s3.md says what each operation answers). A trailing '/' names the
 * directory (a folder object).
 */
export function keyPath(bucket: RemotePath, key: string): RemotePath | null {
  if (Buffer.byteLength(key, 'utf8') > KEY_BYTES_MAX) throw new S3Error('KeyTooLongError', 'your key is too long');
  const k = key.endsWith('/') ? key.slice(0, -1) : key;
  if (k === '') return null;
  try {
    return RemotePath.parse(`${bucket.text}/${k}`);
  } catch (e) {
    if (isCairnError(e, 'InvalidPath')) return null;
    throw e;
  }
}

/** Parses the raw request URL (path-style): `/{bucket}/{key}` and the query. */
export function parseTarget(rawPath: string, query: Array<[string, string]>): S3Target {
  const q = new Map<string, string>();
  for (const [n, v] of query) if (!q.has(n)) q.set(n, v);
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  const slash = path.indexOf('/');
  const dec = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new S3Error('InvalidURI', 'the path is not valid percent-encoded UTF-8');
    }
  };
  if (slash < 0) return { bucket: dec(path), key: null, query: q };
  const key = dec(path.slice(slash + 1));
  return { bucket: dec(path.slice(0, slash)), key: key === '' ? null : key, query: q };
}

/**
 * The path-style path of a request (`/{bucket}/{key}`): with `domain` set, a Host of
 * `{bucket}.{domain}` (any port, any case) puts the bucket in front of the path; a Host of the
 * domain itself or of anything else is path-style, as is every request without a domain.
 */
export function virtualHostPath(host: string | undefined, domain: string | null | undefined, rawPath: string): string {
  if (!domain || host === undefined) return rawPath;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix) || name.length === suffix.length) return rawPath;
  const bucket = name.slice(0, -suffix.length);
  return `/${encodeURIComponent(bucket)}${rawPath.startsWith('/') ? rawPath : `/${rawPath}`}`;
}

/** An HTTP date (Last-Modified) of ms since the epoch. */
export const httpDate = (ms: number): string => new Date(ms).toUTCString();
/** An ISO-8601 timestamp as S3 writes them in XML (millisecond precision). */
export const isoDate = (ms: number): string => new Date(ms).toISOString();

/** NoSuchBucket unless `/{bucket}` is a directory. */
export async function requireBucket(client: CairnClient, bucket: RemotePath): Promise<void> {
  try {
    const st = await client.stat(bucket);
    if (st.type === 'dir') return;
  } catch (e) {
    if (!isCairnError(e, 'NotFound')) throw e;
  }
  throw new S3Error('NoSuchBucket', 'the specified bucket does not exist', { BucketName: bucket.text.slice(1) });
}

/** Object metadata as S3 stores it: the headers kept with an object, by lower-case name. */
export const STORED_HEADERS = ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires'] as const;

/**
 * The metadata a request asks to store (stored headers and x-amz-meta-*), by lower-case name;
 * aws-chunked is a transfer detail and is dropped from Content-Encoding.
 */
export function requestMetadata(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    const v = headers[name];
    if (typeof v === 'string' && v !== '') out[name] = v;
  }
  if (out['content-encoding'] !== undefined) {
    const enc = out['content-encoding'].split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'aws-chunked').join(',');
    if (enc === '') delete out['content-encoding'];
    else out['content-encoding'] = enc;
  }
  for (const [name, v] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && v !== undefined) out[name] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

/** How often a long answer sends a space (well under the gateway's idle timeout). */
export const KEEPALIVE_MS = 10_000;

/**
 * Answers a request whose work may outlast the idle timeout (CompleteMultipartUpload, CopyObject
 * of a large object), as S3 does: 200 and the XML declaration at once, a space every
 * KEEPALIVE_MS, then the result document — or, if the work fails, an Error document in the 200
 * body (S3 clients look for one there). Returns once the response has ended.
 */
export async function answerSlowly(ctx: S3Ctx, deps: S3Deps, work: () => Promise<{ root: string; body: XmlNode }>): Promise<void> {
  const res = ctx.res;
  ctx.respond = false;
  ctx.status = 200;
  res.setHeader('Content-Type', 'application/xml');
  res.write('<?xml version="1.0" encoding="UTF-8"?>\n');
  const tick = deps.timers.setInterval(() => res.write(' '), KEEPALIVE_MS);
  try {
    const r = await work();
    res.end(xmlDocument(r.root, r.body).replace(/^<\?xml[^>]*>\n/, ''));
  } catch (err) {
    const e = s3ErrorOf(err);
    if (e.status >= 500) deps.logger.warn('s3 request failed', { route: ctx.state.route, code: e.code, err: err instanceof Error ? err.message : String(err) });
    res.end(errorDocument(e, ctx.path, ctx.state.requestId).replace(/^<\?xml[^>]*>\n/, ''));
  } finally {
    tick.cancel();
  }
}

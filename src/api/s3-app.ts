/**
 * The S3-compatible API (CONTRACT.md "S3-compatible API", docs/s3.md) as a koa app the gateway
 * serves on its own port, over the same client library as /v1.
 *
 * Middleware: access log + metrics (routes named s3.*) → S3 XML errors → overload limits (the
 * gateway's limits, counted apart from /v1's) → SigV4 auth → dispatch by method, path
 * (path-style `/{bucket}/{key}`, or virtual-host `{bucket}.{domain}/{key}` with a domain set) and
 * sub-resource query parameters. The signature covers the path as sent.
 */
import Koa from 'koa';
import { closeOrDrainUnreadBody } from '../net/unread-body.js';
import { accessLog, overloadLimits } from './gateway-middleware.js';
import { createBucket, deleteBucket, deleteObjects, getBucketLocation, getBucketVersioning, headBucket, listBuckets, listObjectsV1, listObjectsV2 } from './s3-buckets.js';
import { parseTarget, virtualHostPath, type S3Ctx, type S3Deps, type S3State, type S3Target } from './s3-context.js';
import { errorDocument, S3Error, s3ErrorOf } from './s3-errors.js';
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, listMultipartUploads, listParts, uploadPart, uploadPartCopy } from './s3-multipart.js';
import { copyObject, deleteObject, getObject, headObject, putObject } from './s3-objects.js';
import { parseQuery, verifyRequest } from './s3-sigv4.js';

export type { S3Deps } from './s3-context.js';

/** Bucket sub-resources this endpoint does not implement (answered NotImplemented, not as a listing). */
const UNSUPPORTED_SUBRESOURCES = ['acl', 'policy', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication', 'encryption', 'object-lock', 'versions', 'accelerate', 'requestPayment', 'analytics', 'metrics', 'inventory', 'intelligent-tiering', 'ownershipControls', 'publicAccessBlock', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes'];

function splitUrl(url: string): { rawPath: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, rawQuery: '' } : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

/** S3 XML errors with their statuses; internals are not shown. */
function s3Errors(deps: S3Deps): Koa.Middleware<S3State> {
  return async (ctx, next) => {
    ctx.state.requestId = deps.randomHex(8).toUpperCase();
    ctx.set('x-amz-request-id', ctx.state.requestId);
    try {
      await next();
    } catch (err) {
      const onBucket = ctx.state.route === 's3.listObjects' || ctx.state.route === 's3.listObjectsV2';
      const e = s3ErrorOf(err, onBucket ? 'NoSuchBucket' : 'NoSuchKey');
      if (e.status >= 500) deps.logger.warn('s3 request failed', { route: ctx.state.route, code: e.code, err: err instanceof Error ? err.message : String(err) });
      if (ctx.headerSent || !ctx.writable) {
        ctx.req.socket.destroy();
        return;
      }
      ctx.status = e.status;
      if (e.status === 503) ctx.set('Retry-After', '1');
      ctx.type = 'application/xml';
      ctx.body = errorDocument(e, splitUrl(ctx.req.url ?? '/').rawPath, ctx.state.requestId);
      closeOrDrainUnreadBody(ctx.req, (f, v) => ctx.set(f, v));
    }
  };
}

function sigV4(deps: S3Deps): Koa.Middleware<S3State> {
  return async (ctx, next) => {
    const { rawPath, rawQuery } = splitUrl(ctx.req.url ?? '/');
    ctx.state.auth = verifyRequest(
      { method: ctx.method, rawPath, rawQuery, headers: ctx.req.headersDistinct },
      { region: deps.region, secretOf: (id) => deps.credentials.get(id), nowMs: deps.wallClockMs() },
    );
    return next();
  };
}

function notImplemented(what: string): never {
  throw new S3Error('NotImplemented', `${what} is not implemented`);
}

async function dispatch(ctx: S3Ctx, deps: S3Deps): Promise<void> {
  const { rawPath, rawQuery } = splitUrl(ctx.req.url ?? '/');
  const t = parseTarget(virtualHostPath(ctx.get('host'), deps.domain, rawPath), parseQuery(rawQuery));
  const m = ctx.method;
  const has = (n: string): boolean => t.query.has(n);
  if (t.bucket === '') {
    if (m === 'GET') return listBuckets(ctx, deps);
    throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource');
  }
  const unsupported = UNSUPPORTED_SUBRESOURCES.find(has);
  if (t.key === null) return bucketRequest(ctx, deps, t, m, has, unsupported);
  if (unsupported !== undefined) notImplemented(`the ${unsupported} sub-resource`);
  if (m === 'PUT') {
    if (has('uploadId')) return ctx.get('x-amz-copy-source') !== '' ? uploadPartCopy(ctx, deps, t) : uploadPart(ctx, deps, t);
    if (ctx.get('x-amz-copy-source') !== '') return copyObject(ctx, deps, t);
    return putObject(ctx, deps, t);
  }
  if (m === 'GET') return has('uploadId') ? listParts(ctx, deps, t) : getObject(ctx, deps, t);
  if (m === 'HEAD') return headObject(ctx, deps, t);
  if (m === 'DELETE') return has('uploadId') ? abortMultipartUpload(ctx, deps, t) : deleteObject(ctx, deps, t);
  if (m === 'POST') {
    if (has('uploads')) return createMultipartUpload(ctx, deps, t);
    if (has('uploadId')) return completeMultipartUpload(ctx, deps, t);
    notImplemented('this POST');
  }
  throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource');
}

async function bucketRequest(ctx: S3Ctx, deps: S3Deps, t: S3Target, m: string, has: (n: string) => boolean, unsupported: string | undefined): Promise<void> {
  if (m === 'GET') {
    if (has('location')) return getBucketLocation(ctx, deps, t);
    if (has('versioning')) return getBucketVersioning(ctx, deps, t);
    if (has('uploads')) return listMultipartUploads(ctx, deps, t);
    if (unsupported !== undefined) notImplemented(`the ${unsupported} sub-resource`);
    return t.query.get('list-type') === '2' ? listObjectsV2(ctx, deps, t) : listObjectsV1(ctx, deps, t);
  }
  if (unsupported !== undefined) notImplemented(`the ${unsupported} sub-resource`);
  if (m === 'PUT') {
    if (has('versioning')) notImplemented('bucket versioning');
    return createBucket(ctx, deps, t);
  }
  if (m === 'HEAD') return headBucket(ctx, deps, t);
  if (m === 'DELETE') return deleteBucket(ctx, deps, t);
  if (m === 'POST' && has('delete')) return deleteObjects(ctx, deps, t);
  throw new S3Error('MethodNotAllowed', 'the specified method is not allowed against this resource');
}

export function createS3App(deps: S3Deps): Koa<S3State> {
  const app = new Koa<S3State>();
  app.silent = true;
  app.on('error', (err: unknown) => deps.logger.warn('s3 response error', { err: err instanceof Error ? err.message : String(err) }));
  app.use(accessLog({ clock: deps.clock, logger: deps.logger, metrics: deps.metrics, newRequestId: () => deps.client.newRequestId() }));
  app.use(s3Errors(deps));
  app.use(overloadLimits(deps.limits, deps.metrics));
  app.use(sigV4(deps));
  app.use(async (ctx) => {
    await dispatch(ctx, deps);
    // An answer without a body has an empty one (koa would send its status text, which S3
    // clients read as a malformed XML error); HEAD keeps the length it set.
    if (ctx.body == null && ctx.method !== 'HEAD' && ctx.status === 200) {
      ctx.body = '';
      ctx.remove('Content-Type');
    }
  });
  return app;
}

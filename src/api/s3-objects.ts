/**
 * S3 object operations over files: PutObject, GetObject, HeadObject, DeleteObject, CopyObject.
 *
 * Contracts (docs/s3.md has the whole mapping):
 * - PutObject streams the body to the chunk servers as it arrives (backpressure through the
 *   client library's writer); every body check (signature, SHA-256, Content-MD5, checksums) ends
 *   before the writer commits, so a body that fails one leaves no object. Small bodies
 *   (≤ SMALL_BODY_BYTES_MAX) are read whole and stored with one put.
 * - The S3 ETag (MD5 of the body) and the stored headers travel as file attributes
 *   (s3-attrs.ts); a file without them (written by the CLI or /v1) answers its Cairn etag.
 * - CopyObject with the COPY directive is the library's server-side copy (shared chunks, one
 *   metadata call); REPLACE, or a copy onto itself, reads and writes the bytes inside the
 *   gateway (the S3 client sends none).
 */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OpenResult } from '../client/file-reader.js';
import type { WriteOptions } from '../client/file-writer.js';
import type { RemotePath } from '../proto/path.js';
import { decideRange, formatContentRange, unsatisfiedContentRange } from '../proto/http-range.js';
import { isCairnError } from '../util/errors.js';
import { etagListMatches } from './etag-match.js';
import { discardOpened, sendOpened } from './file-routes.js';
import { byteLimit } from './gateway-context.js';
import { attrsOf, EMPTY_MD5, etagOf, objectHeaders, withAttrs, type ObjectAttrs } from './s3-attrs.js';
import { bodyTransforms, readSmallBody } from './s3-body.js';
import { answerSlowly, bucketDir, keyPath, requestMetadata, requireBucket, httpDate, isoDate, type S3Ctx, type S3Deps, type S3Target } from './s3-context.js';
import { S3Error, s3ErrorOf, xmlDocument } from './s3-errors.js';

/** A body whose length is at most this is read whole, then stored with one put. */
export const SMALL_BODY_BYTES_MAX = 64 * 1024;

/** The request's key and its file (InvalidArgument when the namespace cannot name it: docs/s3.md). */
function target(t: S3Target): { bucket: RemotePath; key: string; path: RemotePath | null } {
  const bucket = bucketDir(t.bucket);
  const key = t.key!;
  return { bucket, key, path: keyPath(bucket, key) };
}

const unstorable = (key: string): S3Error => new S3Error('InvalidArgument', `the key ${JSON.stringify(key)} cannot be stored: Cairn paths refuse empty, '.' and '..' segments and control characters (docs/s3.md)`);

/**
 * Stores the request body at `path` with `attrs` (the S3 ETag added once the body has been
 * verified), streaming unless it is small. `createOnly`: PreconditionFailed if it exists.
 * `extra.inline: false`: stored in chunks even when small (multipart parts, see s3-multipart.ts).
 */
export async function storeBody(ctx: S3Ctx, deps: S3Deps, path: RemotePath, attrs: ObjectAttrs, createOnly: boolean, extra: { inline?: false } = {}): Promise<{ etag: string; size: number; checksums: Record<string, string> }> {
  const { client, limits } = deps;
  const auth = ctx.state.auth;
  try {
    const { stages, checker, length } = bodyTransforms(ctx.req, auth);
    if (length !== null && length > limits.uploadBytesMax) throw new S3Error('EntityTooLarge', `your proposed upload exceeds the maximum allowed size (${limits.uploadBytesMax} bytes)`);
    // The gateway's upload budget (upload-budget.ts), shared with /v1: refused while it is full.
    const upload = deps.uploads?.begin('the upload') ?? null;
    if (length !== null && length <= SMALL_BODY_BYTES_MAX) {
      upload?.end();
      const { body, digest } = await readSmallBody(ctx.req, auth, SMALL_BODY_BYTES_MAX);
      attrs['s3-etag'] = digest.md5Hex;
      await client.put(path, body, withAttrs({ overwrite: !createOnly, ...extra }, attrs));
      return { etag: digest.md5Hex, size: digest.size, checksums: digest.checksums };
    }
    const ac = new AbortController();
    const onGone = (): void => {
      if (!ctx.req.complete) ac.abort(new S3Error('IncompleteBody', 'the client went away mid-upload'));
    };
    ctx.req.once('close', onGone);
    // The writer reads attrs at commit, after the checker has added the ETag (its flush runs first).
    const w = client.createWriteStream(path, withAttrs({ overwrite: !createOnly, signal: ac.signal, ...extra, ...(upload ? { onProgress: (b: number) => upload.stored(b) } : {}), ...(length === null ? {} : { expectedSize: length }) }, attrs));
    const sealEtag = new Transform({
      transform(b: Buffer, _e, cb) {
        cb(null, b);
      },
      flush(cb) {
        attrs['s3-etag'] = checker.digest.md5Hex;
        cb();
      },
    });
    try {
      await pipeline([ctx.req, ...stages, ...(upload ? [upload.meter({ bytesMax: limits.uploadBytesMax, what: 'the body' })] : [byteLimit(limits.uploadBytesMax, 'the body')]), sealEtag, w]);
      await w.done;
    } catch (e) {
      w.destroy(e as Error);
      throw e;
    } finally {
      ctx.req.off('close', onGone);
      upload?.end();
    }
    return { etag: checker.digest.md5Hex, size: checker.digest.size, checksums: checker.digest.checksums };
  } catch (e) {
    if (createOnly && isCairnError(e, 'AlreadyExists')) throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
    // The namespace cannot hold a key that is both an object and a prefix of others (docs/s3.md).
    if (isCairnError(e, 'IsADirectory')) throw new S3Error('InvalidRequest', 'the key is a prefix of other keys (a directory): it cannot also be an object (docs/s3.md)');
    if (isCairnError(e, 'NotADirectory') || isCairnError(e, 'AlreadyExists')) throw new S3Error('InvalidRequest', 'a prefix of the key is an object (a file): the key cannot be stored below it (docs/s3.md)');
    throw e;
  }
}

export async function putObject(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.putObject';
  const { bucket, key, path } = target(t);
  await requireBucket(deps.client, bucket);
  const inm = ctx.get('if-none-match').trim();
  if (inm !== '' && inm !== '*') throw new S3Error('NotImplemented', 'on PUT only If-None-Match: * is supported');
  if (ctx.get('if-match') !== '') await checkIfMatch(ctx, deps, path);
  if (key.endsWith('/')) return putFolder(ctx, deps, bucket, path);
  if (path === null) throw unstorable(key);
  const r = await storeBody(ctx, deps, path, requestMetadata(ctx.req.headers), inm === '*');
  ctx.status = 200;
  ctx.set('ETag', `"${r.etag}"`);
  for (const [h, v] of Object.entries(r.checksums)) ctx.set(h, v);
}

/** PUT of an If-Match write: the current object must carry that ETag (checked before the write; not atomic with it). */
async function checkIfMatch(ctx: S3Ctx, deps: S3Deps, path: RemotePath | null): Promise<void> {
  let etag: string | null = null;
  try {
    if (path !== null) {
      const st = await deps.client.stat(path);
      if (st.type === 'file') etag = etagOf(st.etag, attrsOf(st));
    }
  } catch (e) {
    if (!isCairnError(e, 'NotFound')) throw e;
  }
  if (etag === null) throw new S3Error('NoSuchKey', 'the specified key does not exist');
  if (!etagListMatches(ctx.get('if-match'), etag, false)) throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
}

/** A key ending in '/' with an empty body: the directory (docs/s3.md). */
async function putFolder(ctx: S3Ctx, deps: S3Deps, bucket: RemotePath, path: RemotePath | null): Promise<void> {
  await readSmallBody(ctx.req, ctx.state.auth, 0).catch((e: unknown) => {
    if (e instanceof S3Error && e.code === 'EntityTooLarge') throw new S3Error('InvalidArgument', "a key ending in '/' is a folder: its body must be empty (docs/s3.md)");
    throw e;
  });
  if (path !== null && path.text !== bucket.text) await deps.client.mkdir(path, { parents: true });
  ctx.status = 200;
  ctx.set('ETag', `"${EMPTY_MD5}"`);
}

/** What GetObject and HeadObject describe: a file's version, or a directory as a folder object. */
interface Described {
  size: number;
  mtime: number;
  etag: string;
  attrs: ObjectAttrs;
}

/**
 * Applies S3's conditional headers: If-Match / If-Unmodified-Since → 412;
 * If-None-Match / If-Modified-Since → true (answer 304).
 */
function notModified(ctx: S3Ctx, d: Described): boolean {
  const sec = Math.floor(d.mtime / 1000);
  const since = (h: string): number | null => {
    const v = ctx.get(h);
    if (v === '') return null;
    const t = Date.parse(v);
    return Number.isFinite(t) ? Math.floor(t / 1000) : null;
  };
  const ifMatch = ctx.get('if-match');
  if (ifMatch !== '') {
    if (!etagListMatches(ifMatch, d.etag, false)) throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  } else {
    const ius = since('if-unmodified-since');
    if (ius !== null && sec > ius) throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold', { Condition: 'If-Unmodified-Since' });
  }
  const inm = ctx.get('if-none-match');
  if (inm !== '') return etagListMatches(inm, d.etag, true);
  const ims = since('if-modified-since');
  return ims !== null && sec <= ims;
}

const OVERRIDES: Array<[string, string]> = [
  ['response-content-type', 'Content-Type'],
  ['response-content-language', 'Content-Language'],
  ['response-expires', 'Expires'],
  ['response-cache-control', 'Cache-Control'],
  ['response-content-disposition', 'Content-Disposition'],
  ['response-content-encoding', 'Content-Encoding'],
];

/** ETag, Last-Modified, stored headers and x-amz-meta-*, then the response-* overrides of the query. */
function describeHeaders(ctx: S3Ctx, t: S3Target, d: Described): void {
  ctx.set('ETag', `"${d.etag}"`);
  ctx.set('Last-Modified', httpDate(d.mtime));
  ctx.set('Accept-Ranges', 'bytes');
  for (const [h, v] of Object.entries(objectHeaders(d.attrs))) ctx.set(h, v);
  for (const [q, h] of OVERRIDES) {
    const v = t.query.get(q);
    if (v !== undefined) ctx.set(h, v);
  }
}

/** The folder object of a key ending in '/': its directory, or NoSuchKey. */
async function describeFolder(deps: S3Deps, bucket: RemotePath, path: RemotePath | null): Promise<Described> {
  const st = await deps.client.stat(path ?? bucket).catch((e: unknown) => {
    throw s3ErrorOf(e);
  });
  if (st.type !== 'dir' || path === null) throw new S3Error('NoSuchKey', 'the specified key does not exist');
  return { size: 0, mtime: st.mtime, etag: EMPTY_MD5, attrs: {} };
}

/** The Range header against `size`: null for the whole object; InvalidRange when unsatisfiable. */
function rangeOf(ctx: S3Ctx, size: number): { start: number; end: number } | null {
  const range = decideRange(ctx.get('range') || undefined, size);
  if (range.kind === 'unsatisfiable') {
    ctx.set('Content-Range', unsatisfiedContentRange(size));
    throw new S3Error('InvalidRange', 'the requested range is not satisfiable', { RangeRequested: ctx.get('range'), ActualObjectSize: String(size) });
  }
  return range.kind === 'partial' ? { start: range.start, end: range.end } : null;
}

export async function headObject(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.headObject';
  const { bucket, key, path } = target(t);
  let d: Described;
  if (key.endsWith('/')) d = await describeFolder(deps, bucket, path);
  else {
    if (path === null) throw new S3Error('NoSuchKey', 'the specified key does not exist');
    const st = await deps.client.stat(path).catch((e: unknown) => {
      throw s3ErrorOf(e);
    });
    if (st.type !== 'file') throw new S3Error('NoSuchKey', 'the specified key does not exist');
    d = { size: st.size, mtime: st.mtime, etag: etagOf(st.etag, attrsOf(st)), attrs: attrsOf(st) };
  }
  if (notModified(ctx, d)) {
    ctx.status = 304;
    describeHeaders(ctx, t, d);
    return;
  }
  describeHeaders(ctx, t, d);
  const r = rangeOf(ctx, d.size);
  if (r !== null) {
    ctx.status = 206;
    ctx.set('Content-Range', formatContentRange(r.start, r.end, d.size));
  } else ctx.status = 200;
  ctx.length = r === null ? d.size : r.end - r.start;
}

export async function getObject(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.getObject';
  const { bucket, key, path } = target(t);
  if (key.endsWith('/')) {
    const d = await describeFolder(deps, bucket, path);
    if (notModified(ctx, d)) {
      ctx.status = 304;
      return;
    }
    describeHeaders(ctx, t, d);
    rangeOf(ctx, 0);
    ctx.status = 200;
    ctx.body = Buffer.alloc(0);
    return;
  }
  if (path === null) throw new S3Error('NoSuchKey', 'the specified key does not exist');
  for (let attempt = 0; ; attempt++) {
    const o = await deps.client.open(path).catch((e: unknown) => {
      throw s3ErrorOf(e);
    });
    const attrs = attrsOf(o);
    const d: Described = { size: o.size, mtime: o.mtime, etag: etagOf(o.etag, attrs), attrs };
    let r: { start: number; end: number } | null;
    try {
      if (notModified(ctx, d)) {
        ctx.status = 304;
        describeHeaders(ctx, t, d);
        discardOpened(o);
        return;
      }
      r = rangeOf(ctx, o.size);
    } catch (e) {
      discardOpened(o);
      throw e;
    }
    describeHeaders(ctx, t, d);
    if (r === null) {
      ctx.status = 200;
      await sendOpened(ctx, o);
      return;
    }
    ctx.status = 206;
    ctx.set('Content-Range', formatContentRange(r.start, r.end, o.size));
    if (o.inline !== null) {
      ctx.body = o.inline.subarray(r.start, r.end);
      return;
    }
    discardOpened(o);
    const part = await deps.client.open(path, r);
    if (part.etag === o.etag) {
      await sendOpened(ctx, part);
      return;
    }
    // Replaced between the two opens: answer for the new version (once).
    discardOpened(part);
    if (attempt > 0) throw new S3Error('ServiceUnavailable', 'the object is being replaced; retry');
  }
}

export async function deleteObject(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.deleteObject';
  const { bucket, key, path } = target(t);
  await requireBucket(deps.client, bucket);
  await removeKey(deps, bucket, key, path);
  ctx.status = 204;
}

/**
 * Removes the object `key` if it exists (absent: nothing to do, as S3), then the directories
 * above it that this left empty, up to the bucket (S3 has no directories to leave behind).
 */
export async function removeKey(deps: S3Deps, bucket: RemotePath, key: string, path: RemotePath | null): Promise<void> {
  const { client } = deps;
  if (path === null) return;
  try {
    const st = await client.stat(path);
    // A key without '/' names a file only; "k/" names the (empty) directory.
    if ((st.type === 'dir') !== key.endsWith('/')) return;
    await client.rm(path);
  } catch (e) {
    if (isCairnError(e, 'NotFound') || isCairnError(e, 'NotEmpty')) return;
    throw e;
  }
  for (let segs = path.segments.slice(0, -1); segs.length > bucket.segments.length; segs = segs.slice(0, -1)) {
    try {
      await client.rm(`/${segs.join('/')}`);
    } catch {
      return; // not empty (or gone): stop
    }
  }
}

/**
 * `x-amz-copy-source`: `bucket/key` or `/bucket/key`, percent-encoded (the separating '/' may be
 * encoded too), optionally `?versionId=…` (a raw '?': one inside the key is encoded).
 */
export function parseCopySource(header: string): { bucket: string; key: string } {
  const q = header.indexOf('?');
  let s: string;
  try {
    s = decodeURIComponent(q >= 0 ? header.slice(0, q) : header);
  } catch {
    throw new S3Error('InvalidArgument', 'x-amz-copy-source is not valid percent-encoded UTF-8');
  }
  if (s.startsWith('/')) s = s.slice(1);
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) throw new S3Error('InvalidArgument', 'x-amz-copy-source must be bucket/key');
  return { bucket: s.slice(0, slash), key: s.slice(slash + 1) };
}

/** Opens the copy source after its x-amz-copy-source-if-* conditions. */
export async function openCopySource(ctx: S3Ctx, deps: S3Deps, range?: { start: number; end: number }): Promise<{ open: OpenResult; attrs: ObjectAttrs; etag: string; path: RemotePath }> {
  const src = parseCopySource(ctx.get('x-amz-copy-source'));
  const srcBucket = bucketDir(src.bucket);
  await requireBucket(deps.client, srcBucket);
  const srcPath = keyPath(srcBucket, src.key);
  if (srcPath === null || src.key.endsWith('/')) throw new S3Error('NoSuchKey', 'the specified key does not exist');
  const o = await deps.client.open(srcPath, range ?? {}).catch((e: unknown) => {
    throw s3ErrorOf(e);
  });
  const attrs = attrsOf(o);
  const etag = etagOf(o.etag, attrs);
  const fail = (c: string): never => {
    discardOpened(o);
    throw new S3Error('PreconditionFailed', 'at least one of the pre-conditions you specified did not hold', { Condition: c });
  };
  const im = ctx.get('x-amz-copy-source-if-match');
  if (im !== '' && !etagListMatches(im, etag, false)) fail('x-amz-copy-source-If-Match');
  const inm = ctx.get('x-amz-copy-source-if-none-match');
  if (inm !== '' && etagListMatches(inm, etag, true)) fail('x-amz-copy-source-If-None-Match');
  const sec = Math.floor(o.mtime / 1000);
  const ims = Date.parse(ctx.get('x-amz-copy-source-if-modified-since'));
  if (Number.isFinite(ims) && sec <= Math.floor(ims / 1000)) fail('x-amz-copy-source-If-Modified-Since');
  const ius = Date.parse(ctx.get('x-amz-copy-source-if-unmodified-since'));
  if (Number.isFinite(ius) && sec > Math.floor(ius / 1000)) fail('x-amz-copy-source-If-Unmodified-Since');
  return { open: o, attrs, etag, path: srcPath };
}

export async function copyObject(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.copyObject';
  const { bucket, key, path } = target(t);
  if (path === null || key.endsWith('/')) throw unstorable(key);
  await requireBucket(deps.client, bucket);
  const { open, attrs: srcAttrs, etag: srcEtag, path: srcPath } = await openCopySource(ctx, deps);
  const directive = (ctx.get('x-amz-metadata-directive') || 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    discardOpened(open);
    throw new S3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE');
  }
  if (directive === 'COPY' && srcPath.text !== path.text) {
    // The library's server-side copy: the new file shares the source's chunks and carries its
    // attributes (ETag and metadata), one metadata call, no byte moved.
    discardOpened(open);
    let r: { etag: string };
    try {
      r = await deps.client.copy(srcPath, path, { overwrite: true });
    } catch (e) {
      if (isCairnError(e, 'IsADirectory') && (await deps.client.stat(srcPath).then((st) => st.type === 'file', () => false))) throw new S3Error('InvalidRequest', 'the key is a prefix of other keys (a directory): it cannot also be an object (docs/s3.md)');
      if (isCairnError(e, 'NotADirectory') || isCairnError(e, 'AlreadyExists')) throw new S3Error('InvalidRequest', 'a prefix of the key is an object (a file): the key cannot be stored below it (docs/s3.md)');
      throw e;
    }
    // Replaced between the open and the copy: the copy's own attributes tell its ETag.
    const etag = r.etag === open.etag ? srcEtag : await deps.client.stat(path).then((st) => etagOf(st.etag, attrsOf(st)));
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = xmlDocument('CopyObjectResult', { LastModified: isoDate(deps.wallClockMs()), ETag: `"${etag}"` });
    return;
  }
  const attrs: ObjectAttrs = directive === 'COPY' ? Object.fromEntries(Object.entries(srcAttrs).filter(([k]) => k !== 's3-etag')) : requestMetadata(ctx.req.headers);
  let opts: WriteOptions;
  try {
    opts = withAttrs({ overwrite: true, expectedSize: open.size }, attrs);
  } catch (e) {
    discardOpened(open);
    throw e;
  }
  // Reading and writing every byte may outlast the idle timeout: answered slowly.
  await answerSlowly(ctx, deps, async () => {
    const md5 = createHash('md5');
    const source = open.inline !== null ? [open.inline] : open.stream;
    const hashed = (async function* () {
      for await (const b of source as AsyncIterable<Buffer>) {
        md5.update(b);
        yield b;
      }
      attrs['s3-etag'] = md5.copy().digest('hex');
    })();
    try {
      await deps.client.put(path, hashed, opts);
    } catch (e) {
      if (isCairnError(e, 'IsADirectory') || isCairnError(e, 'NotADirectory') || isCairnError(e, 'AlreadyExists')) throw new S3Error('InvalidRequest', 'the key is a prefix of other keys, or below an object: it cannot be stored (docs/s3.md)');
      throw e;
    }
    return { root: 'CopyObjectResult', body: { LastModified: isoDate(deps.wallClockMs()), ETag: `"${attrs['s3-etag']!}"` } };
  });
}

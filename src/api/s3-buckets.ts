/**
 * S3 bucket operations over top-level directories: ListBuckets, CreateBucket, DeleteBucket,
 * HeadBucket, GetBucketLocation, ListObjects (v1) and ListObjectsV2 (s3-list.ts walks), and
 * DeleteObjects.
 *
 * Listings carry each object's ETag: one stat per listed object (STATS_INFLIGHT_MAX at a time),
 * because directory pages carry no etag and clients (rclone check, s3cmd sync) compare it.
 */
import type { ListEntry } from '../client/cairn-client.js';
import { RemotePath } from '../proto/path.js';
import { isCairnError } from '../util/errors.js';
import { attrsOf, etagOf } from './s3-attrs.js';
import { parseXml, readSmallBody } from './s3-body.js';
import { bucketDir, checkNewBucketName, isoDate, keyPath, requireBucket, type S3Ctx, type S3Deps, type S3Target } from './s3-context.js';
import { S3Error, s3ErrorOf, xmlDocument, type XmlNode } from './s3-errors.js';
import { listPage, type ListedObject, type ListPage } from './s3-list.js';
import { removeKey } from './s3-objects.js';
import { awsUriEncode } from './s3-sigv4.js';

/** Keys in one listing page at most (S3's max-keys ceiling). */
export const MAX_KEYS_MAX = 1000;
/** Objects in one DeleteObjects request (S3's limit). */
export const DELETE_OBJECTS_MAX = 1000;
/** Bytes of an XML request body (DeleteObjects of 1000 long keys fits). */
export const XML_BODY_BYTES_MAX = 2 * 1024 * 1024;
/** Stats in flight while a listing page gathers its ETags. */
const STATS_INFLIGHT_MAX = 16;

const OWNER = { ID: 'cairn', DisplayName: 'cairn' };

function xml(ctx: S3Ctx, root: string, body: XmlNode): void {
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = xmlDocument(root, body);
}

export async function listBuckets(ctx: S3Ctx, deps: S3Deps): Promise<void> {
  ctx.state.route = 's3.listBuckets';
  const buckets: XmlNode[] = [];
  for await (const e of deps.client.ls(RemotePath.ROOT) as AsyncIterable<ListEntry>) {
    if (e.type === 'dir' && !e.name.startsWith('.')) buckets.push({ Name: e.name, CreationDate: isoDate(e.mtime) });
  }
  xml(ctx, 'ListAllMyBucketsResult', { Owner: OWNER, Buckets: { Bucket: buckets } });
}

export async function createBucket(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.createBucket';
  checkNewBucketName(t.bucket);
  const { body } = await readSmallBody(ctx.req, ctx.state.auth, XML_BODY_BYTES_MAX);
  if (body.length > 0) {
    const doc = parseXml(body);
    const conf = doc.CreateBucketConfiguration as Record<string, unknown> | undefined;
    const loc = conf && typeof conf === 'object' ? conf.LocationConstraint : undefined;
    if (typeof loc === 'string' && loc !== '' && loc !== deps.region) throw new S3Error('InvalidArgument', `the location constraint must be ${deps.region} (or absent)`, { ArgumentName: 'LocationConstraint' });
  }
  try {
    await deps.client.mkdir(bucketDir(t.bucket));
  } catch (e) {
    if (isCairnError(e, 'AlreadyExists')) throw new S3Error('BucketAlreadyOwnedByYou', 'your previous request to create the named bucket succeeded and you already own it', { BucketName: t.bucket });
    throw e;
  }
  ctx.status = 200;
  ctx.set('Location', `/${t.bucket}`);
}

export async function deleteBucket(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.deleteBucket';
  const dir = bucketDir(t.bucket);
  await requireBucket(deps.client, dir);
  try {
    await deps.client.rm(dir);
  } catch (e) {
    if (isCairnError(e, 'NotEmpty')) throw new S3Error('BucketNotEmpty', 'the bucket you tried to delete is not empty', { BucketName: t.bucket });
    throw s3ErrorOf(e, 'NoSuchBucket');
  }
  ctx.status = 204;
}

export async function headBucket(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.headBucket';
  await requireBucket(deps.client, bucketDir(t.bucket));
  ctx.status = 200;
  ctx.set('x-amz-bucket-region', deps.region);
}

export async function getBucketLocation(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.getBucketLocation';
  await requireBucket(deps.client, bucketDir(t.bucket));
  ctx.status = 200;
  ctx.type = 'application/xml';
  // us-east-1 is spelled as no constraint, as S3 does.
  const loc = deps.region === 'us-east-1' ? '' : deps.region;
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${loc}</LocationConstraint>`;
}

/** GetBucketVersioning: never enabled (an empty configuration, as S3 answers for a bucket that never had it). */
export async function getBucketVersioning(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.getBucketVersioning';
  await requireBucket(deps.client, bucketDir(t.bucket));
  xml(ctx, 'VersioningConfiguration', {});
}

function maxKeysOf(t: S3Target): number {
  const v = t.query.get('max-keys');
  if (v === undefined) return MAX_KEYS_MAX;
  if (!/^\d{1,9}$/.test(v)) throw new S3Error('InvalidArgument', 'max-keys must be a non-negative integer', { ArgumentName: 'max-keys' });
  return Math.min(Number(v), MAX_KEYS_MAX);
}

/** Fills in each listed object's ETag (a stat each, bounded concurrency); objects gone meanwhile are dropped. */
async function withEtags(deps: S3Deps, bucket: RemotePath, objects: ListedObject[]): Promise<Array<ListedObject & { etag: string | null }>> {
  const out: Array<(ListedObject & { etag: string | null }) | null> = new Array(objects.length).fill(null);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) {
      const i = next++;
      const o = objects[i]!;
      const path = o.key.endsWith('/') ? null : keyPath(bucket, o.key);
      if (path === null) {
        out[i] = { ...o, etag: null };
        continue;
      }
      try {
        const st = await deps.client.stat(path);
        out[i] = { ...o, size: st.size, mtime: st.mtime, etag: etagOf(st.etag, attrsOf(st)) };
      } catch (e) {
        if (!isCairnError(e, 'NotFound')) throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATS_INFLIGHT_MAX, objects.length) }, worker));
  return out.filter((o): o is ListedObject & { etag: string | null } => o !== null);
}

interface Listed {
  page: ListPage;
  contents: XmlNode[];
  enc: (s: string) => string;
}

async function runListing(deps: S3Deps, t: S3Target, after: string, maxKeys: number): Promise<Listed> {
  const bucket = bucketDir(t.bucket);
  await requireBucket(deps.client, bucket);
  const encodingType = t.query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'encoding-type must be url', { ArgumentName: 'encoding-type' });
  const enc = encodingType === 'url' ? (s: string): string => awsUriEncode(s, false) : (s: string): string => s;
  const page = await listPage(deps.client, bucket, { prefix: t.query.get('prefix') ?? '', delimiter: t.query.get('delimiter') ?? '', after, maxKeys });
  const objects = await withEtags(deps, bucket, page.objects);
  const contents = objects.map((o) => ({
    Key: enc(o.key),
    LastModified: isoDate(o.mtime),
    ...(o.etag === null ? {} : { ETag: `"${o.etag}"` }),
    Size: o.size,
    StorageClass: 'STANDARD',
  }));
  return { page, contents, enc };
}

const opt = (s: string | undefined, enc: (s: string) => string): string | undefined => (s === undefined || s === '' ? undefined : enc(s));

export async function listObjectsV2(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.listObjectsV2';
  const maxKeys = maxKeysOf(t);
  const token = t.query.get('continuation-token');
  let after = t.query.get('start-after') ?? '';
  if (token !== undefined) after = decodeToken(token);
  const { page, contents, enc } = await runListing(deps, t, after, maxKeys);
  const fetchOwner = t.query.get('fetch-owner') === 'true';
  xml(ctx, 'ListBucketResult', {
    Name: t.bucket,
    Prefix: enc(t.query.get('prefix') ?? ''),
    StartAfter: opt(t.query.get('start-after'), enc),
    ContinuationToken: token,
    NextContinuationToken: page.isTruncated && page.last !== null ? encodeToken(page.last) : undefined,
    KeyCount: contents.length + page.commonPrefixes.length,
    MaxKeys: maxKeys,
    Delimiter: opt(t.query.get('delimiter'), enc),
    EncodingType: t.query.get('encoding-type'),
    IsTruncated: page.isTruncated,
    Contents: fetchOwner ? contents.map((c) => ({ ...c, Owner: OWNER })) : contents,
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  });
}

export async function listObjectsV1(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.listObjects';
  const maxKeys = maxKeysOf(t);
  const marker = t.query.get('marker') ?? '';
  const { page, contents, enc } = await runListing(deps, t, marker, maxKeys);
  xml(ctx, 'ListBucketResult', {
    Name: t.bucket,
    Prefix: enc(t.query.get('prefix') ?? ''),
    Marker: enc(marker),
    NextMarker: page.isTruncated && page.last !== null ? enc(page.last) : undefined,
    MaxKeys: maxKeys,
    Delimiter: opt(t.query.get('delimiter'), enc),
    EncodingType: t.query.get('encoding-type'),
    IsTruncated: page.isTruncated,
    Contents: contents.map((c) => ({ ...c, Owner: OWNER })),
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  });
}

/** A continuation token: the last item returned, opaque to clients. */
export function encodeToken(last: string): string {
  return Buffer.from(`1:${last}`, 'utf8').toString('base64url');
}

export function decodeToken(token: string): string {
  const s = Buffer.from(token, 'base64url').toString('utf8');
  if (!s.startsWith('1:')) throw new S3Error('InvalidArgument', 'the continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  return s.slice(2);
}

export async function deleteObjects(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.deleteObjects';
  const bucket = bucketDir(t.bucket);
  await requireBucket(deps.client, bucket);
  const { body } = await readSmallBody(ctx.req, ctx.state.auth, XML_BODY_BYTES_MAX);
  const del = parseXml(body).Delete as { Object?: unknown; Quiet?: unknown } | undefined;
  if (del === undefined || typeof del !== 'object' || !Array.isArray(del.Object)) throw new S3Error('MalformedXML', 'the XML you provided was not well-formed or did not validate against our published schema');
  if (del.Object.length > DELETE_OBJECTS_MAX) throw new S3Error('MalformedXML', `at most ${DELETE_OBJECTS_MAX} objects per request`);
  const quiet = String(del.Quiet ?? 'false').trim() === 'true';
  const deleted: XmlNode[] = [];
  const errors: XmlNode[] = [];
  for (const o of del.Object as Array<{ Key?: unknown }>) {
    const key = o !== null && typeof o === 'object' && (typeof o.Key === 'string' || typeof o.Key === 'number') ? String(o.Key) : null;
    if (key === null || key === '') throw new S3Error('MalformedXML', 'each Object needs a Key');
    try {
      await removeKey(deps, bucket, key, keyPath(bucket, key)); // KeyTooLongError: that key's error
      if (!quiet) deleted.push({ Key: key });
    } catch (e) {
      const err = s3ErrorOf(e);
      errors.push({ Key: key, Code: err.code, Message: err.message });
    }
  }
  xml(ctx, 'DeleteResult', { Deleted: deleted, Error: errors });
}

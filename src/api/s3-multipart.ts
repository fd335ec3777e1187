/**
 * S3 multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
 * CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.
 *
 * Where parts live (docs/s3.md): `/.s3-uploads/{bucket}/{uploadId}/` holds `upload` (JSON: key,
 * metadata, start time) and one file per part named `p{number, 5 digits}-{MD5 hex}` — the part's
 * ETag is in its name, so ListParts is one directory listing. A part is written under a temporary
 * name and renamed into place (atomic), then older files of the same number are removed. The
 * area is a top-level directory whose name no bucket can have, so it never shows as a bucket.
 *
 * Complete checks the list (ascending, every part present with its ETag, every part but the last
 * at least PART_BYTES_MIN), then commits the object as the parts' chunks in order (fs.concat: one
 * metadata call that also removes those parts; no byte moves), and removes the upload. Parts are
 * stored in chunks, never inline, for that. Where the namespace cannot join the parts (see
 * joinParts) it writes the object by reading the parts in order instead (a copy inside the
 * gateway: memory stays at the writer's bound). The ETag is MD5(MD5(part 1) ‖ … ‖ MD5(part N))
 * + "-N", as S3's.
 */
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ListEntry } from '../client/cairn-client.js';
import { RemotePath } from '../proto/path.js';
import { isCairnError } from '../util/errors.js';
import { withAttrs, type ObjectAttrs } from './s3-attrs.js';
import { parseXml, readSmallBody } from './s3-body.js';
import { answerSlowly, bucketDir, isoDate, keyPath, requestMetadata, requireBucket, UPLOADS_DIR, type S3Ctx, type S3Deps, type S3Target } from './s3-context.js';
import { S3Error, xmlDocument, type XmlNode } from './s3-errors.js';
import { openCopySource, storeBody } from './s3-objects.js';
import { XML_BODY_BYTES_MAX } from './s3-buckets.js';

/** S3's bounds: part numbers 1..PARTS_MAX, every part but the last at least PART_BYTES_MIN. */
export const PARTS_MAX = 10_000;
export const PART_BYTES_MIN = 5 * 1024 * 1024;
/** Uploads and parts listed per page at most. */
const LIST_MAX = 1000;
/** Bytes of an upload's `upload` record. */
const UPLOAD_RECORD_BYTES_MAX = 64 * 1024;

const OWNER = { ID: 'cairn', DisplayName: 'cairn' };
/** Parts are always stored in chunks (never inline), so Complete can join them (fs.concat). */
const PART_WRITE = { inline: false } as const;

interface UploadRecord {
  key: string;
  attrs: ObjectAttrs;
  initiated: number;
}

interface Upload {
  bucket: RemotePath;
  key: string;
  id: string;
  dir: RemotePath;
  record: UploadRecord;
}

const uploadsOf = (bucket: string): RemotePath => RemotePath.parse(`/${UPLOADS_DIR}/${bucket}`);
const noSuchUpload = (): S3Error => new S3Error('NoSuchUpload', 'the specified multipart upload does not exist; the upload ID might be invalid, or it was aborted or completed');

function xml(ctx: S3Ctx, root: string, body: XmlNode): void {
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = xmlDocument(root, body);
}

async function readWhole(deps: S3Deps, path: RemotePath, max: number): Promise<Buffer> {
  const o = await deps.client.open(path);
  if (o.size > max) {
    if (o.inline === null) o.stream.destroy();
    throw new S3Error('InternalError', 'an upload record is too large');
  }
  if (o.inline !== null) return o.inline;
  const parts: Buffer[] = [];
  for await (const b of o.stream as AsyncIterable<Buffer>) parts.push(b);
  return Buffer.concat(parts);
}

/** The upload `uploadId` of `t`'s bucket and key; NoSuchUpload when absent or for another key. */
async function findUpload(deps: S3Deps, t: S3Target, uploadId: string): Promise<Upload> {
  const bucket = bucketDir(t.bucket);
  if (!/^[0-9a-f]{32}$/.test(uploadId)) throw noSuchUpload();
  const dir = uploadsOf(t.bucket).child(uploadId);
  let record: UploadRecord;
  try {
    record = JSON.parse((await readWhole(deps, dir.child('upload'), UPLOAD_RECORD_BYTES_MAX)).toString('utf8')) as UploadRecord;
  } catch (e) {
    if (isCairnError(e, 'NotFound') || isCairnError(e, 'NotADirectory')) throw noSuchUpload();
    throw e;
  }
  if (t.key !== null && record.key !== t.key) throw noSuchUpload();
  return { bucket, key: record.key, id: uploadId, dir, record };
}

export async function createMultipartUpload(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.createMultipartUpload';
  const bucket = bucketDir(t.bucket);
  const key = t.key!;
  if (key.endsWith('/') || keyPath(bucket, key) === null) throw new S3Error('InvalidArgument', `the key ${JSON.stringify(key)} cannot be stored (docs/s3.md)`);
  await requireBucket(deps.client, bucket);
  const attrs = requestMetadata(ctx.req.headers);
  withAttrs({}, attrs); // refuse unstorable metadata now, not at Complete
  const id = deps.randomHex(16);
  const record: UploadRecord = { key, attrs, initiated: deps.wallClockMs() };
  await deps.client.put(uploadsOf(t.bucket).child(id).child('upload'), Buffer.from(JSON.stringify(record)));
  xml(ctx, 'InitiateMultipartUploadResult', { Bucket: t.bucket, Key: key, UploadId: id });
}

function partNumberOf(t: S3Target): number {
  const v = t.query.get('partNumber') ?? '';
  const n = /^\d{1,5}$/.test(v) ? Number(v) : 0;
  if (n < 1 || n > PARTS_MAX) throw new S3Error('InvalidArgument', `part number must be an integer between 1 and ${PARTS_MAX}, inclusive`, { ArgumentName: 'partNumber' });
  return n;
}

const partPrefix = (n: number): string => `p${String(n).padStart(5, '0')}-`;

interface PartFile {
  number: number;
  md5: string;
  size: number;
  mtime: number;
  path: RemotePath;
}

/** Every part file of an upload, by number (the newest name per number). */
async function partsOf(deps: S3Deps, up: Upload): Promise<Map<number, PartFile>> {
  const out = new Map<number, PartFile>();
  for await (const e of deps.client.ls(up.dir) as AsyncIterable<ListEntry>) {
    const m = /^p(\d{5})-([0-9a-f]{32})$/.exec(e.name);
    if (!m || e.type !== 'file') continue;
    const number = Number(m[1]);
    const prev = out.get(number);
    if (prev === undefined || e.mtime >= prev.mtime) out.set(number, { number, md5: m[2]!, size: e.size, mtime: e.mtime, path: up.dir.child(e.name) });
  }
  return out;
}

/** Renames a stored temporary part into place and removes older files of its number. */
async function placePart(deps: S3Deps, up: Upload, n: number, tmp: RemotePath, md5: string): Promise<void> {
  const final = up.dir.child(`${partPrefix(n)}${md5}`);
  try {
    await deps.client.rm(final); // same number, same bytes: replaced by the new copy
  } catch (e) {
    if (!isCairnError(e, 'NotFound')) throw e;
  }
  await deps.client.mv(tmp, final);
  for await (const e of deps.client.ls(up.dir) as AsyncIterable<ListEntry>) {
    if (e.name.startsWith(partPrefix(n)) && e.name !== final.name) await deps.client.rm(up.dir.child(e.name)).catch(() => undefined);
  }
}

export async function uploadPart(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.uploadPart';
  const n = partNumberOf(t);
  const up = await findUpload(deps, t, t.query.get('uploadId') ?? '');
  const tmp = up.dir.child(`t${deps.randomHex(8)}`);
  const r = await storeBody(ctx, deps, tmp, {}, true, PART_WRITE);
  await placePart(deps, up, n, tmp, r.etag);
  ctx.status = 200;
  ctx.set('ETag', `"${r.etag}"`);
  for (const [h, v] of Object.entries(r.checksums)) ctx.set(h, v);
}

export async function uploadPartCopy(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.uploadPartCopy';
  const n = partNumberOf(t);
  const up = await findUpload(deps, t, t.query.get('uploadId') ?? '');
  const rangeHeader = ctx.get('x-amz-copy-source-range');
  let range: { start: number; end: number } | undefined;
  if (rangeHeader !== '') {
    const m = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(rangeHeader.trim());
    if (!m || Number(m[2]) < Number(m[1])) throw new S3Error('InvalidArgument', 'the x-amz-copy-source-range value must be of the form bytes=first-last');
    range = { start: Number(m[1]), end: Number(m[2]) + 1 };
  }
  const { open } = await openCopySource(ctx, deps, range);
  if (range !== undefined && range.end > open.size) {
    if (open.inline === null) open.stream.destroy();
    throw new S3Error('InvalidRange', 'the x-amz-copy-source-range is outside the source object');
  }
  const md5 = createHash('md5');
  const tmp = up.dir.child(`t${deps.randomHex(8)}`);
  const src = open.inline !== null ? [open.inline] : open.stream;
  const hashed = (async function* () {
    for await (const b of src as AsyncIterable<Buffer>) {
      md5.update(b);
      yield b;
    }
  })();
  await deps.client.put(tmp, hashed, PART_WRITE);
  const etag = md5.digest('hex');
  await placePart(deps, up, n, tmp, etag);
  xml(ctx, 'CopyPartResult', { LastModified: isoDate(deps.wallClockMs()), ETag: `"${etag}"` });
}

export async function abortMultipartUpload(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.abortMultipartUpload';
  const up = await findUpload(deps, t, t.query.get('uploadId') ?? '');
  await deps.client.rm(up.dir, { recursive: true });
  ctx.status = 204;
}

/** The part list of a CompleteMultipartUpload body, checked for order and form. */
function requestedParts(body: Buffer): Array<{ number: number; etag: string }> {
  const doc = parseXml(body).CompleteMultipartUpload as { Part?: unknown } | undefined;
  if (doc === undefined || typeof doc !== 'object' || !Array.isArray(doc.Part) || doc.Part.length === 0) throw new S3Error('MalformedXML', 'the XML you provided was not well-formed or did not validate against our published schema');
  const out: Array<{ number: number; etag: string }> = [];
  for (const p of doc.Part as Array<Record<string, unknown>>) {
    const number = Number(String(p?.PartNumber ?? '').trim());
    const etag = String(p?.ETag ?? '').trim().replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '');
    if (!Number.isInteger(number) || number < 1 || number > PARTS_MAX) throw new S3Error('InvalidPart', 'one or more of the specified parts could not be found');
    if (out.length > 0 && number <= out[out.length - 1]!.number) throw new S3Error('InvalidPartOrder', 'the list of parts was not in ascending order; parts must be ordered by part number');
    out.push({ number, etag });
  }
  return out;
}

export async function completeMultipartUpload(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.completeMultipartUpload';
  const up = await findUpload(deps, t, t.query.get('uploadId') ?? '');
  const { body } = await readSmallBody(ctx.req, ctx.state.auth, XML_BODY_BYTES_MAX);
  const wanted = requestedParts(body);
  const have = await partsOf(deps, up);
  const chosen: PartFile[] = [];
  for (const [i, w] of wanted.entries()) {
    const p = have.get(w.number);
    if (p === undefined || p.md5 !== w.etag) throw new S3Error('InvalidPart', 'one or more of the specified parts could not be found; the part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag');
    if (i < wanted.length - 1 && p.size < PART_BYTES_MIN) throw new S3Error('EntityTooSmall', 'your proposed upload is smaller than the minimum allowed object size', { PartNumber: String(w.number), MinSizeAllowed: String(PART_BYTES_MIN) });
    chosen.push(p);
  }
  const md5s = createHash('md5');
  for (const p of chosen) md5s.update(Buffer.from(p.md5, 'hex'));
  const etag = `${md5s.digest('hex')}-${chosen.length}`;
  const path = keyPath(up.bucket, up.key)!;
  await requireBucket(deps.client, up.bucket);
  const total = chosen.reduce((n, p) => n + p.size, 0);
  const attrs: ObjectAttrs = { ...up.record.attrs, 's3-etag': etag };
  withAttrs({}, attrs); // checked at Create; refused here too rather than after the parts are joined
  // Answered slowly: the copy fallback streams every part again, and the connection stays busy.
  await answerSlowly(ctx, deps, async () => {
    if (!(await joinParts(deps, up, chosen, path, attrs))) await copyParts(deps, chosen, path, attrs, total);
    await deps.client.rm(up.dir, { recursive: true }).catch(() => undefined);
    return { root: 'CompleteMultipartUploadResult', body: { Location: `/${t.bucket}/${up.key}`, Bucket: t.bucket, Key: up.key, ETag: `"${etag}"` } };
  });
}

/**
 * The object as the parts' chunks (fs.concat, one metadata call, no byte moves; the parts go in
 * the same step): true when done. False when the namespace cannot join these parts — a part
 * stored inline (parts written before parts were always chunked), two parts sharing a chunk,
 * too many chunks, a part replaced meanwhile — and the caller copies the bytes instead.
 */
async function joinParts(deps: S3Deps, up: Upload, chosen: PartFile[], path: RemotePath, attrs: ObjectAttrs): Promise<boolean> {
  try {
    await deps.client.concat(up.dir, chosen.map((p) => p.path.name), path, { overwrite: true, attrs });
    return true;
  } catch (e) {
    for (const code of CONCAT_FALLBACK_CODES) if (isCairnError(e, code)) return false;
    throw e;
  }
}

const CONCAT_FALLBACK_CODES = ['InlineRefused', 'InvalidArgument', 'TooLarge', 'PreconditionFailed'] as const;

/** The object written by streaming the parts in order through the gateway (memory at the writer's bound). */
async function copyParts(deps: S3Deps, chosen: PartFile[], path: RemotePath, attrs: ObjectAttrs, total: number): Promise<void> {
  const w = deps.client.createWriteStream(path, { overwrite: true, expectedSize: total, attrs });
  try {
    const joined = new PassThrough();
    const feed = (async () => {
      for (const p of chosen) await pipeline(deps.client.createReadStream(p.path), joined, { end: false });
      joined.end();
    })();
    await Promise.all([pipeline(joined, w), feed]);
    await w.done;
  } catch (e) {
    w.destroy(e as Error);
    throw e;
  }
}

export async function listParts(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.listParts';
  const up = await findUpload(deps, t, t.query.get('uploadId') ?? '');
  const marker = Number(t.query.get('part-number-marker') ?? '0') || 0;
  const maxParts = Math.min(Number(t.query.get('max-parts') ?? LIST_MAX) || LIST_MAX, LIST_MAX);
  const all = [...(await partsOf(deps, up)).values()].filter((p) => p.number > marker).sort((a, b) => a.number - b.number);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  xml(ctx, 'ListPartsResult', {
    Bucket: t.bucket,
    Key: up.key,
    UploadId: up.id,
    Initiator: OWNER,
    Owner: OWNER,
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: truncated ? page[page.length - 1]!.number : undefined,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Part: page.map((p) => ({ PartNumber: p.number, LastModified: isoDate(p.mtime), ETag: `"${p.md5}"`, Size: p.size })),
  });
}

/** ListMultipartUploads: reads each upload's record (one small read per upload in progress). */
export async function listMultipartUploads(ctx: S3Ctx, deps: S3Deps, t: S3Target): Promise<void> {
  ctx.state.route = 's3.listMultipartUploads';
  const bucket = bucketDir(t.bucket);
  await requireBucket(deps.client, bucket);
  const prefix = t.query.get('prefix') ?? '';
  const keyMarker = t.query.get('key-marker') ?? '';
  const idMarker = t.query.get('upload-id-marker') ?? '';
  const maxUploads = Math.min(Number(t.query.get('max-uploads') ?? LIST_MAX) || LIST_MAX, LIST_MAX);
  const uploads: Array<{ key: string; id: string; initiated: number }> = [];
  try {
    for await (const e of deps.client.ls(uploadsOf(t.bucket)) as AsyncIterable<ListEntry>) {
      if (e.type !== 'dir') continue;
      try {
        const up = await findUpload(deps, { ...t, key: null }, e.name);
        if (up.key.startsWith(prefix)) uploads.push({ key: up.key, id: up.id, initiated: up.record.initiated });
      } catch (err) {
        if (!(err instanceof S3Error && err.code === 'NoSuchUpload')) throw err;
      }
    }
  } catch (e) {
    if (!isCairnError(e, 'NotFound')) throw e;
  }
  const cmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  uploads.sort((a, b) => cmp(a.key, b.key) || a.initiated - b.initiated || cmp(a.id, b.id));
  const after = uploads.filter((u) => keyMarker === '' || cmp(u.key, keyMarker) > 0 || (u.key === keyMarker && idMarker !== '' && cmp(u.id, idMarker) > 0));
  const page = after.slice(0, maxUploads);
  const truncated = after.length > page.length;
  const last = page[page.length - 1];
  xml(ctx, 'ListMultipartUploadsResult', {
    Bucket: t.bucket,
    KeyMarker: keyMarker,
    UploadIdMarker: idMarker,
    NextKeyMarker: truncated && last ? last.key : undefined,
    NextUploadIdMarker: truncated && last ? last.id : undefined,
    Prefix: prefix,
    MaxUploads: maxUploads,
    IsTruncated: truncated,
    Upload: page.map((u) => ({ Key: u.key, UploadId: u.id, Initiator: OWNER, Owner: OWNER, StorageClass: 'STANDARD', Initiated: isoDate(u.initiated) })),
  });
}

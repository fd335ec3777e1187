/**
 * An object's S3 metadata as file attributes (the file's `attrs` map): `s3-etag` (the ETag S3
 * computes: MD5 of the body, or MD5-of-MD5s plus `-N` for a multipart upload), the stored headers
 * (content-type, content-disposition, content-encoding, content-language, cache-control, expires)
 * and `x-amz-meta-*`. A file written by the CLI or /v1 has no `s3-etag`: its Cairn etag answers.
 *
 * Bounds: the namespace's (proto/file-attrs.ts), checked here first so the client gets an S3
 * error (MetadataTooLarge, InvalidArgument) before any byte is stored.
 */
import type { WriteOptions } from '../client/file-writer.js';
import { attrsProblem } from '../proto/file-attrs.js';
import { S3Error } from './s3-errors.js';
import { STORED_HEADERS } from './s3-context.js';

export type ObjectAttrs = Record<string, string>;

/** The ETag of no bytes. */
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/** A file's attributes (stat or open result); {} for a file without any. */
export function attrsOf(r: object): ObjectAttrs {
  const a = (r as { attrs?: unknown }).attrs;
  return a !== null && typeof a === 'object' ? (a as ObjectAttrs) : {};
}

/** The S3 ETag (unquoted) of a file: its `s3-etag`, else its Cairn etag. */
export function etagOf(cairnEtag: string | null, attrs: ObjectAttrs): string {
  return attrs['s3-etag'] ?? cairnEtag ?? EMPTY_MD5;
}

/**
 * Write options carrying `attrs` (the object itself: the writer reads it at commit, so an ETag
 * added once the body is verified is stored). MetadataTooLarge / InvalidArgument when the
 * namespace would refuse them.
 */
export function withAttrs<T extends WriteOptions>(opts: T, attrs: ObjectAttrs): T {
  // Room for the ETag added later (a multipart one is the longest: 32 hex digits, '-', 5 digits).
  const problem = attrsProblem({ ...attrs, 's3-etag': 'f'.repeat(38) });
  if (problem !== null) {
    if (/more than/.test(problem)) throw new S3Error('MetadataTooLarge', `your metadata headers exceed the maximum allowed metadata size (${problem})`);
    throw new S3Error('InvalidArgument', `metadata cannot be stored: ${problem} (docs/s3.md)`);
  }
  return { ...opts, attrs };
}

/** Response headers for stored metadata (content-type defaulting to binary/octet-stream, as S3). */
export function objectHeaders(attrs: ObjectAttrs): Record<string, string> {
  const out: Record<string, string> = { 'content-type': attrs['content-type'] ?? 'binary/octet-stream' };
  for (const h of STORED_HEADERS) if (attrs[h] !== undefined) out[h] = attrs[h];
  for (const [k, v] of Object.entries(attrs)) if (k.startsWith('x-amz-meta-')) out[k] = v;
  return out;
}

/**
 * An object's S3 metadata as file attributes (the file's `attrs` map): `s3-etag` (the ETag S3
 * computes: MD5 of the body, or MD5-of-MD5s plus `-N` for a multipart upload), the stored headers
 * (content-type, content-disposition, content-encoding, content-language, cache-control, expires)
 * and `x-amz-meta-*`. A file written by the CLI or /v1 has no `s3-etag`: its Cairn etag answers.
 *
 * Bounds (the namespace's, checked here first so the client gets an S3 error): keys of
 * [a-z0-9-], values of printable ASCII, ATTRS_BYTES_MAX in all.
 */
import type { WriteOptions } from '../client/file-writer.js';
import { S3Error } from './s3-errors.js';
import { STORED_HEADERS } from './s3-context.js';

export type ObjectAttrs = Record<string, string>;

/** The ETag of no bytes. */
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
/** Keys, values and their lengths in all (S3 allows 2 KiB of user metadata). */
export const ATTRS_BYTES_MAX = 4096;
const ATTR_KEYS_MAX = 32;

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
  let bytes = 0;
  const keys = Object.keys(attrs);
  if (keys.length > ATTR_KEYS_MAX - 1) throw new S3Error('MetadataTooLarge', `at most ${ATTR_KEYS_MAX - 1} metadata headers`);
  for (const k of keys) {
    const v = attrs[k]!;
    if (!/^[a-z0-9-]{1,128}$/.test(k)) throw new S3Error('InvalidArgument', `metadata name ${JSON.stringify(k)} cannot be stored: names are letters, digits and '-' (docs/s3.md)`);
    if (!/^[\x20-\x7e]{0,1024}$/.test(v)) throw new S3Error('InvalidArgument', `the value of ${k} cannot be stored: printable ASCII up to 1 KiB (docs/s3.md)`);
    bytes += k.length + v.length;
  }
  if (bytes > ATTRS_BYTES_MAX - 64) throw new S3Error('MetadataTooLarge', 'your metadata headers exceed the maximum allowed metadata size');
  return { ...opts, attrs };
}

/** Response headers for stored metadata (content-type defaulting to binary/octet-stream, as S3). */
export function objectHeaders(attrs: ObjectAttrs): Record<string, string> {
  const out: Record<string, string> = { 'content-type': attrs['content-type'] ?? 'binary/octet-stream' };
  for (const h of STORED_HEADERS) if (attrs[h] !== undefined) out[h] = attrs[h];
  for (const [k, v] of Object.entries(attrs)) if (k.startsWith('x-amz-meta-')) out[k] = v;
  return out;
}

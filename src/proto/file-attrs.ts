/**
 * File attributes: a small string map kept with a file (its inode record), set by the write that
 * makes the file visible (fs.commit, fs.put) and returned by fs.stat and fs.open. An overwrite
 * replaces them; a rename keeps them. Well-known keys: `content-type` (the HTTP gateway's
 * Content-Type); the S3 API also keeps `content-disposition`, `cache-control`,
 * `content-encoding`, `x-amz-meta-*` and `s3-etag`.
 *
 * Bounds (checked by the leader's request decoder, the replicated command's decoder and again
 * when a command is applied, so every replica stores only what passes them):
 *   - at most ATTRS_KEYS_MAX keys and ATTRS_BYTES_MAX bytes of keys and values (UTF-8) together;
 *   - a key: 1..ATTR_KEY_BYTES_MAX of [a-z0-9._-], starting with [a-z0-9] (lowercase, as HTTP
 *     header names compare; `__proto__` and the like can never be one);
 *   - a value: 0..ATTR_VALUE_BYTES_MAX bytes of UTF-8 text without control characters.
 *
 * Wire and storage form (attrsToValue): [key1, value1, key2, value2, …] with keys in ascending
 * order, so the same map always encodes to the same bytes on every replica.
 */
import { utf8Bytes } from './path.js';

/** Key → value; an absent key is an absent attribute. */
export type FileAttrs = Record<string, string>;

export const ATTRS_KEYS_MAX = 32;
export const ATTRS_BYTES_MAX = 4096;
export const ATTR_KEY_BYTES_MAX = 128;
export const ATTR_VALUE_BYTES_MAX = 1024;

const KEY_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** C0, DEL, C1 controls and lone surrogates (with the u flag a paired surrogate is one code point). */
const VALUE_BAD_RE = /[\p{Cc}\p{Cs}]/u;

/** Why `key` is not an attribute name, or null. */
export function attrKeyProblem(key: string): string | null {
  return KEY_RE.test(key) ? null : `attribute name ${JSON.stringify(key.slice(0, 40))} must be 1..${ATTR_KEY_BYTES_MAX} of [a-z0-9._-], starting with a letter or digit`;
}

/** Why `value` is not an attribute value, or null. */
export function attrValueProblem(key: string, value: string): string | null {
  if (utf8Bytes(value) > ATTR_VALUE_BYTES_MAX) return `attribute ${key} is longer than ${ATTR_VALUE_BYTES_MAX} bytes`;
  if (VALUE_BAD_RE.test(value)) return `attribute ${key} holds a control character`;
  return null;
}

/** Why `v` is not a valid attribute map (an object of string values within the bounds), or null. */
export function attrsProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return 'attrs must be a map of strings';
  const keys = Object.keys(v);
  if (keys.length > ATTRS_KEYS_MAX) return `more than ${ATTRS_KEYS_MAX} attributes`;
  let bytes = 0;
  for (const k of keys) {
    const value = (v as Record<string, unknown>)[k];
    if (typeof value !== 'string') return `attribute ${k} must be a string`;
    const problem = attrKeyProblem(k) ?? attrValueProblem(k, value);
    if (problem) return problem;
    bytes += k.length + utf8Bytes(value);
  }
  if (bytes > ATTRS_BYTES_MAX) return `attributes take more than ${ATTRS_BYTES_MAX} bytes`;
  return null;
}

/** A copy of `v` as FileAttrs, keys in ascending order; throws Error(problem) when invalid. */
export function checkedAttrs(v: unknown): FileAttrs {
  const problem = attrsProblem(v);
  if (problem) throw new Error(problem);
  const src = v as FileAttrs;
  const out: FileAttrs = {};
  for (const k of Object.keys(src).sort()) out[k] = src[k]!;
  return out;
}

/** The flat, key-ordered form: [k1, v1, k2, v2, …]. */
export function attrsToValue(attrs: FileAttrs): string[] {
  const out: string[] = [];
  for (const k of Object.keys(attrs).sort()) out.push(k, attrs[k]!);
  return out;
}

/** The map of a flat form; throws Error(problem) unless it is well formed, keys ascending and distinct. */
export function attrsFromValue(v: unknown): FileAttrs {
  if (!Array.isArray(v) || v.length % 2 !== 0) throw new Error('attrs must be a flat array of [key, value] pairs');
  const out: FileAttrs = {};
  let prev: string | null = null;
  for (let i = 0; i < v.length; i += 2) {
    const k: unknown = v[i];
    const value: unknown = v[i + 1];
    if (typeof k !== 'string' || typeof value !== 'string') throw new Error('attrs keys and values must be strings');
    if (prev !== null && k <= prev) throw new Error('attrs keys must be distinct and in ascending order');
    prev = k;
    out[k] = value;
  }
  const problem = attrsProblem(out);
  if (problem) throw new Error(problem);
  return out;
}

/** True when `attrs` holds no attribute (absent or empty). */
export function noAttrs(attrs: FileAttrs | undefined): boolean {
  return attrs === undefined || Object.keys(attrs).length === 0;
}

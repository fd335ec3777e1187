/**
 * How the namespace lives in the ordered key-value state (LMDB): inode based, as HDFS and
 * JuiceFS keep it, so memory use does not grow with the namespace and renaming a whole directory
 * rewrites one key.
 *
 *   i/<inode>              → inode record: [0, mtime] for a directory,
 *                            [1, mtime, size, etag, [[chunkId, size, crc], …], attrs?] for a file in chunks,
 *                            [2, mtime, size, etag, bytes, crc, attrs?] for an inline file (its bytes here);
 *                            attrs (proto/file-attrs.ts flat form) only when the file has some,
 *                            so records written before attributes existed decode unchanged
 *   e/<parent>/<name>      → dentry [inode, type (0 dir, 1 file)]; a directory lists by ONE range
 *                            scan of e/<parent>/ in name order (UTF-8 byte order = code points)
 *   c/<chunkId>            → the inodes of the live files whose chunk lists hold it: one inode as
 *                            a number, or an ascending array of two or more (server-side copies
 *                            share chunks; chunk-refs.ts). Absent once no file holds it — the
 *                            reverse index for garbage collection: "is this chunk referenced?"
 *   m/next-inode           → next inode number to hand out (absent: FIRST_FREE_INODE)
 *   m/inline               → [bytes, files]: every inline file of the namespace together
 *                            (absent: [0, 0]); changed in the same apply as the files
 *   s/, r/, u/, m/sessions → exactly-once sessions (session.ts)
 *
 * <inode> is INODE_HEX_WIDTH lowercase hex digits, fixed width, so "e/<p>/" of one directory is
 * never a prefix of another's. The root is ROOT_INODE; its record may be absent (a fresh store),
 * which reads as a directory with mtime 0. Keys stay far below STATE_KEY_BYTES_MAX: the longest is
 * 'e/' + 14 + '/' + 255-byte name = 272 bytes.
 *
 * Other prefixes are free for the cluster map (server registry, ring) added later.
 */
import type { ChunkRef } from '../proto/meta-fields.js';
import { attrsFromValue, attrsToValue, noAttrs, type FileAttrs } from '../proto/file-attrs.js';
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';

/** The transaction the namespace machine runs in (storage's LmdbStateStore.applyBatch view provides it). */
export interface MetaTxn extends MetaReadView {
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
}

/** Reads of committed state (or of a transaction, seeing its own writes). */
export interface MetaReadView {
  get(key: string): Uint8Array | undefined;
  /** Pairs with start <= key < end in key order, at most `limit`, lazily. */
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
}

export type NodeType = 'file' | 'dir';

export type { ChunkRef };

/** An inline file's bytes (all of them; their length is the file's size) and their CRC-32C. */
export interface InlineData {
  data: Uint8Array;
  crc: number;
}

export type InodeRecord =
  | { type: 'dir'; mtime: number }
  | { type: 'file'; mtime: number; size: number; etag: string; chunks: ChunkRef[]; inline?: InlineData; attrs?: FileAttrs };

export type { FileAttrs };

export interface Dentry {
  inode: number;
  type: NodeType;
}

export const ROOT_INODE = 1;
export const FIRST_FREE_INODE = 2;
export const INODE_HEX_WIDTH = 14; // 14 hex digits hold every safe integer (< 2^53)

export const INODE_PREFIX = 'i/';
export const DENTRY_PREFIX = 'e/';
export const CHUNK_PREFIX = 'c/';
export const NEXT_INODE_KEY = 'm/next-inode';
export const INLINE_USAGE_KEY = 'm/inline';

export function hex(n: number): string {
  return n.toString(16).padStart(INODE_HEX_WIDTH, '0');
}

export function inodeKey(inode: number): string {
  return INODE_PREFIX + hex(inode);
}

/** First key of a directory's dentries; childrenEnd() is the first key after them. */
export function childrenStart(dir: number): string {
  return `${DENTRY_PREFIX}${hex(dir)}/`;
}

export function childrenEnd(dir: number): string {
  return `${DENTRY_PREFIX}${hex(dir)}0`; // '0' is the byte after '/'
}

export function dentryKey(dir: number, name: string): string {
  return childrenStart(dir) + name;
}

/** The smallest key after dentryKey(dir, name): resume a listing after `name`. */
export function dentryKeyAfter(dir: number, name: string): string {
  return `${dentryKey(dir, name)}\u0000`;
}

export function nameOfDentryKey(key: string): string {
  return key.slice(DENTRY_PREFIX.length + INODE_HEX_WIDTH + 1);
}

export function chunkKey(id: string): string {
  return CHUNK_PREFIX + id;
}

export function encodeInode(rec: InodeRecord): Uint8Array {
  if (rec.type === 'dir') return pack([0, rec.mtime]);
  const tail = noAttrs(rec.attrs) ? [] : [attrsToValue(rec.attrs!)];
  if (rec.inline) return pack([2, rec.mtime, rec.size, rec.etag, rec.inline.data, rec.inline.crc, ...tail]);
  return pack([1, rec.mtime, rec.size, rec.etag, rec.chunks.map((c) => [c.id, c.size, c.crc]), ...tail]);
}

/** Decode a stored inode record; a malformed one is Corrupt (we wrote it, so it is damage or a bug). */
export function decodeInode(bytes: Uint8Array): InodeRecord {
  const v = unpack(bytes);
  if (Array.isArray(v) && v[0] === 0 && v.length === 2 && typeof v[1] === 'number') return { type: 'dir', mtime: v[1] };
  if (Array.isArray(v) && v[0] === 1 && (v.length === 5 || v.length === 6) && Array.isArray(v[4])) {
    const [, mtime, size, etag, chunks] = v as [number, number, number, string, Array<[string, number, number]>];
    const rec: InodeRecord = { type: 'file', mtime, size, etag, chunks: chunks.map(([id, sz, crc]) => ({ id, size: sz, crc })) };
    if (v.length === 6) rec.attrs = storedAttrs(v[5]);
    return rec;
  }
  if (Array.isArray(v) && v[0] === 2 && (v.length === 6 || v.length === 7) && v[4] instanceof Uint8Array && v[4].length === v[2] && typeof v[5] === 'number') {
    const [, mtime, size, etag, data, crc] = v as [number, number, number, string, Uint8Array, number];
    const rec: InodeRecord = { type: 'file', mtime, size, etag, chunks: [], inline: { data, crc } };
    if (v.length === 7) rec.attrs = storedAttrs(v[6]);
    return rec;
  }
  throw new CairnError('Corrupt', 'namespace: malformed inode record');
}

function storedAttrs(v: unknown): FileAttrs {
  try {
    return attrsFromValue(v);
  } catch (e) {
    throw new CairnError('Corrupt', `namespace: malformed attributes in an inode record (${(e as Error).message})`);
  }
}

/** Every inline file of the namespace together (INLINE_USAGE_KEY). */
export interface InlineUsage {
  bytes: number;
  files: number;
}

export function encodeInlineUsage(u: InlineUsage): Uint8Array {
  return pack([u.bytes, u.files]);
}

export function decodeInlineUsage(bytes: Uint8Array): InlineUsage {
  const v = unpack(bytes);
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new CairnError('Corrupt', 'namespace: malformed inline usage record');
  }
  return { bytes: v[0] as number, files: v[1] as number };
}

export function encodeDentry(d: Dentry): Uint8Array {
  return pack([d.inode, d.type === 'dir' ? 0 : 1]);
}

export function decodeDentry(bytes: Uint8Array): Dentry {
  const v = unpack(bytes);
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || (v[1] !== 0 && v[1] !== 1)) {
    throw new CairnError('Corrupt', 'namespace: malformed dentry');
  }
  return { inode: v[0], type: v[1] === 0 ? 'dir' : 'file' };
}

export function encodeNumber(n: number): Uint8Array {
  return pack(n);
}

export function decodeNumber(bytes: Uint8Array): number {
  const v = unpack(bytes);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CairnError('Corrupt', 'namespace: malformed number');
  return v;
}

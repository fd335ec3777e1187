/**
 * How the namespace lives in the ordered key-value state (LMDB): inode based, as HDFS and
 * JuiceFS keep it, so memory use does not grow with the namespace and renaming a whole directory
 * rewrites one key.
 *
 *   i/<inode>              → inode record: [0, mtime] for a directory,
 *                            [1, mtime, size, etag, [[chunkId, size, crc], …], attrs?] for a file in chunks,
 *                            [2, mtime, size, etag, bytes, crc, attrs?] for an inline file (its bytes here),
 *                            [3, mtime, size, etag, tail, crc, attrs?] for an inline file whose first
 *                            bytes are at b/<inode> (its bytes = those + tail; see splitInline);
 *                            attrs (proto/file-attrs.ts flat form) only when the file has some,
 *                            so records written before attributes existed decode unchanged
 *   b/<inode>              → the head of a split inline file's bytes, raw
 *   t/<inode>              → (empty) a removed directory whose entries are still being deleted
 *                            (namespace-trash.ts)
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
export const INLINE_HEAD_PREFIX = 'b/';

/** Two hex digits of every byte value. */
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * `n` as INODE_HEX_WIDTH hex digits (keys sort as numbers). Built from a byte table: ~70 ns
 * against ~480 for toString(16) + padStart, and a metadata server makes ~10 per command it applies
 * (keys of inodes, directories, session outcomes). Anything but a non-negative safe integer takes
 * the general formula, whose result this equals on that domain.
 */
export function hex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) return n.toString(16).padStart(INODE_HEX_WIDTH, '0');
  const hi = Math.floor(n / 2 ** 32); // < 2^21: three bytes
  const lo = n >>> 0;
  return BYTE_HEX[hi >>> 16]! + BYTE_HEX[(hi >>> 8) & 255]! + BYTE_HEX[hi & 255]! + BYTE_HEX[lo >>> 24]! + BYTE_HEX[(lo >>> 16) & 255]! + BYTE_HEX[(lo >>> 8) & 255]! + BYTE_HEX[lo & 255]!;
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

export function inlineHeadKey(inode: number): string {
  return INLINE_HEAD_PREFIX + hex(inode);
}

/**
 * LMDB keeps a value larger than about half a page on overflow pages of its own: whole pages,
 * the first with a header (24 bytes in lmdb-js's LMDB; test/unit/storage/lmdb-overflow.test.ts
 * checks it). An inline file's record with its bytes would so take one page more than the bytes
 * need — two 4 KiB pages for a 4 KiB file (bench/RESULTS.md, fifteenth session). splitInline
 * cuts the bytes where those pages end: the head fills whole pages exactly (k × 4096 − 24 bytes)
 * under b/<inode>, and the small rest travels in the record, which stays in a leaf page with the
 * namespace's other keys. Fixed constants, not the environment's page size: every replica must
 * write the same pairs for the same command.
 */
export const LMDB_PAGE_BYTES = 4096;
export const LMDB_OVERFLOW_HEADER_BYTES = 24;
/** Largest rest kept in the record: the record must still fit a 4 KiB leaf page's half. */
const INLINE_TAIL_BYTES_MAX = 1024;

/** Where an inline file's bytes are cut (the head's length), or 0 to keep them whole in the record. */
export function splitInline(size: number): number {
  const pages = Math.floor((size + LMDB_OVERFLOW_HEADER_BYTES) / LMDB_PAGE_BYTES);
  if (pages === 0) return 0;
  const head = pages * LMDB_PAGE_BYTES - LMDB_OVERFLOW_HEADER_BYTES;
  return size - head <= INLINE_TAIL_BYTES_MAX ? head : 0;
}

export function chunkKey(id: string): string {
  return CHUNK_PREFIX + id;
}

/**
 * The pairs that store an inode: its record, and for an inline file cut by splitInline the head
 * of its bytes (`head`, to put at inlineHeadKey). The bytes are not copied: the head is a view.
 */
export function encodeInode(rec: InodeRecord): { record: Uint8Array; head?: Uint8Array } {
  if (rec.type === 'dir') return { record: pack([0, rec.mtime]) };
  const attrs = noAttrs(rec.attrs) ? [] : [attrsToValue(rec.attrs!)];
  if (rec.inline) {
    const { data, crc } = rec.inline;
    const cut = splitInline(data.length);
    if (cut === 0) return { record: pack([2, rec.mtime, rec.size, rec.etag, data, crc, ...attrs]) };
    return { record: pack([3, rec.mtime, rec.size, rec.etag, data.subarray(cut), crc, ...attrs]), head: data.subarray(0, cut) };
  }
  return { record: pack([1, rec.mtime, rec.size, rec.etag, rec.chunks.map((c) => [c.id, c.size, c.crc]), ...attrs]) };
}

/** What a listing or a count needs of an inode, without an inline file's bytes. */
export interface InodeSummary {
  type: NodeType;
  mtime: number;
  size: number;
  inline: boolean;
}

/** The summary of a stored inode record (Corrupt when malformed, as decodeInode). */
export function summarizeInode(bytes: Uint8Array): InodeSummary {
  const v = unpack(bytes);
  if (Array.isArray(v) && v[0] === 0 && v.length === 2 && typeof v[1] === 'number') return { type: 'dir', mtime: v[1], size: 0, inline: false };
  if (Array.isArray(v) && (v[0] === 1 || v[0] === 2 || v[0] === 3) && v.length >= 5 && typeof v[1] === 'number' && Number.isSafeInteger(v[2]) && v[2] >= 0) {
    return { type: 'file', mtime: v[1], size: v[2] as number, inline: v[0] !== 1 };
  }
  throw new CairnError('Corrupt', 'namespace: malformed inode record');
}

/**
 * Decode a stored inode record; a malformed one is Corrupt (we wrote it, so it is damage or a bug).
 * `head` reads the first bytes of a split inline file (the pair at inlineHeadKey).
 */
export function decodeInode(bytes: Uint8Array, head: () => Uint8Array | undefined): InodeRecord {
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
  if (Array.isArray(v) && v[0] === 3 && (v.length === 6 || v.length === 7) && v[4] instanceof Uint8Array && typeof v[5] === 'number') {
    const [, mtime, size, etag, tail, crc] = v as [number, number, number, string, Uint8Array, number];
    const first = head();
    if (first === undefined || first.length + tail.length !== size || first.length !== splitInline(size)) {
      throw new CairnError('Corrupt', `namespace: an inline file of ${size} bytes has ${first === undefined ? 'no' : `${first.length} bytes of`} head`);
    }
    const data = Buffer.allocUnsafe(size);
    data.set(first, 0);
    data.set(tail, first.length);
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

/**
 * The reverse chunk index `c/<chunkId>` → the inodes of the live files whose chunk lists hold
 * the chunk. A server-side copy (fs.copy) shares its source's chunks, so one chunk may belong to
 * several files; it is garbage only once the last of them is gone (rm, overwrite).
 *
 * Value: one inode as a msgpack number (the form every store written before copies existed
 * holds, and still the form for a chunk of one file), or a msgpack array of two or more inodes
 * in ascending order. Both forms decode; the key is absent when no file references the chunk,
 * so "is this chunk referenced?" stays one `get(c/<id>) !== undefined` (repair loop, cluster
 * status and admin read it that way).
 */
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import { chunkKey, type MetaReadView, type MetaTxn } from './namespace-keys.js';

/** Decode a reverse-index value: the referencing inodes, ascending. */
export function decodeChunkRefs(bytes: Uint8Array): number[] {
  const v = unpack(bytes);
  const isInode = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (isInode(v)) return [v];
  if (Array.isArray(v) && v.length >= 2 && v.every(isInode)) return v;
  throw new CairnError('Corrupt', 'namespace: malformed chunk reference record');
}

/** Encode the referencing inodes (at least one; any order, no duplicates). */
export function encodeChunkRefs(inodes: readonly number[]): Uint8Array {
  if (inodes.length === 1) return pack(inodes[0]);
  return pack([...inodes].sort((a, b) => a - b));
}

/** The inodes of the live files holding chunk `id` ([] when it is garbage). */
export function chunkRefs(view: Pick<MetaReadView, 'get'>, id: string): number[] {
  const v = view.get(chunkKey(id));
  return v ? decodeChunkRefs(v) : [];
}

/** File `inode` now holds chunk `id` (idempotent). */
export function addChunkRef(txn: MetaTxn, id: string, inode: number): void {
  addChunkRefTo(txn, id, inode, chunkRefs(txn, id));
}

/** addChunkRef when the caller has just read the chunk's `refs` in this transaction. */
export function addChunkRefTo(txn: MetaTxn, id: string, inode: number, refs: readonly number[]): void {
  if (refs.includes(inode)) return;
  txn.put(chunkKey(id), encodeChunkRefs([...refs, inode]));
}

/** File `inode` no longer holds chunk `id`; the key goes with the last reference (the chunk is garbage). */
export function dropChunkRef(txn: MetaTxn, id: string, inode: number): void {
  const refs = chunkRefs(txn, id);
  const rest = refs.filter((r) => r !== inode);
  if (rest.length === refs.length) return;
  if (rest.length === 0) txn.del(chunkKey(id));
  else txn.put(chunkKey(id), encodeChunkRefs(rest));
}

/**
 * The namespace: directories and files over the inode layout of namespace-keys.ts. Pure and
 * synchronous; mutations run inside the transaction the caller passes (one Raft entry = one
 * consistent change), reads against any view of committed state.
 *
 * Contracts:
 *   - Operating errors are returned, never thrown: { ok: false, code, message } with code
 *     NotFound, AlreadyExists, NotADirectory, IsADirectory, NotEmpty, InvalidPath or
 *     InvalidArgument. Thrown errors are bugs or a corrupt store (the caller's batch aborts).
 *   - Every mutation checks everything BEFORE its first write, so a failed operation writes
 *     nothing (the batch it shares with other entries still commits).
 *   - Path resolution: each component but the last must exist (else NotFound) and be a directory
 *     (else NotADirectory), as POSIX path lookup.
 *   - Times are the leader-stamped `mtime` carried by the command; a directory's mtime changes
 *     when an entry is added to or removed from it (create, delete, rename), not when a file in
 *     it is overwritten.
 *   - list() of a file returns that one file (as `ls FILE` does), with no cursor.
 *   - Recursive delete removes a whole subtree in one entry: its cost grows with the subtree
 *     (as HDFS delete), paging through each directory so the transaction's reads stay cheap.
 */
import { LIST_LIMIT_DEFAULT } from '../config/defaults.js';
import type { ErrorCode } from '../util/errors.js';
import {
  ROOT_INODE,
  FIRST_FREE_INODE,
  NEXT_INODE_KEY,
  INLINE_USAGE_KEY,
  childrenEnd,
  childrenStart,
  decodeDentry,
  decodeInlineUsage,
  decodeInode,
  decodeNumber,
  dentryKey,
  dentryKeyAfter,
  encodeDentry,
  encodeInlineUsage,
  encodeInode,
  encodeNumber,
  inlineHeadKey,
  inodeKey,
  nameOfDentryKey,
  summarizeInode,
  type ChunkRef,
  type Dentry,
  type FileAttrs,
  type InlineData,
  type InlineUsage,
  type InodeRecord,
  type InodeSummary,
  type MetaReadView,
  type MetaTxn,
  type NodeType,
} from './namespace-keys.js';
import { PATH_BYTES_MAX, PATH_DEPTH_MAX, isSameOrBelow, joinPath, nameProblem, quote, utf8Bytes } from '../proto/path.js';
import { attrsProblem, checkedAttrs, noAttrs } from '../proto/file-attrs.js';
import { addChunkRef, addChunkRefTo, chunkRefs, dropChunkRef } from './chunk-refs.js';
import { deleteTree } from './namespace-trash.js';

export type { InlineUsage };
export type Fail = { ok: false; code: ErrorCode; message: string };
export type Outcome<T extends object = object> = ({ ok: true } & T) | Fail;

/**
 * The content a commit makes visible: chunks whose sizes add up to `size`, or (`inline`) no
 * chunks and the file's `size` bytes themselves, kept in its inode record.
 */
export interface FileContent {
  size: number;
  etag: string;
  chunks: ChunkRef[];
  inline?: InlineData;
  /** The file's attributes (proto/file-attrs.ts); absent or {}: none. */
  attrs?: FileAttrs;
}

export interface StatInfo {
  type: NodeType;
  /** Bytes for a file, 0 for a directory. */
  size: number;
  mtime: number;
  /** null for a directory. */
  etag: string | null;
  /** [] for a directory and for an inline file. */
  chunks: ChunkRef[];
  /** An inline file's bytes and CRC-32C (absent for chunked files and directories). */
  inline?: InlineData;
  /** A file's attributes; absent when it has none and for a directory. */
  attrs?: FileAttrs;
}

export interface ListEntry {
  name: string;
  type: NodeType;
  size: number;
  mtime: number;
}

export interface WalkEntry extends ListEntry {
  /** Absolute path. */
  path: string;
}

export interface PageOptions {
  /** Entries per page, 1..LIST_LIMIT_MAX. @default LIST_LIMIT_DEFAULT */
  limit?: number;
  /** The `cursor` of the previous page; absent or null for the first page. */
  cursor?: string | null;
}

export const LIST_LIMIT_MAX = 10_000;
export { LIST_LIMIT_DEFAULT };
/** A walk cursor is a relative path; renames may nest deeper than PATH_BYTES_MAX, so allow more. */
export const WALK_CURSOR_BYTES_MAX = 16 * PATH_BYTES_MAX;

const fail = (code: ErrorCode, message: string): Fail => ({ ok: false, code, message });

type Found = { ok: true; inode: number; type: NodeType };

/** Resolve a path (segments) to its inode; see the file comment for the errors. */
function lookup(view: MetaReadView, segs: readonly string[], upTo = segs.length): Found | Fail {
  let cur = ROOT_INODE;
  let type: NodeType = 'dir';
  for (let i = 0; i < upTo; i++) {
    if (type !== 'dir') return fail('NotADirectory', `not a directory: ${quote(joinPath(segs.slice(0, i)))}`);
    const d = getDentry(view, cur, segs[i]!);
    if (!d) return fail('NotFound', `no such file or directory: ${quote(joinPath(segs.slice(0, i + 1)))}`);
    cur = d.inode;
    type = d.type;
  }
  return { ok: true, inode: cur, type };
}

/** Resolve the parent of the last segment, which must be a directory. */
function lookupParent(view: MetaReadView, segs: readonly string[]): Found | Fail {
  const p = lookup(view, segs, segs.length - 1);
  if (p.ok && p.type !== 'dir') return fail('NotADirectory', `not a directory: ${quote(joinPath(segs.slice(0, -1)))}`);
  return p;
}

function getDentry(view: MetaReadView, dir: number, name: string): Dentry | undefined {
  const v = view.get(dentryKey(dir, name));
  return v ? decodeDentry(v) : undefined;
}

function getInode(view: MetaReadView, inode: number): InodeRecord {
  const v = view.get(inodeKey(inode));
  if (v) return decodeInode(v, () => view.get(inlineHeadKey(inode)));
  if (inode === ROOT_INODE) return { type: 'dir', mtime: 0 };
  throw new Error(`namespace: dentry points at missing inode ${inode}`);
}

/** An inode without an inline file's bytes (listings). */
function getInodeSummary(view: MetaReadView, inode: number): InodeSummary {
  const v = view.get(inodeKey(inode));
  if (v) return summarizeInode(v);
  if (inode === ROOT_INODE) return { type: 'dir', mtime: 0, size: 0, inline: false };
  throw new Error(`namespace: dentry points at missing inode ${inode}`);
}

/**
 * Store an inode: its record, and the head of a split inline file's bytes. `replaced`: the
 * record this one overwrites, whose stored head (an inline file's) must not outlive it.
 */
function putInode(txn: MetaTxn, inode: number, rec: InodeRecord, replaced?: InodeRecord): void {
  const { record, head } = encodeInode(rec);
  if (head) txn.put(inlineHeadKey(inode), head);
  else if (replaced?.type === 'file' && replaced.inline) txn.del(inlineHeadKey(inode));
  txn.put(inodeKey(inode), record);
}

function allocInode(txn: MetaTxn): number {
  const v = txn.get(NEXT_INODE_KEY);
  const next = v ? decodeNumber(v) : FIRST_FREE_INODE;
  txn.put(NEXT_INODE_KEY, encodeNumber(next + 1));
  return next;
}

function touchDir(txn: MetaTxn, dir: number, mtime: number): void {
  putInode(txn, dir, { type: 'dir', mtime });
}

function hasChildren(view: MetaReadView, dir: number): boolean {
  for (const _ of view.range(childrenStart(dir), childrenEnd(dir), 1)) return true;
  return false;
}

/** Create directories segs[from..] under `parent` (which exists); returns the last one's inode. */
function createDirs(txn: MetaTxn, parent: number, segs: readonly string[], from: number, mtime: number): number {
  let cur = parent;
  touchDir(txn, cur, mtime);
  for (let i = from; i < segs.length; i++) {
    const ino = allocInode(txn);
    putInode(txn, ino, { type: 'dir', mtime });
    txn.put(dentryKey(cur, segs[i]!), encodeDentry({ inode: ino, type: 'dir' }));
    cur = ino;
  }
  return cur;
}

/** mkdir; with `parents` (mkdir -p) missing ancestors are created and an existing directory is fine. */
export function mkdir(txn: MetaTxn, segs: readonly string[], parents: boolean, mtime: number): Outcome {
  const path = joinPath(segs);
  let cur = ROOT_INODE;
  for (let i = 0; i < segs.length; i++) {
    const d = getDentry(txn, cur, segs[i]!);
    const last = i === segs.length - 1;
    if (!d) {
      if (!last && !parents) return fail('NotFound', `no such file or directory: ${quote(joinPath(segs.slice(0, i + 1)))}`);
      createDirs(txn, cur, segs, i, mtime);
      return { ok: true };
    }
    if (d.type !== 'dir') {
      return last ? fail('AlreadyExists', `file exists: ${quote(path)}`) : fail('NotADirectory', `not a directory: ${quote(joinPath(segs.slice(0, i + 1)))}`);
    }
    cur = d.inode;
  }
  return parents ? { ok: true } : fail('AlreadyExists', `directory exists: ${quote(path)}`);
}

/** Every inline file of the namespace together (bytes and count). */
export function inlineUsage(view: Pick<MetaReadView, 'get'>): InlineUsage {
  const v = view.get(INLINE_USAGE_KEY);
  return v ? decodeInlineUsage(v) : { bytes: 0, files: 0 };
}

function addInlineUsage(txn: MetaTxn, bytes: number, files: number): void {
  if (bytes === 0 && files === 0) return;
  const u = inlineUsage(txn);
  txn.put(INLINE_USAGE_KEY, encodeInlineUsage({ bytes: u.bytes + bytes, files: u.files + files }));
}

/**
 * Make `content` visible at the path in one step. An existing file (chunked or inline) is
 * replaced atomically when `overwrite`, else AlreadyExists; a directory there is IsADirectory.
 * With `createParents` missing ancestors are created (mkdir -p), else NotFound. The file is
 * added to the reverse index of each of its chunks (chunk-refs.ts) and the replaced file is
 * dropped from those of its other chunks, which become garbage when no other file holds them.
 * Whether the chunks may be claimed at all is the caller's rule: a client's commit passes
 * `refuseForeignChunks`: a chunk no live file holds, or that the file it replaces holds (a rewrite
 * may keep its own chunks), may be claimed; the first one another file holds is InvalidArgument.
 * That refusal outranks a problem of the content, while a path the commit fails for anyway
 * reports its own error. A server-side copy shares its source's chunks on purpose. The check
 * reuses this call's walk and each chunk's reference read (it was a separate read-only pass).
 * The file's attributes are content.attrs (an overwrite replaces the old file's; a rename keeps them).
 * Inline content is InlineRefused when the namespace's inline bytes, less the replaced file's,
 * would exceed `inlineTotalBytesMax` (stamped into the command by the leader, so every replica
 * decides alike).
 */
export function commitFile(
  txn: MetaTxn,
  segs: readonly string[],
  content: FileContent,
  overwrite: boolean,
  createParents: boolean,
  mtime: number,
  inlineTotalBytesMax = Number.MAX_SAFE_INTEGER,
  refuseForeignChunks = false,
): Outcome {
  const path = joinPath(segs);
  if (segs.length === 0) return fail('IsADirectory', 'is a directory: "/"');
  const problem = contentProblem(content);
  // The foreign-chunk refusal comes before the content's problems (its outcome since it was a
  // separate check), so with it the walk comes first.
  if (problem && !refuseForeignChunks) return fail('InvalidArgument', `${problem} (${quote(path)})`);
  // Read-only walk to the parent; `missingFrom` is the first ancestor segment that is absent.
  let parent = ROOT_INODE;
  let missingFrom = -1;
  let walkFailed: Fail | null = null;
  for (let i = 0; i < segs.length - 1; i++) {
    const d = getDentry(txn, parent, segs[i]!);
    if (!d) {
      if (!createParents) walkFailed = fail('NotFound', `no such file or directory: ${quote(joinPath(segs.slice(0, i + 1)))}`);
      else missingFrom = i;
      break;
    }
    if (d.type !== 'dir') {
      walkFailed = fail('NotADirectory', `not a directory: ${quote(joinPath(segs.slice(0, i + 1)))}`);
      break;
    }
    parent = d.inode;
  }
  const name = segs[segs.length - 1]!;
  const existing = walkFailed === null && missingFrom < 0 ? getDentry(txn, parent, name) : undefined;
  // Each chunk's references as read for the check, reused when the file is added to them.
  let refsRead: Map<string, readonly number[]> | null = null;
  if (refuseForeignChunks && content.chunks.length > 0 && walkFailed === null && existing?.type !== 'dir' && !(existing && !overwrite)) {
    refsRead = new Map();
    for (const c of content.chunks) {
      const refs = chunkRefs(txn, c.id);
      if (refs.length > 0 && (existing === undefined || !refs.includes(existing.inode))) return fail('InvalidArgument', `chunk ${c.id} already belongs to another file`);
      refsRead.set(c.id, refs);
    }
  }
  if (problem) return fail('InvalidArgument', `${problem} (${quote(path)})`);
  if (walkFailed) return walkFailed;
  if (existing?.type === 'dir') return fail('IsADirectory', `is a directory: ${quote(path)}`);
  if (existing && !overwrite) return fail('AlreadyExists', `file exists: ${quote(path)}`);
  const old = existing ? getInode(txn, existing.inode) : undefined;
  const freed = old?.type === 'file' && old.inline ? old.size : 0;
  const freedFiles = old?.type === 'file' && old.inline ? 1 : 0;
  if (content.inline) {
    const used = inlineUsage(txn).bytes;
    if (used - freed + content.size > inlineTotalBytesMax) {
      return fail('InlineRefused', `inline files would exceed the cluster's cap of ${inlineTotalBytesMax} bytes (${used} used; ${quote(path)})`);
    }
  }
  // Checks done: write.
  const record: InodeRecord = { type: 'file', mtime, size: content.size, etag: content.etag, chunks: content.chunks.map((c) => ({ ...c })) };
  if (content.inline) record.inline = { data: content.inline.data, crc: content.inline.crc };
  if (!noAttrs(content.attrs)) record.attrs = checkedAttrs(content.attrs);
  addInlineUsage(txn, (content.inline ? content.size : 0) - freed, (content.inline ? 1 : 0) - freedFiles);
  if (existing && old) {
    const keep = new Set(content.chunks.map((c) => c.id));
    if (old.type === 'file') for (const c of old.chunks) if (!keep.has(c.id)) dropChunkRef(txn, c.id, existing.inode);
    putInode(txn, existing.inode, record, old);
    for (const c of content.chunks) addRefOnce(txn, refsRead, c.id, existing.inode);
    return { ok: true };
  }
  if (missingFrom >= 0) parent = createDirs(txn, parent, segs.slice(0, -1), missingFrom, mtime);
  else touchDir(txn, parent, mtime);
  const ino = allocInode(txn);
  putInode(txn, ino, record);
  txn.put(dentryKey(parent, name), encodeDentry({ inode: ino, type: 'file' }));
  for (const c of content.chunks) addRefOnce(txn, refsRead, c.id, ino);
  return { ok: true };
}

/** addChunkRef, the first time for an id from `refsRead` (read earlier in the same command); a repeated id reads what it wrote. */
function addRefOnce(txn: MetaTxn, refsRead: Map<string, readonly number[]> | null, id: string, inode: number): void {
  const refs = refsRead?.get(id);
  if (refs === undefined) return addChunkRef(txn, id, inode);
  refsRead!.delete(id);
  addChunkRefTo(txn, id, inode, refs);
}

/** Delete a file, an empty directory, or (recursive) a whole directory tree. "/" is refused. */
export function remove(txn: MetaTxn, segs: readonly string[], recursive: boolean, mtime: number): Outcome {
  if (segs.length === 0) return fail('InvalidArgument', 'refusing to delete "/"');
  const parent = lookupParent(txn, segs);
  if (!parent.ok) return parent;
  const name = segs[segs.length - 1]!;
  const d = getDentry(txn, parent.inode, name);
  if (!d) return fail('NotFound', `no such file or directory: ${quote(joinPath(segs))}`);
  if (d.type === 'dir' && !recursive && hasChildren(txn, d.inode)) return fail('NotEmpty', `directory not empty: ${quote(joinPath(segs))}`);
  txn.del(dentryKey(parent.inode, name));
  touchDir(txn, parent.inode, mtime);
  if (d.type === 'file') removeFileInode(txn, d.inode);
  else deleteTree(txn, d.inode, removeFileInode);
  return { ok: true };
}

/** Delete a file's inode record with its inline bytes, its chunk references and its share of the inline count. */
export function removeFileInode(txn: MetaTxn, inode: number): void {
  // An inline file needs only its summary: its bytes are deleted, not read (a purge removes thousands).
  const sum = getInodeSummary(txn, inode);
  if (sum.inline) {
    addInlineUsage(txn, -sum.size, -1);
    txn.del(inlineHeadKey(inode));
  } else {
    const rec = getInode(txn, inode);
    if (rec.type === 'file') for (const c of rec.chunks) dropChunkRef(txn, c.id, inode);
  }
  txn.del(inodeKey(inode));
}

/**
 * Rename (move) a file or a whole directory, atomically, by moving one dentry. The destination
 * must not exist (AlreadyExists; renaming a path onto itself is a successful no-op) and its parent
 * must be an existing directory. Moving "/" or a directory into itself or below itself is
 * InvalidArgument. A directory whose move would put any path below it over PATH_DEPTH_MAX
 * segments or PATH_BYTES_MAX bytes is InvalidPath: every path the namespace holds stays one a
 * client can name (and `ls -R` can walk).
 */
export function rename(txn: MetaTxn, from: readonly string[], to: readonly string[], mtime: number): Outcome {
  if (from.length === 0) {
    return to.length === 0 ? { ok: true } : fail('InvalidArgument', 'cannot move "/"');
  }
  const srcParent = lookupParent(txn, from);
  if (!srcParent.ok) return srcParent;
  const srcName = from[from.length - 1]!;
  const src = getDentry(txn, srcParent.inode, srcName);
  if (!src) return fail('NotFound', `no such file or directory: ${quote(joinPath(from))}`);
  if (isSameOrBelow(from, to) && from.length === to.length) return { ok: true };
  if (src.type === 'dir' && isSameOrBelow(from, to)) {
    return fail('InvalidArgument', `cannot move ${quote(joinPath(from))} into itself (${quote(joinPath(to))})`);
  }
  if (to.length === 0) return fail('AlreadyExists', 'destination exists: "/"');
  const dstParent = lookupParent(txn, to);
  if (!dstParent.ok) return dstParent;
  const dstName = to[to.length - 1]!;
  if (getDentry(txn, dstParent.inode, dstName)) return fail('AlreadyExists', `destination exists: ${quote(joinPath(to))}`);
  // Only a move to a deeper or longer path can take paths below it over the limits.
  if (src.type === 'dir' && (to.length > from.length || pathBytes(to) > pathBytes(from))) {
    const problem = subtreeOverLimits(txn, src.inode, PATH_DEPTH_MAX - to.length, PATH_BYTES_MAX - pathBytes(to));
    if (problem) return fail('InvalidPath', `moving ${quote(joinPath(from))} to ${quote(joinPath(to))} would make ${problem}`);
  }
  txn.del(dentryKey(srcParent.inode, srcName));
  txn.put(dentryKey(dstParent.inode, dstName), encodeDentry(src));
  touchDir(txn, srcParent.inode, mtime);
  if (dstParent.inode !== srcParent.inode) touchDir(txn, dstParent.inode, mtime);
  return { ok: true };
}

/** UTF-8 bytes of the path of `segs` ("/a/b": 4). */
function pathBytes(segs: readonly string[]): number {
  let n = 0;
  for (const s of segs) n += 1 + utf8Bytes(s);
  return Math.max(n, 1);
}

/**
 * Whether some entry below directory `dir` lies more than `depthLeft` segments or `bytesLeft`
 * bytes ("/name" per segment) below it: a description of the first such path, or null. Visits
 * each entry of the subtree at most once (as `rm -r` does) and stops at the first one over.
 */
function subtreeOverLimits(view: MetaReadView, dir: number, depthLeft: number, bytesLeft: number): string | null {
  const stack = [{ inode: dir, depthLeft, bytesLeft }];
  while (stack.length > 0) {
    const top = stack.pop()!;
    for (const [key, value] of view.range(childrenStart(top.inode), childrenEnd(top.inode))) {
      const d = decodeDentry(value);
      const child = { inode: d.inode, depthLeft: top.depthLeft - 1, bytesLeft: top.bytesLeft - 1 - utf8Bytes(nameOfDentryKey(key)) };
      if (child.depthLeft < 0) return `a path deeper than ${PATH_DEPTH_MAX} segments`;
      if (child.bytesLeft < 0) return `a path longer than ${PATH_BYTES_MAX} bytes`;
      if (d.type === 'dir') stack.push(child);
    }
  }
  return null;
}

export function stat(view: MetaReadView, segs: readonly string[]): Outcome<{ stat: StatInfo }> {
  const found = lookup(view, segs);
  if (!found.ok) return found;
  return { ok: true, stat: statOf(getInode(view, found.inode)) };
}

function statOf(rec: InodeRecord): StatInfo {
  if (rec.type === 'dir') return { type: 'dir', size: 0, mtime: rec.mtime, etag: null, chunks: [] };
  const st: StatInfo = { type: 'file', size: rec.size, mtime: rec.mtime, etag: rec.etag, chunks: rec.chunks.map((c) => ({ ...c })) };
  if (rec.attrs) st.attrs = { ...rec.attrs };
  if (rec.inline) st.inline = rec.inline;
  return st;
}

function entryOf(view: MetaReadView, name: string, d: Dentry): ListEntry {
  const rec = getInodeSummary(view, d.inode);
  return { name, type: rec.type, size: rec.size, mtime: rec.mtime };
}

/** entryOf with its path, added to the fresh entry (a copy by object spread followed by more fields is slow in V8). */
function walkEntryOf(view: MetaReadView, name: string, d: Dentry, path: string): WalkEntry {
  const e = entryOf(view, name, d) as WalkEntry;
  e.path = path;
  return e;
}

function pageLimit(options: PageOptions): number | Fail {
  const limit = options.limit ?? LIST_LIMIT_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) return fail('InvalidArgument', `limit must be 1..${LIST_LIMIT_MAX}`);
  return limit;
}

/**
 * One page of a directory's entries in name order (UTF-8 byte order): at most `limit` entries
 * after `cursor` (the last name of the previous page). `cursor` is null when nothing follows.
 * A file lists as itself. Entries created or removed between pages appear or not as of each page.
 */
export function list(view: MetaReadView, segs: readonly string[], options: PageOptions = {}): Outcome<{ entries: ListEntry[]; cursor: string | null }> {
  const limit = pageLimit(options);
  if (typeof limit !== 'number') return limit;
  const cursor = options.cursor ?? null;
  if (cursor !== null && (typeof cursor !== 'string' || nameProblem(cursor))) return fail('InvalidArgument', 'malformed list cursor');
  const found = lookup(view, segs);
  if (!found.ok) return found;
  if (found.type === 'file') return { ok: true, entries: [entryOf(view, segs[segs.length - 1]!, found)], cursor: null };
  const start = cursor === null ? childrenStart(found.inode) : dentryKeyAfter(found.inode, cursor);
  const entries: ListEntry[] = [];
  let more = false;
  for (const [key, value] of view.range(start, childrenEnd(found.inode), limit + 1)) {
    if (entries.length === limit) {
      more = true;
      break;
    }
    entries.push(entryOf(view, nameOfDentryKey(key), decodeDentry(value)));
  }
  return { ok: true, entries, cursor: more ? entries[entries.length - 1]!.name : null };
}

/**
 * One page of a recursive listing (`ls -R`): every entry below the path in pre-order (a
 * directory, then its contents), names in byte order at each level, with absolute paths. The
 * cursor is the last entry's path relative to the walked directory; if that entry was renamed or
 * deleted between pages the walk continues with what follows its old name. A file walks as itself.
 */
export function walk(view: MetaReadView, segs: readonly string[], options: PageOptions = {}): Outcome<{ entries: WalkEntry[]; cursor: string | null }> {
  const limit = pageLimit(options);
  if (typeof limit !== 'number') return limit;
  const cursor = options.cursor ?? null;
  let cursorSegs: string[] = [];
  if (cursor !== null) {
    if (typeof cursor !== 'string' || cursor.length > WALK_CURSOR_BYTES_MAX) return fail('InvalidArgument', 'malformed walk cursor');
    cursorSegs = cursor.split('/');
    if (cursorSegs.some((s) => nameProblem(s) !== null)) return fail('InvalidArgument', 'malformed walk cursor');
  }
  const found = lookup(view, segs);
  if (!found.ok) return found;
  const rootPath = joinPath(segs);
  if (found.type === 'file') {
    return { ok: true, entries: [walkEntryOf(view, segs[segs.length - 1]!, found, rootPath)], cursor: null };
  }
  const prefix = segs.length === 0 ? '/' : `${rootPath}/`;
  // Frames of the descent: each directory being listed and the last name handed out from it.
  const frames: Array<{ inode: number; rel: string; after: string | null }> = [{ inode: found.inode, rel: '', after: null }];
  for (let j = 0; j < cursorSegs.length; j++) {
    const top = frames[frames.length - 1]!;
    const name = cursorSegs[j]!;
    top.after = name;
    const d = getDentry(view, top.inode, name);
    if (!d || d.type !== 'dir') break; // gone or not a directory: resume after its name
    // A directory on the cursor's path: its contents (after the next cursor segment) come next.
    frames.push({ inode: d.inode, rel: `${top.rel}${name}/`, after: null });
  }
  const entries: WalkEntry[] = [];
  let more = false;
  // Each turn hands out one entry or finishes one frame: bounded by limit + frames pushed.
  while (frames.length > 0) {
    const top = frames[frames.length - 1]!;
    const start = top.after === null ? childrenStart(top.inode) : dentryKeyAfter(top.inode, top.after);
    let next: [string, Uint8Array] | undefined;
    for (const pair of view.range(start, childrenEnd(top.inode), 1)) next = pair;
    if (!next) {
      frames.pop();
      continue;
    }
    if (entries.length === limit) {
      more = true;
      break;
    }
    const name = nameOfDentryKey(next[0]);
    const d = decodeDentry(next[1]);
    top.after = name;
    const rel = top.rel + name;
    entries.push(walkEntryOf(view, name, d, prefix + rel));
    if (d.type === 'dir') frames.push({ inode: d.inode, rel: `${rel}/`, after: null });
  }
  const last = entries[entries.length - 1];
  return { ok: true, entries, cursor: more && last ? last.path.slice(prefix.length) : null };
}

/** Why a file's content is malformed, or null (the command codec checks this too). */
export function contentProblem(content: FileContent): string | null {
  if (!Number.isSafeInteger(content.size) || content.size < 0) return 'size must be a safe integer >= 0';
  if (typeof content.etag !== 'string' || content.etag.length === 0) return 'etag must be a non-empty string';
  if (content.attrs !== undefined) {
    const problem = attrsProblem(content.attrs);
    if (problem) return problem;
  }
  if (content.inline) {
    const { data, crc } = content.inline;
    if (!(data instanceof Uint8Array) || data.length !== content.size) return 'inline bytes must be exactly the file size';
    if (!Number.isSafeInteger(crc) || crc < 0 || crc > 0xffffffff) return 'inline crc must be an integer in [0, 2^32)';
    if (content.chunks.length > 0) return 'an inline file has no chunks';
    return null;
  }
  let sum = 0;
  const seen = new Set<string>();
  for (const c of content.chunks) {
    if (seen.has(c.id)) return `chunk ${c.id} listed twice`;
    seen.add(c.id);
    if (!Number.isSafeInteger(c.size) || c.size < 1) return 'chunk size must be a safe integer >= 1';
    sum += c.size;
  }
  if (sum !== content.size) return `chunk sizes add up to ${sum}, not the file size ${content.size}`;
  return null;
}

/**
 * Concatenation of files without copying (fs.concat): a new file whose chunk list is the
 * sources' chunk lists one after the other, committed in the same step that removes the
 * sources. No byte moves: the chunks stay where they are (placement is a function of the chunk
 * id), each now held by the new file instead of its source. S3's CompleteMultipartUpload uses it
 * to stitch an object from its parts.
 *
 * Contracts:
 *   - the sources are the files `dir/name` (1..CONCAT_SOURCES_MAX distinct names), each a
 *     chunked file (NotFound, IsADirectory, NotADirectory on the path) whose etag is still the
 *     one the caller read (PreconditionFailed otherwise: the new etag was computed from them);
 *   - a source stored inline (its bytes in the namespace) is InlineRefused — its bytes are in no
 *     chunk the new file could hold; an empty source adds nothing;
 *   - the destination must not be a source (InvalidArgument); its rules are commitFile's
 *     (IsADirectory, AlreadyExists unless `overwrite`, parents with `createParents`);
 *   - the chunk list may hold chunks of different sizes (each part's last chunk is short): a
 *     file's chunks carry their sizes and readers locate bytes by the running offset (fs.open);
 *   - more than FILE_CHUNKS_MAX chunks in all is TooLarge; a chunk listed twice (two sources
 *     sharing it, e.g. copies of one file) is InvalidArgument — callers copy the bytes instead;
 *   - all checks run before the first write; then the reverse chunk index moves from the
 *     sources' inodes to the new file's (no chunk becomes garbage, none is left unreferenced).
 * Pure and deterministic; errors are returned, never thrown.
 */
import { FILE_CHUNKS_MAX } from '../proto/meta-fields.js';
import { joinPath, quote } from '../proto/path.js';
import type { FileAttrs } from '../proto/file-attrs.js';
import type { ChunkRef, MetaTxn } from './namespace-keys.js';
import { commitFile, remove, stat, type Outcome } from './namespace.js';

export interface ConcatSource {
  /** A file name in the sources' directory. */
  name: string;
  /** The etag the caller read for it. */
  etag: string;
}

export interface ConcatOptions {
  etag: string;
  attrs?: FileAttrs;
  overwrite: boolean;
  createParents: boolean;
  mtime: number;
}

export function concatFiles(txn: MetaTxn, dir: readonly string[], sources: readonly ConcatSource[], to: readonly string[], o: ConcatOptions): Outcome<{ size: number; etag: string }> {
  const toParent = joinPath(to.slice(0, -1));
  if (to.length > 0 && toParent === joinPath(dir) && sources.some((s) => s.name === to[to.length - 1])) {
    return { ok: false, code: 'InvalidArgument', message: `${quote(joinPath(to))} is one of the files concatenated into it` };
  }
  const chunks: ChunkRef[] = [];
  let size = 0;
  for (const s of sources) {
    const segs = [...dir, s.name];
    const st = stat(txn, segs);
    if (!st.ok) return st;
    const where = quote(joinPath(segs));
    if (st.stat.type !== 'file') return { ok: false, code: 'IsADirectory', message: `is a directory: ${where}` };
    if (st.stat.etag !== s.etag) return { ok: false, code: 'PreconditionFailed', message: `${where} changed (etag ${String(st.stat.etag)}, expected ${s.etag})` };
    if (st.stat.inline && st.stat.size > 0) return { ok: false, code: 'InlineRefused', message: `${where} is stored inline: its bytes are in no chunk to share` };
    if (chunks.length + st.stat.chunks.length > FILE_CHUNKS_MAX) return { ok: false, code: 'TooLarge', message: `the files would make more than ${FILE_CHUNKS_MAX} chunks` };
    chunks.push(...st.stat.chunks);
    size += st.stat.size;
  }
  // commitFile checks everything (including a chunk listed twice) before its first write.
  const done = commitFile(txn, to, { size, etag: o.etag, chunks, ...(o.attrs ? { attrs: o.attrs } : {}) }, o.overwrite, o.createParents, o.mtime);
  if (!done.ok) return done;
  for (const s of sources) {
    // Cannot fail: each source was found as a file above and the commit touched none of them.
    const gone = remove(txn, [...dir, s.name], false, o.mtime);
    if (!gone.ok) throw new Error(`namespace: concat could not remove a source it had checked: ${gone.message}`);
  }
  return { ok: true, size, etag: o.etag };
}

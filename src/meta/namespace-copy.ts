/**
 * Server-side copy of one file (fs.copy): the new file shares the source's chunks, so no byte
 * moves — not through the client, not between chunk servers (placement is a function of the
 * chunk id, so the shared chunks already sit where the copy's would). An inline source's bytes
 * are copied within the entry. One Raft entry: atomic like a commit, and the source's chunks
 * cannot become garbage in between.
 *
 * Contracts (as commitFile, whose destination rules apply unchanged):
 *   - the source must be a file: NotFound, NotADirectory on its path, IsADirectory for a directory;
 *   - copying a file onto itself is InvalidArgument (POSIX cp: "are the same file");
 *   - the destination: IsADirectory, AlreadyExists unless `overwrite`, parents created with
 *     `createParents` (else NotFound), InlineRefused over `inlineTotalBytesMax` for an inline file;
 *   - the copy gets the source's size, etag, chunk list (and whatever else the file record
 *     carries) with mtime `mtime`; every shared chunk's reverse index gains the copy's inode.
 * Pure and deterministic; errors are returned, never thrown.
 */
import { commitFile, stat, type FileContent, type Outcome } from './namespace.js';
import type { MetaTxn } from './namespace-keys.js';
import { joinPath, quote } from '../proto/path.js';

export function copyFile(
  txn: MetaTxn,
  from: readonly string[],
  to: readonly string[],
  overwrite: boolean,
  createParents: boolean,
  mtime: number,
  inlineTotalBytesMax = Number.MAX_SAFE_INTEGER,
): Outcome<{ size: number; etag: string }> {
  const src = stat(txn, from);
  if (!src.ok) return src;
  if (src.stat.type !== 'file' || src.stat.etag === null) return { ok: false, code: 'IsADirectory', message: `is a directory: ${quote(joinPath(from))}` };
  if (from.length === to.length && from.every((s, i) => s === to[i])) {
    return { ok: false, code: 'InvalidArgument', message: `${quote(joinPath(from))} and ${quote(joinPath(to))} are the same file` };
  }
  // Everything of the record but its type and time travels (size, etag, chunks, inline bytes, …).
  const { type: _type, mtime: _mtime, ...rest } = src.stat;
  const content: FileContent = { ...rest, etag: src.stat.etag };
  const done = commitFile(txn, to, content, overwrite, createParents, mtime, inlineTotalBytesMax);
  if (!done.ok) return done;
  return { ok: true, size: content.size, etag: content.etag };
}

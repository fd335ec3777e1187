/**
 * The file-system calls through which the chunk store changes what is durable: opening files
 * (whose writes and data syncs go through the returned handle), renames, unlinks and directory
 * syncs. `nodeChunkFs()` is the real one; a test passes a model of a disk that can crash and
 * keep only what was synced (test/support/crash-fs.ts), which is how a missing fsync is caught.
 * Reads of directories and metadata (readdir, stat, mkdir at open) stay direct: they change no
 * replica's durability. The free-space reading (statfs) goes through here too, so a test can
 * give the store a disk of a known size.
 */
import { constants } from 'node:fs';
import { open, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { DirFds } from './chunk-files.js';

export interface ChunkFs {
  /** Opens a file: 'wx' creates it (failing if it exists), 'r' reads it. */
  open(path: string, flags: 'wx' | 'r', mode?: number): Promise<FileHandle>;
  /**
   * Opens an existing file for writes around the page cache (O_DIRECT; direct-writes.ts). Absent:
   * the store writes buffered.
   */
  openDirect?(path: string): Promise<FileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Makes every entry change (create, rename, unlink) made in directory `path` before the call durable. */
  syncDir(path: string): Promise<void>;
  /** Releases what syncDir keeps open; later calls still work. */
  close(): Promise<void>;
  /** The file system holding `path`: free blocks for unprivileged use, all blocks, block size. */
  statfs(path: string): Promise<{ bavail: number; blocks: number; bsize: number }>;
}

/** The real file system; directory syncs through descriptors kept open per directory (DirFds). */
export function nodeChunkFs(): ChunkFs {
  const dirFds = new DirFds();
  return {
    open: (path, flags, mode) => open(path, flags, mode),
    openDirect: (path) => open(path, constants.O_WRONLY | constants.O_DIRECT),
    rename: (from, to) => rename(from, to),
    unlink: (path) => unlink(path),
    syncDir: dirFds.fsync,
    close: () => dirFds.close(),
    statfs: (path) => statfs(path),
  };
}

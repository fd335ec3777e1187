/**
 * A disk that can crash, for the chunk store (src/storage/chunk-fs.ts): every call goes to the
 * real file system, and the model remembers what a power cut would keep —
 *   - a file's bytes as of its last data sync through a handle opened here (a file created here
 *     and never synced comes back empty; one that existed before keeps its bytes);
 *   - a directory's entries (name → inode) as of the start of its last completed sync (a
 *     directory first touched here counts as durable as it was then).
 * `crash()` (or the call numbered `crashAtCall`) fails that call and every later one with EIO,
 * waits for the real calls in flight, then rewrites the touched directories on disk to exactly
 * what the model says survived. A store reopened on the directory then sees what a machine
 * would see after losing power at that moment: an acknowledged replica missing or torn there
 * means a sync the store did not do.
 * Directories themselves (mkdir) count as durable; only what the chunk store syncs is modelled.
 * Files are known by a model id, not by inode number: the file system hands a freed inode's
 * number to the next file created, while the name of the freed one may still be durable.
 */
import { lstatSync, readdirSync, readFileSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { nodeChunkFs, type ChunkFs } from '../../src/storage/chunk-fs.js';

export class CrashFs implements ChunkFs {
  /** Calls made so far: opens, writes, data syncs, renames, unlinks, directory syncs. */
  calls = 0;
  /** The call (numbered as `calls` counts) that crashes the disk; null: only crash() does. */
  crashAtCall: number | null = null;
  /** Set once the disk crashed; resolves when the disk holds only what survived. */
  crashed: Promise<void> | null = null;
  private readonly real = nodeChunkFs();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Model ids of files created here; their durable bytes are in `durableBytes` (absent: never synced). */
  private readonly created = new Set<number>();
  /** Durable bytes by model id: created files at their last data sync; older files captured before they lose a name. */
  private readonly durableBytes = new Map<number, Buffer>();
  /** Durable entries per directory touched (name → model id), with the sequence number of the sync that made them. */
  private readonly durableDirs = new Map<string, { seq: number; entries: Map<string, number> }>();
  private syncSeq = 0;
  /** The model id of the file each inode number belongs to now (a create gives its inode a new one). */
  private readonly idOfIno = new Map<number, number>();
  private lastId = 0;

  open(path: string, flags: 'wx' | 'r', mode?: number): Promise<FileHandle> {
    return this.call(async () => {
      this.touchDir(dirname(path));
      const fh = await this.real.open(path, flags, mode);
      if (flags === 'wx') {
        // A new file, under a new id even when its inode number is a freed file's (whose name,
        // and so its bytes, may still be durable): nothing of it is durable yet.
        const { ino } = await fh.stat();
        const id = ++this.lastId;
        this.idOfIno.set(ino, id);
        this.created.add(id);
      }
      return this.wrapHandle(fh, path);
    });
  }

  /** A second descriptor on a file opened here, for writes around the page cache: its writes count as the file's, durable at its next data sync. */
  openDirect(path: string): Promise<FileHandle> {
    return this.call(async () => this.wrapHandle(await this.real.openDirect!(path), path));
  }

  rename(from: string, to: string): Promise<void> {
    return this.call(async () => {
      this.touchDir(dirname(from));
      this.touchDir(dirname(to));
      this.captureBeforeUnlink(to);
      await this.real.rename(from, to);
    });
  }

  unlink(path: string): Promise<void> {
    return this.call(async () => {
      this.touchDir(dirname(path));
      this.captureBeforeUnlink(path);
      await this.real.unlink(path);
    });
  }

  syncDir(path: string): Promise<void> {
    return this.call(async () => {
      this.touchDir(path);
      const seq = ++this.syncSeq;
      const entries = this.listing(path);
      await this.real.syncDir(path);
      const known = this.durableDirs.get(path)!;
      if (known.seq < seq) this.durableDirs.set(path, { seq, entries });
    });
  }

  close(): Promise<void> {
    return this.real.close();
  }

  /** The real disk's reading (space changes durability of nothing). */
  statfs(path: string): Promise<{ bavail: number; blocks: number; bsize: number }> {
    return this.real.statfs(path);
  }

  /** Loses power now: see the file comment. */
  crash(): Promise<void> {
    this.crashed ??= this.settle();
    return this.crashed;
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.real.close();
    for (const [dir, { entries }] of this.durableDirs) {
      const now = this.listing(dir);
      for (const name of now.keys()) if (!entries.has(name)) unlinkSync(join(dir, name));
      for (const [name, id] of entries) {
        const bytes = this.durableBytes.get(id) ?? (this.created.has(id) ? Buffer.alloc(0) : null);
        if (bytes === null) {
          // A file older than this model, never captured: it was never renamed over or unlinked here.
          if (now.get(name) !== id) throw new Error(`crash-fs: lost track of ${join(dir, name)}`);
          continue;
        }
        if (now.has(name)) unlinkSync(join(dir, name));
        writeFileSync(join(dir, name), bytes);
      }
    }
  }

  /** Every call: numbered, refused once crashed (EIO), and waited for by the crash. */
  private call<T>(run: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.crashed === null && this.calls === this.crashAtCall) void this.crash();
    if (this.crashed !== null) return Promise.reject(eio());
    const p = run();
    this.inFlight.add(p);
    const forget = (): void => void this.inFlight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** A directory's entries count as durable as they are when the model first meets it. */
  private touchDir(dir: string): void {
    if (!this.durableDirs.has(dir)) this.durableDirs.set(dir, { seq: 0, entries: this.listing(dir) });
  }

  /** The model id of the file that inode number `ino` belongs to now (a file first met gets one). */
  private idOf(ino: number): number {
    let id = this.idOfIno.get(ino);
    if (id === undefined) {
      id = ++this.lastId;
      this.idOfIno.set(ino, id);
    }
    return id;
  }

  /** A directory's files now: name → model id. */
  private listing(dir: string): Map<string, number> {
    const m = new Map<string, number>();
    for (const [name, ino] of inodes(dir)) m.set(name, this.idOf(ino));
    return m;
  }

  /** A file about to lose this name keeps its bytes in the model (a crash may bring the name back). */
  private captureBeforeUnlink(path: string): void {
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    const id = this.idOf(st.ino);
    if (!this.created.has(id) && !this.durableBytes.has(id)) this.durableBytes.set(id, readFileSync(path));
  }

  /** Writes and syncs through the handle are calls of the model too; a data sync records the file's bytes. */
  private wrapHandle(fh: FileHandle, path: string): FileHandle {
    const writev = fh.writev.bind(fh);
    const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<unknown>;
    const datasync = fh.datasync.bind(fh);
    const sync = fh.sync.bind(fh);
    // A created file is synced before the store renames it: its bytes are read by its path then
    // (the handle may be write-only).
    const record = async (): Promise<void> => {
      const id = this.idOf((await fh.stat()).ino);
      if (this.created.has(id)) this.durableBytes.set(id, readFileSync(path));
    };
    Object.assign(fh, {
      writev: (...a: Parameters<FileHandle['writev']>) => this.call(() => writev(...a)),
      write: (...a: unknown[]) => this.call(() => write(...a)),
      datasync: () => this.call(async () => (await datasync(), await record())),
      sync: () => this.call(async () => (await sync(), await record())),
    });
    return fh;
  }
}

/** A directory's files now: name → inode number. */
function inodes(dir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const name of readdirSync(dir)) {
    let st: Stats;
    try {
      st = lstatSync(join(dir, name));
    } catch (e) {
      // Renamed away or unlinked, by a call in flight on another thread, since readdir listed it.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (st.isFile()) m.set(name, st.ino);
  }
  return m;
}

function eio(): NodeJS.ErrnoException {
  return Object.assign(new Error('EIO: the disk crashed (crash-fs)'), { code: 'EIO' });
}

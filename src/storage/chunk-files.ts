/** File-system steps of the chunk store: positioned writes, directory fsync, errno checks, locks per id. */
import { close as closeFd, fsync as fsyncFd, open as openFd } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Writes `bufs` at file offset `position` (positioned, so it never depends on a file cursor). */
export async function writeAll(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const first = (await fh.writev(bufs, position)).bytesWritten;
  if (first === total) return;
  // Short write (rare): finish with the remainder as one buffer.
  const rest = Buffer.concat(bufs).subarray(first);
  let off = 0;
  while (off < rest.length) {
    const { bytesWritten } = await fh.write(rest, off, rest.length - off, position + first + off);
    off += bytesWritten;
  }
}

/** Makes a directory's entries (a rename or unlink in it) durable. */
export async function fsyncDir(path: string): Promise<void> {
  const d = await open(path, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Directory fsyncs through descriptors kept open per directory: each sync is one fsync, not an
 * open, an fsync and a close (two thread-pool round trips fewer per replica write or delete).
 * An fsync of a directory makes durable every entry change made in it before the fsync began,
 * however long its descriptor has been open. For a fixed, small set of directories (the store's
 * 256 prefix directories): nothing is ever evicted, so a descriptor is never closed while an
 * fsync may be using it; close() releases them all after the syncs in flight. A failed fsync
 * closes and forgets its descriptor (the next sync opens a fresh one).
 */
export class DirFds {
  private readonly fds = new Map<string, Promise<number>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  /** Makes `path`'s entries durable (the DirSyncs fsync function). */
  readonly fsync = async (path: string): Promise<void> => {
    if (this.closed) return fsyncDir(path);
    let fdP = this.fds.get(path);
    if (fdP === undefined) {
      fdP = new Promise<number>((resolve, reject) => openFd(path, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
      this.fds.set(path, fdP);
      fdP.catch(() => {
        if (this.fds.get(path) === fdP) this.fds.delete(path);
      });
    }
    const run = fdP.then((fd) =>
      new Promise<void>((resolve, reject) => fsyncFd(fd, (e) => (e ? reject(e) : resolve()))).catch((e: unknown) => {
        if (this.fds.get(path) === fdP) {
          this.fds.delete(path);
          closeFd(fd, () => undefined);
        }
        throw e;
      }),
    );
    this.inFlight.add(run);
    try {
      await run;
    } finally {
      this.inFlight.delete(run);
    }
  };

  /** Closes every descriptor once the syncs in flight ended (a descriptor is never closed under one); later syncs open, fsync and close. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    const fds = [...this.fds.values()];
    this.fds.clear();
    for (const p of fds) {
      const fd = await p.catch(() => null);
      if (fd !== null) await new Promise<void>((resolve) => closeFd(fd, () => resolve()));
    }
  }
}

/**
 * Group commit of directory fsyncs: `sync(dir)` resolves once an fsync of `dir` that STARTED
 * after the call has finished, so every rename or unlink done in `dir` before the call is
 * durable. Calls that arrive while an fsync of `dir` is running share the next one (started
 * when the running one ends): N concurrent commits in one directory cost about two fsyncs, not
 * N. A failed fsync fails every call waiting on it (their entries may not be durable).
 */
export class DirSyncs {
  private readonly dirs = new Map<string, { running: Promise<void> | null; next: Promise<void> | null }>();
  /** fsyncs started (tests, counters). */
  started = 0;

  constructor(private readonly fsync: (path: string) => Promise<void> = fsyncDir) {}

  sync(path: string): Promise<void> {
    let d = this.dirs.get(path);
    if (!d) this.dirs.set(path, (d = { running: null, next: null }));
    if (d.running === null) return this.start(path, d);
    // One is running and may have started before the caller's rename: wait for the next one.
    if (d.next === null) {
      const state = d;
      d.next = state.running!.catch(() => undefined).then(() => {
        state.next = null;
        return this.start(path, state);
      });
    }
    return d.next;
  }

  private start(path: string, d: { running: Promise<void> | null; next: Promise<void> | null }): Promise<void> {
    this.started++;
    const p = this.fsync(path);
    const running = p.finally(() => {
      if (d.running === running) d.running = null;
      if (d.running === null && d.next === null) this.dirs.delete(path);
    });
    d.running = running;
    running.catch(() => undefined); // each caller gets the rejection through its own promise
    return running;
  }
}

export function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** Mutual exclusion per key: holders of one key run one after another, in call order. */
export class KeyedLock {
  private readonly locks = new Map<string, Promise<void>>();

  /** Runs `fn` after every earlier holder of `key`'s lock. */
  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.locks.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}

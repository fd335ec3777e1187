import { mkdirSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirFds } from '../../../src/storage/chunk-files.js';
import { bytes, cid, collect, openStore, tempDir } from '../chunk/helpers.js';

/** Descriptors of this process open on `path`. */
function fdsOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile (e.g. the descriptor readdirSync itself used)
    }
  }
  return n;
}

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('chunk-dir-fds')));
afterEach(() => cleanup());

describe('DirFds (directory fsyncs through descriptors kept open)', () => {
  it('opens each directory once however many syncs, concurrent or not, and close() releases it', async () => {
    const a = join(dir, 'a');
    mkdirSync(a);
    const fds = new DirFds();
    await Promise.all([fds.fsync(a), fds.fsync(a), fds.fsync(a)]);
    await fds.fsync(a);
    expect(fdsOn(a)).toBe(1);
    await fds.close();
    expect(fdsOn(a)).toBe(0);
    await fds.fsync(a); // after close: a fresh descriptor, closed again
    expect(fdsOn(a)).toBe(0);
  });

  it('a directory that cannot be opened fails its sync and is retried on the next one', async () => {
    const b = join(dir, 'b');
    const fds = new DirFds();
    await expect(fds.fsync(b)).rejects.toMatchObject({ code: 'ENOENT' });
    mkdirSync(b);
    await fds.fsync(b);
    expect(fdsOn(b)).toBe(1);
    await fds.close();
  });

  it('a store keeps one descriptor per prefix directory it wrote into, and works on after close()', async () => {
    const store = await openStore(dir);
    const prefixDir = join(dir, 'chunks', cid(1).slice(0, 2));
    await store.put(cid(1), bytes(1000, 1));
    await store.put(cid(2), bytes(1000, 2)); // same prefix directory
    expect(fdsOn(prefixDir)).toBe(1);
    await store.close();
    expect(fdsOn(prefixDir)).toBe(0);
    await store.put(cid(3), bytes(1000, 3));
    expect(await store.delete(cid(1))).toBe(true);
    expect((await collect((await store.read(cid(3))).stream)).equals(bytes(1000, 3))).toBe(true);
    expect(fdsOn(prefixDir)).toBe(0);
    rmSync(join(dir, 'chunks'), { recursive: true, force: true });
  });
});

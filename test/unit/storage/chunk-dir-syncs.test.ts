import { describe, expect, it } from 'vitest';
import { DirSyncs } from '../../../src/storage/chunk-files.js';

/** A fake directory fsync: each call is recorded and finished by hand. */
function fakeFsync(): {
  fsync: (path: string) => Promise<void>;
  calls: Array<{ path: string; finish: () => void; fail: (e: Error) => void }>;
} {
  const calls: Array<{ path: string; finish: () => void; fail: (e: Error) => void }> = [];
  const fsync = (path: string): Promise<void> =>
    new Promise<void>((resolve, reject) => calls.push({ path, finish: resolve, fail: reject }));
  return { fsync, calls };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DirSyncs (group commit of directory fsyncs)', () => {
  it('a lone call starts an fsync at once and resolves when it ends', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    let done = false;
    const p = d.sync('/a').then(() => (done = true));
    expect(f.calls.length).toBe(1);
    await tick();
    expect(done).toBe(false);
    f.calls[0]!.finish();
    await p;
    expect(done).toBe(true);
  });

  it('a call made while an fsync runs waits for the next one, which started after the call', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    const first = d.sync('/a');
    let laterDone = false;
    // This caller's rename happened after the running fsync began: that fsync does not cover it.
    const later = d.sync('/a').then(() => (laterDone = true));
    expect(f.calls.length).toBe(1);
    f.calls[0]!.finish();
    await first;
    await tick();
    expect(laterDone).toBe(false);
    expect(f.calls.length).toBe(2);
    f.calls[1]!.finish();
    await later;
    expect(laterDone).toBe(true);
  });

  it('every call made while one fsync runs shares one next fsync', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    const first = d.sync('/a');
    const waiters = Array.from({ length: 10 }, () => d.sync('/a'));
    f.calls[0]!.finish();
    await first;
    await tick();
    expect(f.calls.length).toBe(2);
    f.calls[1]!.finish();
    await Promise.all(waiters);
    expect(d.started).toBe(2);
  });

  it('directories are synced independently', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    const a = d.sync('/a');
    const b = d.sync('/b');
    expect(f.calls.map((c) => c.path)).toEqual(['/a', '/b']);
    f.calls[1]!.finish();
    await b;
    f.calls[0]!.finish();
    await a;
  });

  it('a failed fsync fails every call waiting on it; the next call starts a new fsync', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    const first = d.sync('/a');
    const w1 = d.sync('/a');
    const w2 = d.sync('/a');
    f.calls[0]!.fail(new Error('EIO first'));
    await expect(first).rejects.toThrow('EIO first');
    await tick();
    expect(f.calls.length).toBe(2);
    f.calls[1]!.fail(new Error('EIO second'));
    await expect(w1).rejects.toThrow('EIO second');
    await expect(w2).rejects.toThrow('EIO second');
    const again = d.sync('/a');
    expect(f.calls.length).toBe(3);
    f.calls[2]!.finish();
    await again;
  });

  it('a waiter for the next fsync is not failed by the running one failing', async () => {
    const f = fakeFsync();
    const d = new DirSyncs(f.fsync);
    const first = d.sync('/a');
    const later = d.sync('/a');
    f.calls[0]!.fail(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await tick();
    f.calls[1]!.finish();
    await expect(later).resolves.toBeUndefined();
  });
});

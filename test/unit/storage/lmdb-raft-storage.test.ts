import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { EntryType, type Entry } from '../../../src/raft/types.js';
import { unpack } from '../../../src/proto/msgpack.js';
import { LmdbRaftStorage } from '../../../src/storage/lmdb-raft-storage.js';
import { raftStorageContract } from './raft-storage-contract.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-raft-log-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function fresh(): Promise<{ dir: string; storage: LmdbRaftStorage }> {
  const dir = join(root, `s${++n}`);
  return { dir, storage: await LmdbRaftStorage.open(dir) };
}

describe('LmdbRaftStorage', () => {
  raftStorageContract(async () => {
    const { dir, storage } = await fresh();
    return {
      storage,
      async reopen() {
        await storage.close();
        return LmdbRaftStorage.open(dir);
      },
    };
  });

  it('reads a bounded slice of a long log without walking it all', async () => {
    const { storage: s } = await fresh();
    const ents: Entry[] = [];
    for (let i = 1; i <= 20_000; i++) ents.push({ index: i, term: 1, type: EntryType.Normal, data: new Uint8Array(64).fill(i & 0xff) });
    await s.save(null, ents, true);
    const got = s.entries(1, 20_001, 64 * 3);
    expect(got.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(s.entries(19_999, 20_001, 1 << 20).map((e) => e.index)).toEqual([19_999, 20_000]);
    await s.close();
  });

  it('answers reads of the newest entries from memory exactly as the file holds them, through truncations, compaction and snapshots', async () => {
    const { dir, storage } = await fresh();
    let s = storage;
    const conf = { voters: ['a'], learners: [] };
    const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(index % 50).fill(term) });
    const run = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
    const view = (st: LmdbRaftStorage) => {
      const lo = st.firstIndex();
      const hi = st.lastIndex() + 1;
      const terms = Array.from({ length: hi - lo }, (_, i) => st.term(lo + i));
      const strip = (es: Entry[]) => es.map((e) => [e.index, e.term, e.type, [...e.data]]);
      return { lo, hi, terms, all: strip(st.entries(lo, hi, Infinity)), capped: strip(st.entries(lo, hi, 120)), mid: strip(st.entries(Math.max(lo, hi - 7), hi, 60)) };
    };
    // After each step the reads served now must equal those of a fresh open (read from the file).
    const check = async () => {
      const before = view(s);
      await s.close();
      s = await LmdbRaftStorage.open(dir);
      expect(view(s)).toEqual(before);
    };
    await s.bootstrap(conf);
    await s.save({ term: 1, vote: 'a', commit: 0 }, run(1, 40, 1), true);
    await s.save(null, run(41, 60, 1), true);
    expect(view(s).terms.every((t) => t === 1)).toBe(true);
    await check();
    await s.save(null, run(30, 35, 2), true); // truncates 36..60
    expect(s.lastIndex()).toBe(35);
    expect(s.term(35)).toBe(2);
    expect(s.entries(28, 36, Infinity).map((e) => e.term)).toEqual([1, 1, 2, 2, 2, 2, 2, 2]);
    await check();
    await s.save(null, run(36, 50, 2), true);
    await s.save(null, run(48, 52, 3), true); // truncates inside what was just appended
    await s.createSnapshot({ meta: { index: 45, term: 2, conf }, data: new Uint8Array(1) }, 40);
    expect(s.firstIndex()).toBe(41);
    await check();
    await s.save(null, run(53, 70, 3), true);
    await s.applySnapshot({ meta: { index: 60, term: 3, conf }, data: new Uint8Array(1) }); // keeps 61..70
    expect([s.firstIndex(), s.lastIndex()]).toEqual([61, 70]);
    await check();
    await s.save(null, run(71, 75, 3), true);
    await s.applySnapshot({ meta: { index: 90, term: 4, conf }, data: new Uint8Array(1) }); // discards everything
    await s.save(null, run(91, 95, 4), true);
    expect(s.entries(91, 96, Infinity).map((e) => e.index)).toEqual([91, 92, 93, 94, 95]);
    await check();
    await s.close();
  });

  it('compaction and snapshot installation really delete entries from the file', async () => {
    const { dir, storage: s } = await fresh();
    const ents: Entry[] = [];
    for (let i = 1; i <= 100; i++) ents.push({ index: i, term: 1, type: EntryType.Normal, data: new Uint8Array(10) });
    await s.save(null, ents, true);
    await s.createSnapshot({ meta: { index: 95, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(1) }, 90);
    await s.close();
    const countEntries = async (): Promise<number> => {
      const env = open({ path: dir, maxDbs: 4 });
      const count = env.openDB('entries', { encoding: 'binary' }).getKeysCount();
      await env.close();
      return count;
    };
    expect(await countEntries()).toBe(10);
    const r = await LmdbRaftStorage.open(dir);
    await r.applySnapshot({ meta: { index: 97, term: 1, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(1) });
    await r.close();
    expect(await countEntries()).toBe(3);
  });

  it('reads stay consistent with lastIndex while a truncating save commits on the write thread', async () => {
    const { storage: s } = await fresh();
    const mk = (lo: number, hi: number, term: number): Entry[] =>
      Array.from({ length: hi - lo }, (_, i) => ({ index: lo + i, term, type: EntryType.Normal, data: new Uint8Array([term]) }));
    await s.save(null, mk(1, 11, 1), true);
    const pending = s.save(null, mk(5, 7, 2), true);
    // Let the batch be queued and the write thread start (next macrotask), then block the event
    // loop while it commits: the promise cannot resolve yet, so reads must still show the old
    // log, whole — never the truncated one under the old lastIndex.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    const blocker = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 10; i++) {
      Atomics.wait(blocker, 0, 0, 5);
      expect(s.lastIndex()).toBe(10);
      expect(s.entries(1, s.lastIndex() + 1, Infinity).map((e) => e.term)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    }
    await pending;
    expect(s.entries(1, s.lastIndex() + 1, Infinity).map((e) => e.term)).toEqual([1, 1, 1, 1, 2, 2]);
    await s.close();
  });

  it('holds a new commit index alone (sync=false) for the next transaction; terms, votes and entries are written at once', async () => {
    const { dir, storage } = await fresh();
    let s = storage;
    const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index]) });
    // What the file holds right now, read beside the storage (same process, a second handle).
    const onDisk = async (): Promise<unknown> => {
      const env = open({ path: dir, maxDbs: 4 });
      const bytes = env.openDB('meta', { encoding: 'binary' }).get('hardState') as Uint8Array | undefined;
      await env.close();
      return bytes ? unpack(bytes) : undefined;
    };
    await s.save({ term: 2, vote: 'a', commit: 0 }, [ent(1, 2), ent(2, 2), ent(3, 2)], true);
    expect(await onDisk()).toEqual([2, 'a', 0]);
    await s.save({ term: 2, vote: 'a', commit: 2 }, [], false);
    expect(await onDisk()).toEqual([2, 'a', 0]); // held, not written
    expect(s.initialState().hardState).toEqual({ term: 2, vote: 'a', commit: 2 });
    await s.save(null, [ent(4, 2)], true);
    expect(await onDisk()).toEqual([2, 'a', 2]); // carried by the next transaction
    // A changed term or vote is never held, even when the caller says sync=false.
    await s.save({ term: 3, vote: null, commit: 2 }, [], false);
    expect(await onDisk()).toEqual([3, null, 2]);
    // Close writes a held commit index.
    await s.save({ term: 3, vote: null, commit: 4 }, [], false);
    await s.close();
    s = await LmdbRaftStorage.open(dir);
    expect(s.initialState().hardState).toEqual({ term: 3, vote: null, commit: 4 });
    expect(s.lastIndex()).toBe(4);
    await s.close();
  });

  it('refuses use after close', async () => {
    const { storage: s } = await fresh();
    await s.close();
    await s.close(); // idempotent
    expect(() => s.term(0)).toThrow(/closed/);
    await expect(s.save(null, [], true)).rejects.toThrow(/closed/);
  });
});

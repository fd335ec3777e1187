/**
 * One contract for Raft log storage (src/raft/types.ts RaftLogStore), run against
 * LmdbRaftStorage and MemoryRaftStorage. Every expectation here is about behaviour the core and
 * the runtime rely on; implementation details (error classes for programmer errors, sync vs
 * async throwing) are left open.
 */
import { expect, it } from 'vitest';
import { EntryType, RaftCompactedError, RaftUnavailableError, type Entry, type RaftLogStore, type Snapshot } from '../../../src/raft/types.js';

export interface RaftStorageUnderTest {
  storage: RaftLogStore;
  /**
   * Close the storage and open its durable state again (LMDB: the same directory; the memory
   * twin: a clone of what it holds). Returns the reopened storage; the old one is unusable.
   */
  reopen(): Promise<RaftLogStore>;
}

const CONF = { voters: ['a', 'b', 'c'], learners: ['d'] };

/** Deterministic, index- and term-dependent bytes so any mix-up shows. */
function bytesFor(index: number, term: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761 + term * 40503) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function ent(index: number, term: number, size = 8, type: EntryType = EntryType.Normal): Entry {
  return { index, term, type, data: bytesFor(index, term, size) };
}

function range(lo: number, hi: number, term: number, size = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(ent(i, term, size));
  return out;
}

/** Compare entries by value (data byte-exact, as hex so Buffer vs Uint8Array does not matter). */
function plain(es: Entry[]): Array<{ index: number; term: number; type: EntryType; data: string }> {
  return es.map((e) => ({ index: e.index, term: e.term, type: e.type, data: hex(e.data) }));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Await a call that may throw synchronously or reject. */
function attempt(fn: () => Promise<unknown>): Promise<unknown> {
  return Promise.resolve().then(fn);
}

function snap(index: number, term: number, data: Uint8Array, conf = CONF): Snapshot {
  return { meta: { index, term, conf }, data };
}

export function raftStorageContract(make: () => Promise<RaftStorageUnderTest>): void {
  it('starts empty: no entries, term 0 at index 0, not bootstrapped', async () => {
    const { storage: s } = await make();
    expect(s.isBootstrapped()).toBe(false);
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    expect(s.entries(1, 1, 1000)).toEqual([]);
    expect(() => s.term(1)).toThrow(RaftUnavailableError);
    expect(() => s.entries(1, 2, 1000)).toThrow(RaftUnavailableError);
    expect(s.initialState()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, confState: { voters: [], learners: [] } });
    await s.close();
  });

  it('bootstrap stores the membership once; a second bootstrap is a no-op', async () => {
    const { storage: s } = await make();
    await s.bootstrap(CONF);
    expect(s.isBootstrapped()).toBe(true);
    expect(s.initialState().confState).toEqual(CONF);
    await s.bootstrap({ voters: ['x'], learners: [] });
    expect(s.initialState().confState).toEqual(CONF);
    expect(s.snapshot().meta).toEqual({ index: 0, term: 0, conf: CONF });
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    await s.close();
  });

  it('appends entries and saves the hard state in one call; reads reflect it once resolved', async () => {
    const { storage: s } = await make();
    await s.bootstrap(CONF);
    await s.save({ term: 1, vote: 'a', commit: 0 }, range(1, 6, 1), true);
    expect(s.lastIndex()).toBe(5);
    expect(s.firstIndex()).toBe(1);
    expect(plain(s.entries(1, 6, Infinity))).toEqual(plain(range(1, 6, 1)));
    expect(s.term(5)).toBe(1);
    expect(s.initialState().hardState).toEqual({ term: 1, vote: 'a', commit: 0 });
    // Hard state alone, entries alone, and a vote cleared back to null in a new term.
    await s.save({ term: 2, vote: null, commit: 3 }, [], true);
    expect(s.initialState().hardState).toEqual({ term: 2, vote: null, commit: 3 });
    await s.save(null, range(6, 8, 2), false);
    expect(s.lastIndex()).toBe(7);
    expect(s.term(7)).toBe(2);
    expect(s.initialState().hardState).toEqual({ term: 2, vote: null, commit: 3 });
    await s.close();
  });

  it('truncates a conflicting suffix: every stored entry from the first new index on is replaced', async () => {
    const h = await make();
    await h.storage.save({ term: 1, vote: 'a', commit: 0 }, range(1, 11, 1), true);
    // Shorter overwrite: 5..6 at term 2; 7..10 must be gone, also after a restart.
    await h.storage.save({ term: 2, vote: 'b', commit: 0 }, range(5, 7, 2), true);
    expect(h.storage.lastIndex()).toBe(6);
    const s = await h.reopen();
    expect(s.lastIndex()).toBe(6);
    expect(plain(s.entries(1, 7, Infinity))).toEqual(plain([...range(1, 5, 1), ...range(5, 7, 2)]));
    expect(() => s.term(7)).toThrow(RaftUnavailableError);
    expect(() => s.entries(5, 8, Infinity)).toThrow(RaftUnavailableError);
    // Longer overwrite from the middle: 3..12 at term 3.
    await s.save(null, range(3, 13, 3), true);
    expect(s.lastIndex()).toBe(12);
    expect(plain(s.entries(1, 13, Infinity))).toEqual(plain([...range(1, 3, 1), ...range(3, 13, 3)]));
    // Overwrite of the whole log from index 1.
    await s.save(null, range(1, 3, 4), true);
    expect(s.lastIndex()).toBe(2);
    expect(plain(s.entries(1, 3, Infinity))).toEqual(plain(range(1, 3, 4)));
    await s.close();
  });

  it('refuses an append that would leave a gap, and stores nothing of it', async () => {
    const { storage: s } = await make();
    await s.save({ term: 1, vote: null, commit: 0 }, range(1, 4, 1), true);
    await expect(attempt(() => s.save({ term: 9, vote: 'z', commit: 0 }, range(5, 7, 1), true))).rejects.toThrow();
    expect(s.lastIndex()).toBe(3);
    expect(s.initialState().hardState).toEqual({ term: 1, vote: null, commit: 0 });
    await s.close();
  });

  it('applies pipelined saves (not awaited one by one) in call order', async () => {
    const { storage: s } = await make();
    const p1 = s.save({ term: 1, vote: 'a', commit: 0 }, range(1, 6, 1), true);
    const p2 = s.save({ term: 2, vote: 'b', commit: 2 }, range(4, 8, 2), true);
    await Promise.all([p1, p2]);
    expect(s.lastIndex()).toBe(7);
    expect(plain(s.entries(1, 8, Infinity))).toEqual(plain([...range(1, 4, 1), ...range(4, 8, 2)]));
    expect(s.initialState().hardState).toEqual({ term: 2, vote: 'b', commit: 2 });
    await s.close();
  });

  it('entries(lo, hi, maxBytes): [lo, hi), at least one entry, never more bytes than maxBytes otherwise', async () => {
    const { storage: s } = await make();
    await s.save(null, range(1, 11, 1, 10), true); // 10 entries of 10 bytes
    expect(s.entries(3, 7, Infinity).map((e) => e.index)).toEqual([3, 4, 5, 6]);
    expect(s.entries(4, 4, 100)).toEqual([]);
    expect(s.entries(1, 11, 0).map((e) => e.index)).toEqual([1]);
    expect(s.entries(1, 11, 9).map((e) => e.index)).toEqual([1]);
    expect(s.entries(1, 11, 25).map((e) => e.index)).toEqual([1, 2]);
    expect(s.entries(1, 11, 30).map((e) => e.index)).toEqual([1, 2, 3]); // exactly at the limit: included
    expect(s.entries(2, 5, 1000).map((e) => e.index)).toEqual([2, 3, 4]);
    expect(s.entries(10, 11, 0).map((e) => e.index)).toEqual([10]);
    // Empty entries count zero bytes.
    await s.save(null, [ent(11, 1, 0), ent(12, 1, 0), ent(13, 1, 5)], true);
    expect(s.entries(10, 14, 10).map((e) => e.index)).toEqual([10, 11, 12]);
    await s.close();
  });

  it('term() and entries() throw RaftCompactedError below the log and RaftUnavailableError above it', async () => {
    const { storage: s } = await make();
    await s.bootstrap(CONF);
    await s.save({ term: 3, vote: null, commit: 20 }, range(1, 21, 3), true);
    await s.createSnapshot(snap(12, 3, new Uint8Array([1])), 10);
    expect(s.firstIndex()).toBe(11);
    expect(s.term(10)).toBe(3); // the compaction point's term stays known
    expect(() => s.term(9)).toThrow(RaftCompactedError);
    expect(() => s.term(21)).toThrow(RaftUnavailableError);
    expect(() => s.entries(10, 12, Infinity)).toThrow(RaftCompactedError);
    expect(() => s.entries(5, 21, Infinity)).toThrow(RaftCompactedError);
    expect(() => s.entries(11, 22, Infinity)).toThrow(RaftUnavailableError);
    expect(s.entries(11, 21, Infinity).map((e) => e.index)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    await s.close();
  });

  it('createSnapshot records the snapshot and compacts up to compactIndex', async () => {
    const { storage: s } = await make();
    await s.bootstrap(CONF);
    const ents = [...range(1, 8, 1), ...range(8, 21, 2)];
    await s.save({ term: 2, vote: 'a', commit: 20 }, ents, true);
    const image = bytesFor(99, 1, 3000);
    const conf = { voters: ['a', 'b'], learners: [] };
    // compactIndex == firstIndex-1: the snapshot is recorded, nothing is discarded.
    await s.createSnapshot(snap(9, 2, image, conf), 0);
    expect(s.firstIndex()).toBe(1);
    expect(s.snapshot().meta).toEqual({ index: 9, term: 2, conf });
    expect(hex(s.snapshot().data)).toBe(hex(image));
    expect(s.initialState().confState).toEqual(conf);
    // Compact behind the snapshot: entries up to 5 go, 6.. stay.
    await s.createSnapshot(snap(15, 2, image, conf), 5);
    expect(s.firstIndex()).toBe(6);
    expect(s.lastIndex()).toBe(20);
    expect(s.term(5)).toBe(1);
    expect(plain(s.entries(6, 21, Infinity))).toEqual(plain(ents.slice(5)));
    expect(s.snapshot().meta.index).toBe(15);
    // Compact everything: the log is empty, lastIndex stays at the compaction point, appends continue.
    await s.createSnapshot(snap(20, 2, image, conf), 20);
    expect(s.firstIndex()).toBe(21);
    expect(s.lastIndex()).toBe(20);
    expect(s.term(20)).toBe(2);
    expect(s.entries(21, 21, 100)).toEqual([]);
    await s.save(null, range(21, 23, 3), true);
    expect(s.entries(21, 23, Infinity).map((e) => e.term)).toEqual([3, 3]);
    expect(s.initialState().hardState).toEqual({ term: 2, vote: 'a', commit: 20 });
    // compactIndex past the snapshot, or a snapshot past the log, are refused.
    await expect(attempt(() => s.createSnapshot(snap(21, 3, image, conf), 22))).rejects.toThrow();
    await expect(attempt(() => s.createSnapshot(snap(30, 3, image, conf), 25))).rejects.toThrow();
    expect(s.firstIndex()).toBe(21);
    expect(s.lastIndex()).toBe(22);
    await s.close();
  });

  it('applySnapshot keeps the log suffix after a snapshot that matches the log', async () => {
    const { storage: s } = await make();
    await s.save({ term: 2, vote: 'a', commit: 3 }, [...range(1, 5, 1), ...range(5, 11, 2)], true);
    const conf = { voters: ['a', 'b', 'c', 'd'], learners: [] };
    await s.applySnapshot(snap(7, 2, new Uint8Array([7, 7]), conf));
    expect(s.isBootstrapped()).toBe(true);
    expect(s.firstIndex()).toBe(8);
    expect(s.lastIndex()).toBe(10);
    expect(s.term(7)).toBe(2);
    expect(plain(s.entries(8, 11, Infinity))).toEqual(plain(range(8, 11, 2)));
    expect(s.snapshot().meta).toEqual({ index: 7, term: 2, conf });
    expect(Array.from(s.snapshot().data)).toEqual([7, 7]);
    expect(s.initialState().confState).toEqual(conf);
    const hs = s.initialState().hardState;
    expect(hs.term).toBe(2);
    expect(hs.vote).toBe('a');
    expect(hs.commit).toBeGreaterThanOrEqual(7); // the snapshot's content is committed
    await s.close();
  });

  it('applySnapshot discards the whole log when it does not hold the snapshot entry', async () => {
    const { storage: s } = await make();
    await s.bootstrap(CONF);
    await s.save({ term: 2, vote: 'a', commit: 0 }, range(1, 11, 1), true);
    // Same index, different term: the log conflicts with the leader's snapshot.
    await s.applySnapshot(snap(7, 5, new Uint8Array([1])));
    expect(s.firstIndex()).toBe(8);
    expect(s.lastIndex()).toBe(7);
    expect(s.term(7)).toBe(5);
    expect(() => s.term(8)).toThrow(RaftUnavailableError);
    // Snapshot beyond the end of the log.
    await s.save(null, range(8, 10, 5), true);
    await s.applySnapshot(snap(50, 6, new Uint8Array([2])));
    expect(s.firstIndex()).toBe(51);
    expect(s.lastIndex()).toBe(50);
    expect(s.term(50)).toBe(6);
    expect(() => s.term(49)).toThrow(RaftCompactedError);
    await s.save(null, range(51, 53, 6), true);
    expect(s.lastIndex()).toBe(52);
    await expect(attempt(() => s.save(null, range(55, 56, 6), true))).rejects.toThrow();
    // An older snapshot than the stored one is refused.
    await expect(attempt(() => s.applySnapshot(snap(40, 6, new Uint8Array([3]))))).rejects.toThrow();
    expect(s.snapshot().meta.index).toBe(50);
    await s.close();
  });

  it('skips appended entries already covered by the snapshot', async () => {
    const { storage: s } = await make();
    await s.applySnapshot(snap(10, 2, new Uint8Array(0)));
    await s.save(null, range(8, 14, 2), true);
    expect(s.firstIndex()).toBe(11);
    expect(s.lastIndex()).toBe(13);
    expect(plain(s.entries(11, 14, Infinity))).toEqual(plain(range(11, 14, 2)));
    await s.close();
  });

  it('returns data byte-exact as Uint8Array: empty, every byte value, large; types round-trip', async () => {
    const { storage: s } = await make();
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    const large = bytesFor(3, 3, 1 << 20);
    const ents: Entry[] = [
      { index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) },
      { index: 2, term: 1, type: EntryType.Normal, data: every },
      { index: 3, term: 1, type: EntryType.ConfChange, data: Uint8Array.from([0, 0, 0, 1]) },
      { index: 4, term: 1, type: EntryType.Normal, data: large },
      // A view into a larger buffer: only the view's bytes are stored.
      { index: 5, term: 1, type: EntryType.Normal, data: new Uint8Array(every.buffer, 10, 20) },
    ];
    await s.save(null, ents, true);
    const got = s.entries(1, 6, Infinity);
    for (const e of got) expect(e.data).toBeInstanceOf(Uint8Array);
    expect(plain(got)).toEqual(plain(ents));
    // Entries already returned stay intact across further reads.
    const first = s.entries(2, 3, Infinity)[0]!;
    s.entries(4, 6, Infinity);
    s.term(3);
    expect(Array.from(first.data)).toEqual(Array.from(every));
    await s.close();
  });

  it('reopen: hard state, log, compaction point, snapshot and membership are all there', async () => {
    const h = await make();
    const s = h.storage;
    await s.bootstrap(CONF);
    await s.save({ term: 4, vote: 'c', commit: 12 }, [...range(1, 10, 3), ...range(10, 31, 4, 100)], true);
    const image = bytesFor(7, 7, 5000);
    const conf = { voters: ['a', 'b', 'c'], learners: ['e'] };
    await s.createSnapshot(snap(20, 4, image, conf), 15);
    await s.save({ term: 5, vote: null, commit: 25 }, range(28, 33, 5), false);
    const before = {
      state: s.initialState(),
      first: s.firstIndex(),
      last: s.lastIndex(),
      ents: plain(s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity)),
      t15: s.term(15),
    };
    const r = await h.reopen();
    expect(r.isBootstrapped()).toBe(true);
    expect(r.initialState()).toEqual(before.state);
    expect(r.firstIndex()).toBe(16);
    expect(r.lastIndex()).toBe(32);
    expect({ first: r.firstIndex(), last: r.lastIndex() }).toEqual({ first: before.first, last: before.last });
    expect(plain(r.entries(16, 33, Infinity))).toEqual(before.ents);
    expect(r.term(15)).toBe(before.t15);
    expect(() => r.term(14)).toThrow(RaftCompactedError);
    expect(r.snapshot().meta).toEqual({ index: 20, term: 4, conf });
    expect(hex(r.snapshot().data)).toBe(hex(image));
    // The reopened storage keeps working.
    await r.save(null, range(33, 35, 5), true);
    expect(r.lastIndex()).toBe(34);
    await r.close();
  });

  it('reopen after applySnapshot that discarded the log', async () => {
    const h = await make();
    await h.storage.save({ term: 1, vote: 'a', commit: 1 }, range(1, 6, 1), true);
    await h.storage.applySnapshot(snap(9, 3, Uint8Array.from([9, 8, 7])));
    const r = await h.reopen();
    expect(r.isBootstrapped()).toBe(true);
    expect(r.firstIndex()).toBe(10);
    expect(r.lastIndex()).toBe(9);
    expect(r.term(9)).toBe(3);
    expect(r.initialState().hardState.commit).toBeGreaterThanOrEqual(9);
    expect(Array.from(r.snapshot().data)).toEqual([9, 8, 7]);
    await r.close();
  });
}

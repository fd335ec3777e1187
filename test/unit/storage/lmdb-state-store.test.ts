import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { compareKeys } from '../../../src/storage/ordered-keys.js';
import { ManualTime } from '../../support/manual-time.js';
import { kvStoreContract } from './kv-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-state-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array | undefined) => (u ? new TextDecoder().decode(u) : undefined);
const dirFor = () => join(root, `s${++n}`);

describe('LmdbStateStore', () => {
  kvStoreContract(() => LmdbStateStore.open(dirFor()));

  it('writes nothing, not even the applied index, when fn throws', async () => {
    const st = await LmdbStateStore.open(dirFor());
    await st.applyBatch(1, (t) => t.put('a', b('1')));
    await expect(
      st.applyBatch(2, (t) => {
        t.put('a', b('2'));
        t.put('b', b('2'));
        throw new Error('bad entry');
      }),
    ).rejects.toThrow('bad entry');
    expect(st.appliedIndex()).toBe(1);
    expect(s(st.get('a'))).toBe('1');
    expect(st.get('b')).toBeUndefined();
    await st.applyBatch(2, (t) => t.put('b', b('ok')));
    expect(s(st.get('b'))).toBe('ok');
    await st.close();
  });

  it("a batch's range lists its own staged keys in LMDB's order (code points), within bounds, as they were when it started", async () => {
    const st = await LmdbStateStore.open(dirFor());
    const names = ['e/\u{1F600}', 'e/a', 'e/\uffff', 'e/\ue000', 'e/\u{10FFFF}', 'e/b', 'e/\ud7ff', 'e/\u00e9'];
    const got = await st.applyBatch(1, (t) => {
      for (const k of names) t.put(k, b(k));
      const all = [...t.range('e/', 'e0')].map(([k]) => k);
      const fromE000 = [...t.range('e/\ue000', 'e0')].map(([k]) => k);
      const belowAstral = [...t.range('e/', 'e/\u{1F600}')].map(([k]) => k);
      // Keys staged while a range is being read do not show up in it.
      const during: string[] = [];
      for (const [k] of t.range('e/', 'e0')) {
        during.push(k);
        t.put(`${k}+`, b('x'));
      }
      return { all, fromE000, belowAstral, during };
    });
    const sorted = [...names].sort(compareKeys);
    expect(sorted).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(got.all).toEqual(sorted);
    expect(got.fromE000).toEqual(sorted.filter((k) => compareKeys(k, 'e/\ue000') >= 0));
    expect(got.belowAstral).toEqual(sorted.filter((k) => compareKeys(k, 'e/\u{1F600}') < 0));
    expect(got.during).toEqual(sorted);
    expect([...st.range('e/', 'e0')]).toHaveLength(2 * names.length);
    await st.close();
  });

  it('refuses an oversized or empty key before writing anything', async () => {
    const st = await LmdbStateStore.open(dirFor());
    await expect(st.applyBatch(1, (t) => { t.put('ok', b('1')); t.put('k'.repeat(5000), b('x')); })).rejects.toThrow(/state key/);
    await expect(st.applyBatch(1, (t) => t.put('', b('x')))).rejects.toThrow(/state key/);
    expect(st.appliedIndex()).toBe(0);
    expect(st.get('ok')).toBeUndefined();
    await st.close();
  });

  it('applies pipelined batches in order, each reading the ones before', async () => {
    const st = await LmdbStateStore.open(dirFor());
    const incr = (t: { get(k: string): Uint8Array | undefined; put(k: string, v: Uint8Array): void }) => {
      const v = Number(s(t.get('n')) ?? '0') + 1;
      t.put('n', b(String(v)));
      return v;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => st.applyBatch(i, incr)));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    expect(s(st.get('n'))).toBe('5');
    expect(st.batches).toBe(5);
    await st.close();
  });

  it('a batch is read through at once, before LMDB commits it: by get, range (limits, deletes) and the next batch; snapshots, flush and a reopen see it committed', async () => {
    const dir = dirFor();
    const st = await LmdbStateStore.open(dir);
    await st.applyBatch(1, (t) => {
      for (const k of ['a', 'b', 'c', 'e']) t.put(k, b(`${k}1`));
    });
    await st.flush();
    // Neither awaited before the reads below: they run while both batches are on their way to LMDB.
    const p2 = st.applyBatch(2, (t) => {
      t.del('b');
      t.put('a', b('a2'));
      t.put('d', b('d2'));
    });
    const p3 = st.applyBatch(3, (t) => {
      // The batch before this one, not yet committed, shows through.
      const before = { a: s(t.get('a')), b: t.get('b'), d: s(t.get('d')), keys: [...t.range('a', 'z')].map(([k, v]) => `${k}=${s(v)}`) };
      t.del('d');
      t.put('f', b('f3'));
      return before;
    });
    expect(await p2).toBeUndefined();
    const seen = await p3;
    const now = {
      a: s(st.get('a')),
      b: st.get('b'),
      d: st.get('d'),
      all: [...st.range()].map(([k, v]) => `${k}=${s(v)}`),
      two: [...st.range('b', undefined, 2)].map(([k]) => k),
      applied: st.appliedIndex(),
    };
    expect(seen).toEqual({ a: 'a2', b: undefined, d: 'd2', keys: ['a=a2', 'c=c1', 'd=d2', 'e=e1'] });
    const want = ['a=a2', 'c=c1', 'e=e1', 'f=f3'];
    expect(now).toEqual({ a: 'a2', b: undefined, d: undefined, all: want, two: ['c', 'e'], applied: 3 });
    const snap = await st.readSnapshot();
    expect({ applied: snap.applied, all: [...snap].map(([k, v]) => `${k}=${s(v)}`) }).toEqual({ applied: 3, all: want });
    snap.close();
    await st.close();
    const r = await LmdbStateStore.open(dir);
    expect({ applied: r.appliedIndex(), all: [...r.range()].map(([k, v]) => `${k}=${s(v)}`) }).toEqual({ applied: 3, all: want });
    await r.close();
  });

  it('batches applied while an LMDB batch is under way go to LMDB after it as one batch, recording the last applied index', async () => {
    const dir = dirFor();
    const st = await LmdbStateStore.open(dir);
    // Thirty batches, none awaited before the next (each runs in a microtask, before any commit
    // can land): the first goes to LMDB at once, the rest wait for it and follow together (a key
    // written twice keeps its newest value, a deleted one stays gone).
    const done: Array<Promise<void>> = [];
    for (let i = 1; i <= 30; i++) {
      done.push(
        st.applyBatch(i, (t) => {
          t.put(`k${i}`, b(`v${i}`));
          t.put('last', b(String(i)));
          if (i > 1) t.del(`k${i - 1}`);
        }),
      );
    }
    await Promise.all(done);
    await st.flush();
    expect(st.batches).toBe(30);
    expect(st.lmdbBatches).toBe(2);
    await st.close();
    const r = await LmdbStateStore.open(dir);
    expect({ applied: r.appliedIndex(), all: [...r.range()].map(([k, v]) => `${k}=${s(v)}`) }).toEqual({ applied: 30, all: ['k30=v30', 'last=30'] });
    await r.close();
  });

  it('after an LMDB batch starts, the next waits out the linger: batches applied meanwhile are read through at once and share it', async () => {
    const dir = dirFor();
    const t = new ManualTime();
    const st = await LmdbStateStore.open(dir, { commitLingerMs: 25, clock: t, timers: t });
    await st.applyBatch(1, (x) => x.put('k0', b('v0')));
    expect(st.lmdbBatches).toBe(1);
    await st.flush();
    for (let i = 2; i <= 20; i++) await st.applyBatch(i, (x) => x.put(`k${i % 5}`, b(`v${i}`)));
    // None has gone to LMDB: one timer waits for the linger's end; every write reads through.
    expect({ lmdb: st.lmdbBatches, timers: t.pending(), k0: s(st.get('k0')), k4: s(st.get('k4')), applied: st.appliedIndex() }).toEqual({ lmdb: 1, timers: 1, k0: 'v20', k4: 'v19', applied: 20 });
    t.advance(24);
    expect(st.lmdbBatches).toBe(1);
    t.advance(1);
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 2, timers: 0 });
    await st.flush();
    // Long after the last start, a batch goes at once again.
    t.advance(100);
    await st.applyBatch(21, (x) => x.put('k1', b('v21')));
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 3, timers: 0 });
    await st.close();
    const r = await LmdbStateStore.open(dir);
    expect({ applied: r.appliedIndex(), all: [...r.range()].map(([k, v]) => `${k}=${s(v)}`) }).toEqual({ applied: 21, all: ['k0=v20', 'k1=v21', 'k2=v17', 'k3=v18', 'k4=v19'] });
    await r.close();
  });

  it('a key written again while an earlier transaction commits keeps its newer value once that one lands', async () => {
    const t = new ManualTime();
    const st = await LmdbStateStore.open(dirFor(), { commitLingerMs: 1_000, clock: t, timers: t });
    await st.applyBatch(1, (x) => {
      x.put('k', b('1'));
      x.put('other', b('1'));
    });
    // Batch 1 went to LMDB at once; batch 2 waits behind it.
    await st.applyBatch(2, (x) => x.put('k', b('2')));
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 1, timers: 0 });
    // Once batch 1 has committed, the pending group waits out the linger on a timer.
    // (Bounded in real time, not in turns: a commit on a loaded machine can take many turns.)
    for (let i = 0; i < 2_000 && t.pending() === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(t.pending()).toBe(1);
    expect([s(st.get('k')), s(st.get('other')), [...st.range()].map(([k, v]) => `${k}=${s(v)}`)]).toEqual(['2', '1', ['k=2', 'other=1']]);
    await st.close();
  });

  it('whatever needs LMDB to hold every batch (flush, snapshots, close) cuts the linger short, and so does a large group', async () => {
    const dir = dirFor();
    const t = new ManualTime();
    const st = await LmdbStateStore.open(dir, { commitLingerMs: 1_000, clock: t, timers: t });
    await st.applyBatch(1, (x) => x.put('a', b('1')));
    await st.flush();
    await st.applyBatch(2, (x) => x.put('a', b('2')));
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 1, timers: 1 });
    // Time stands still: these return only because the waiting group went at once.
    await st.flush();
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 2, timers: 0 });
    await st.applyBatch(3, (x) => x.put('a', b('3')));
    const snap = await st.readSnapshot();
    expect({ applied: snap.applied, all: [...snap].map(([k, v]) => `${k}=${s(v)}`), lmdb: st.lmdbBatches }).toEqual({ applied: 3, all: ['a=3'], lmdb: 3 });
    snap.close();
    // A group of 8 MiB does not wait for the linger, and the one after it waits again.
    await st.applyBatch(4, (x) => x.put('big', new Uint8Array(8 * 1024 * 1024)));
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 4, timers: 0 });
    await st.flush();
    await st.applyBatch(5, (x) => x.put('a', b('5')));
    expect({ lmdb: st.lmdbBatches, timers: t.pending() }).toEqual({ lmdb: 4, timers: 1 });
    await st.close();
    expect(t.pending()).toBe(0);
    const r = await LmdbStateStore.open(dir);
    expect({ applied: r.appliedIndex(), a: s(r.get('a')), big: r.get('big')?.length }).toEqual({ applied: 5, a: '5', big: 8 * 1024 * 1024 });
    await r.close();
  });

  it('hot keys are read from LMDB once; a write, a delete, replaceAll and an installed image each show through at once', async () => {
    const st = await LmdbStateStore.open(dirFor());
    await st.applyBatch(1, (t) => {
      t.put('hot', b('1'));
      t.put('big', new Uint8Array(4096).fill(7));
    });
    await st.flush();
    const reads = () => {
      const n = st.lmdbReads;
      st.lmdbReads = 0;
      return n;
    };
    reads();
    for (let i = 0; i < 5; i++) expect([s(st.get('hot')), st.get('big')?.length, st.get('none')]).toEqual(['1', 4096, undefined]);
    // The small value once; the 4 KiB one and the missing key every time.
    expect(reads()).toBe(1 + 5 + 5);
    await st.applyBatch(2, (t) => t.put('hot', b('2')));
    expect(s(st.get('hot'))).toBe('2');
    await st.flush();
    expect(s(st.get('hot'))).toBe('2');
    await st.applyBatch(3, (t) => t.del('hot'));
    await st.flush();
    expect(st.get('hot')).toBeUndefined();
    await st.applyBatch(4, (t) => t.put('hot', b('4')));
    await st.flush();
    expect(s(st.get('hot'))).toBe('4');
    await st.replaceAll([['hot', b('r')]], 5);
    expect([s(st.get('hot')), st.get('big')]).toEqual(['r', undefined]);
    const w = st.beginStaging();
    await w.put([['hot', b('staged')]]);
    await w.finish(6);
    expect(s(st.get('hot'))).toBe('r');
    await st.installStaged(6);
    expect(s(st.get('hot'))).toBe('staged');
    await st.close();
  });

  it('keeps state and applied index across a reopen', async () => {
    const dir = dirFor();
    const a = await LmdbStateStore.open(dir);
    await a.applyBatch(4, (t) => t.put('x', Uint8Array.from([0, 255, 7])));
    await a.applyBatch(9, (t) => t.put('y', b('why')));
    await a.close();
    const r = await LmdbStateStore.open(dir);
    expect(r.appliedIndex()).toBe(9);
    expect(Array.from(r.get('x')!)).toEqual([0, 255, 7]);
    expect(s(r.get('y'))).toBe('why');
    await r.close();
  });

  it('a finished staged image survives a reopen until installed, and the installed slot stays live after one', async () => {
    const dir = dirFor();
    const a = await LmdbStateStore.open(dir);
    await a.applyBatch(3, (t) => t.put('old', b('o')));
    const w = a.beginStaging();
    await w.put([['new', b('n')]]);
    await w.finish(12);
    await a.close();
    const r = await LmdbStateStore.open(dir);
    expect(r.stagedIndex()).toBe(12);
    expect(r.appliedIndex()).toBe(3);
    expect(s(r.get('old'))).toBe('o');
    await r.installStaged(12);
    await r.applyBatch(13, (t) => t.put('after', b('a')));
    await r.close();
    const q = await LmdbStateStore.open(dir);
    expect(q.appliedIndex()).toBe(13);
    expect(q.stagedIndex()).toBe(0);
    expect(q.get('old')).toBeUndefined();
    expect(s(q.get('new'))).toBe('n');
    expect(s(q.get('after'))).toBe('a');
    await q.close();
  });

  it('an unfinished staging is invisible after a reopen', async () => {
    const dir = dirFor();
    const a = await LmdbStateStore.open(dir);
    await a.applyBatch(2, (t) => t.put('k', b('live')));
    await a.beginStaging().put([['k', b('staged')]]);
    await a.close();
    const r = await LmdbStateStore.open(dir);
    expect(r.stagedIndex()).toBe(0);
    expect(s(r.get('k'))).toBe('live');
    await expect(r.installStaged(5)).rejects.toThrow(/no staged image/);
    await r.close();
  });

  it('range() lists committed pairs in key order within [start, end)', async () => {
    const st = await LmdbStateStore.open(dirFor());
    await st.applyBatch(1, (t) => {
      for (const k of ['d/b', 'd/a', 'e/x', 'c/z', 'd/c']) t.put(k, b(k));
    });
    expect([...st.range('d/', 'd0')].map(([k]) => k)).toEqual(['d/a', 'd/b', 'd/c']);
    expect([...st.range()].map(([k]) => k)).toEqual(['c/z', 'd/a', 'd/b', 'd/c', 'e/x']);
    await st.close();
  });

  it('a read snapshot is a consistent view that later batches do not change', async () => {
    const st = await LmdbStateStore.open(dirFor());
    await st.applyBatch(3, (t) => {
      t.put('a', b('1'));
      t.put('b', b('1'));
    });
    const view = await st.readSnapshot();
    await st.applyBatch(4, (t) => {
      t.put('a', b('2'));
      t.del('b');
      t.put('c', b('2'));
    });
    expect(view.applied).toBe(3);
    expect([...view].map(([k, v]) => [k, s(v)])).toEqual([['a', '1'], ['b', '1']]);
    view.close();
    expect(() => [...view]).toThrow();
    expect(s(st.get('a'))).toBe('2');
    await st.close();
  });

  it('replaceAll swaps the whole content from a stream of pairs, durably, with the new applied index', async () => {
    const src = await LmdbStateStore.open(dirFor());
    await src.applyBatch(20, (t) => {
      for (let i = 0; i < 50; i++) t.put(`k${String(i).padStart(2, '0')}`, Uint8Array.from([i, i ^ 0xff]));
    });
    const dir = dirFor();
    const dst = await LmdbStateStore.open(dir);
    await dst.applyBatch(5, (t) => {
      t.put('old', b('gone'));
      t.put('k01', b('overwritten'));
    });
    const view = await src.readSnapshot();
    try {
      await dst.replaceAll(view, view.applied);
    } finally {
      view.close();
    }
    await dst.close();
    const r = await LmdbStateStore.open(dir);
    expect(r.appliedIndex()).toBe(20);
    expect(r.get('old')).toBeUndefined();
    expect(Array.from(r.get('k01')!)).toEqual([1, 0xfe]);
    expect([...r.range()].length).toBe(50);
    await r.close();
    await src.close();
  });

  it('images are interchangeable with the in-memory twin', async () => {
    const mem = new MemoryKvStore();
    await mem.applyBatch(6, (t) => {
      t.put('a', b('A'));
      t.put('z', Uint8Array.from([0, 1, 2]));
    });
    const st = await LmdbStateStore.open(dirFor());
    await st.importImage(await mem.exportImage(), 6);
    expect(st.appliedIndex()).toBe(6);
    expect(s(st.get('a'))).toBe('A');
    const back = new MemoryKvStore();
    await back.importImage(await st.exportImage(), 6);
    expect(Array.from(back.get('z')!)).toEqual([0, 1, 2]);
    await expect(st.importImage(Uint8Array.from([0xc1]), 7)).rejects.toThrow();
    expect(st.appliedIndex()).toBe(6);
    await st.close();
  });
});

/**
 * Ordered range reads of the state stores, one contract run against LMDB and the in-memory twin:
 * committed range() and the apply transaction's range(), which must merge the batch's own staged
 * puts and deletes (read-your-writes), honour limits, and order keys as LMDB does (UTF-8 bytes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { compareKeys } from '../../../src/storage/ordered-keys.js';

interface RangeTxn {
  get(k: string): Uint8Array | undefined;
  put(k: string, v: Uint8Array): void;
  del(k: string): void;
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
}
interface RangeStore {
  applyBatch<T>(index: number, fn: (txn: RangeTxn) => T): Promise<T>;
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
  get(k: string): Uint8Array | undefined;
  close(): Promise<void>;
}

const root = mkdtempSync(join(tmpdir(), 'cairn-range-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const b = (s: string) => new TextEncoder().encode(s);
const str = (u: Uint8Array) => new TextDecoder().decode(u);
const keys = (it: Iterable<[string, Uint8Array]>) => [...it].map(([k]) => k);
const pairs = (it: Iterable<[string, Uint8Array]>) => [...it].map(([k, v]) => [k, str(v)]);
const utf8Sort = (ks: string[]) => [...ks].sort((a, c) => Buffer.compare(Buffer.from(a), Buffer.from(c)));

function rangeContract(name: string, make: () => Promise<RangeStore>): void {
  describe(name, () => {
    it('lists committed pairs in key order within [start, end), with a limit', async () => {
      const st = await make();
      await st.applyBatch(1, (t) => {
        for (const k of ['e/b', 'e/a', 'f/x', 'd/z', 'e/c', 'e0']) t.put(k, b(k));
      });
      expect(keys(st.range('e/', 'e0'))).toEqual(['e/a', 'e/b', 'e/c']);
      expect(keys(st.range('e/', 'e0', 2))).toEqual(['e/a', 'e/b']);
      expect(keys(st.range('e/', 'e0', 0))).toEqual([]);
      expect(keys(st.range('e/b'))).toEqual(['e/b', 'e/c', 'e0', 'f/x']);
      expect(keys(st.range(undefined, 'e/b'))).toEqual(['d/z', 'e/a']);
      expect(keys(st.range('g/', 'h/'))).toEqual([]);
      await st.close();
    });

    it('the transaction range sees staged puts and deletes, and respects the limit after merging', async () => {
      const st = await make();
      await st.applyBatch(1, (t) => {
        for (const k of ['k1', 'k3', 'k5', 'k7']) t.put(k, b('old'));
      });
      const seen = await st.applyBatch(2, (t) => {
        t.del('k3');
        t.put('k4', b('new'));
        t.put('k5', b('new'));
        t.put('k9', b('new'));
        t.del('k2'); // deleting a missing key is harmless
        return {
          all: pairs(t.range('k', 'l')),
          limited: keys(t.range('k', 'l', 3)),
          from: keys(t.range('k4', 'k8')),
          empty: keys(t.range('k7\u0000', 'k9')),
        };
      });
      expect(seen.all).toEqual([
        ['k1', 'old'],
        ['k4', 'new'],
        ['k5', 'new'],
        ['k7', 'old'],
        ['k9', 'new'],
      ]);
      expect(seen.limited).toEqual(['k1', 'k4', 'k5']);
      expect(seen.from).toEqual(['k4', 'k5', 'k7']);
      expect(seen.empty).toEqual([]);
      expect(pairs(st.range('k', 'l'))).toEqual(seen.all);
      await st.close();
    });

    it('a delete then re-put in one batch lists the key once, with the new value', async () => {
      const st = await make();
      await st.applyBatch(1, (t) => t.put('a', b('1')));
      const seen = await st.applyBatch(2, (t) => {
        t.del('a');
        const gone = keys(t.range());
        t.put('a', b('2'));
        t.put('a', b('3'));
        return { gone, back: pairs(t.range()) };
      });
      expect(seen).toEqual({ gone: [], back: [['a', '3']] });
      expect(pairs(st.range())).toEqual([['a', '3']]);
      await st.close();
    });

    it('paging by "last key + 1" deletes a large range inside one batch', async () => {
      const st = await make();
      await st.applyBatch(1, (t) => {
        for (let i = 0; i < 3000; i++) t.put(`p/${String(i).padStart(5, '0')}`, b('x'));
        t.put('q', b('stays'));
      });
      const deleted = await st.applyBatch(2, (t) => {
        let count = 0;
        for (let page = 0; page < 100; page++) {
          const batch = keys(t.range('p/', 'p0', 256));
          if (batch.length === 0) break;
          for (const k of batch) t.del(k);
          count += batch.length;
        }
        return count;
      });
      expect(deleted).toBe(3000);
      expect(keys(st.range())).toEqual(['q']);
      await st.close();
    });

    it('orders keys by UTF-8 bytes (code points), also above U+FFFF', async () => {
      const st = await make();
      const names = ['e/a', 'e/\uffff', 'e/\u{1F600}', 'e/\ue000', 'e/b', 'e/ab', 'e/\u00e9', 'e/A', 'e/\u{10FFFF}', 'e/\ud7ff'];
      await st.applyBatch(1, (t) => {
        for (const k of names.slice(0, 5)) t.put(k, b(k));
      });
      const inTxn = await st.applyBatch(2, (t) => {
        for (const k of names.slice(5)) t.put(k, b(k));
        return keys(t.range('e/', 'e0'));
      });
      expect(inTxn).toEqual(utf8Sort(names));
      expect(keys(st.range('e/', 'e0'))).toEqual(utf8Sort(names));
      await st.close();
    });

    it('a throwing batch changes nothing that range() shows', async () => {
      const st = await make();
      await st.applyBatch(1, (t) => t.put('a', b('1')));
      await expect(
        st.applyBatch(2, (t) => {
          t.put('b', b('2'));
          t.del('a');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(keys(st.range())).toEqual(['a']);
      await st.close();
    });
  });
}

rangeContract('MemoryKvStore range', async () => new MemoryKvStore());
rangeContract('LmdbStateStore range', () => LmdbStateStore.open(join(root, `s${++n}`)));

describe('compareKeys', () => {
  it('agrees with UTF-8 byte order on random strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, c) => {
        // Lone surrogates are not valid UTF-8; keys never contain them (paths refuse them).
        if (/[\ud800-\udfff]/u.test(a.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')) || /[\ud800-\udfff]/u.test(c.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) return;
        expect(Math.sign(compareKeys(a, c))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(c))));
      }),
      { numRuns: 2000 },
    );
  });

  it('random puts and deletes over several batches list like a sorted model (memory twin and LMDB)', async () => {
    const ops = fc.array(
      fc.array(fc.record({ del: fc.boolean(), k: fc.stringMatching(/^[a-c\u00e9\u{1F600}]{1,3}$/u), probe: fc.boolean() }), { maxLength: 20 }),
      { maxLength: 8 },
    );
    const check = async (make: () => Promise<RangeStore>, runs: number) => {
      await fc.assert(
        fc.asyncProperty(ops, async (batches) => {
          const st = await make();
          const model = new Map<string, string>();
          let index = 0;
          for (const batch of batches) {
            await st.applyBatch(++index, (t) => {
              for (const { del, k, probe } of batch) {
                if (del) {
                  t.del(k);
                  model.delete(k);
                } else {
                  t.put(k, b(`${index}`));
                  model.set(k, `${index}`);
                }
                if (probe) {
                  const want = utf8Sort([...model.keys()]).filter((x) => compareKeys(x, k) >= 0).slice(0, 3);
                  expect(keys(t.range(k, undefined, 3))).toEqual(want);
                }
              }
            });
            expect(pairs(st.range())).toEqual(utf8Sort([...model.keys()]).map((k) => [k, model.get(k)]));
          }
          await st.close();
        }),
        { numRuns: runs },
      );
    };
    await check(async () => new MemoryKvStore(), 300);
    await check(() => LmdbStateStore.open(join(root, `s${++n}`)), 30);
  });
});

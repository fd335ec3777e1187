/**
 * Big directories page correctly: 100,000 entries over the memory twin, ~20,000 over real LMDB.
 * Pages are in byte order without gaps or repeats, a page's cost does not depend on how far in it
 * is, entries added/removed between pages behave, and a recursive delete empties everything:
 * the delete unlinks the tree at once and the trash purges that follow delete the rest, each
 * within its bound.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MetaReadView, MetaTxn } from '../../../src/meta/namespace-keys.js';
import { LIST_LIMIT_MAX, commitFile, list, mkdir, remove, removeFileInode, walk } from '../../../src/meta/namespace.js';
import { hasTrash, purgeTrash, TREE_DELETE_ENTRIES } from '../../../src/meta/namespace-trash.js';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

interface Store extends MetaReadView {
  applyBatch<T>(index: number, fn: (txn: MetaTxn) => T): Promise<T>;
  close(): Promise<void>;
}

const root = mkdtempSync(join(tmpdir(), 'cairn-ns-large-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const id = (n: number) => n.toString(16).padStart(32, '0');
// Names in a scrambled order, mixing widths, so byte order differs from creation order.
const nameOf = (i: number) => `f${((i * 7919) % 1_000_003).toString(36)}-${i}`;
const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** rm -r of /big: the delete, then purges (as the leader proposes them) until the trash is empty; returns the purges. */
async function removeBig(store: Store, index: number): Promise<number> {
  await store.applyBatch(index, (t) => expect(remove(t, ['big'], true, 4).ok).toBe(true));
  expect(list(store, ['big'])).toMatchObject({ ok: false, code: 'NotFound' });
  let purges = 0;
  while (hasTrash(store)) {
    const deleted = await store.applyBatch(index + ++purges, (t) => purgeTrash(t, TREE_DELETE_ENTRIES, removeFileInode));
    expect(deleted).toBeLessThanOrEqual(TREE_DELETE_ENTRIES);
  }
  return purges;
}

async function fill(store: Store, n: number, perBatch: number): Promise<string[]> {
  let index = 0;
  await store.applyBatch(++index, (t) => mkdir(t, ['big'], false, 1));
  const names: string[] = [];
  for (let start = 0; start < n; start += perBatch) {
    await store.applyBatch(++index, (t) => {
      for (let i = start; i < Math.min(n, start + perBatch); i++) {
        const name = nameOf(i);
        names.push(name);
        const r = commitFile(t, ['big', name], { size: 1, etag: 'e', chunks: [{ id: id(i + 1), size: 1, crc: 0 }] }, false, false, 2);
        if (!r.ok) throw new Error(r.message);
      }
    });
  }
  return names.sort(byUtf8);
}

function pageAll(view: MetaReadView, limit: number): { names: string[]; pages: number } {
  const names: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  for (; pages < 1_000_000; ) {
    const r = list(view, ['big'], { limit, cursor });
    if (!r.ok) throw new Error(r.message);
    pages++;
    expect(r.entries.length).toBeLessThanOrEqual(limit);
    names.push(...r.entries.map((e) => e.name));
    cursor = r.cursor;
    if (cursor === null) break;
  }
  return { names, pages };
}

describe('a directory of 100,000 entries (memory twin)', () => {
  it('pages through in name order, without gaps or repeats, and deletes recursively', async () => {
    const store = new MemoryKvStore();
    const names = await fill(store, 100_000, 20_000);
    const a = pageAll(store, 1000);
    expect(a.pages).toBe(100);
    expect(a.names).toEqual(names);
    const b = pageAll(store, LIST_LIMIT_MAX);
    expect(b.pages).toBe(10);
    expect(b.names).toEqual(names);
    // A cursor deep in the directory costs one seek, not a scan from the start.
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      const r = list(store, ['big'], { limit: 10, cursor: names[99_000 + i]! });
      expect(r.ok && r.entries[0]!.name).toBe(names[99_001 + i]);
    }
    expect(performance.now() - t0).toBeLessThan(2000);
    // Entries removed and added between pages: nothing repeated, later names show up.
    const first = list(store, ['big'], { limit: 5 });
    if (!first.ok) throw new Error(first.message);
    await store.applyBatch(100, (t) => {
      expect(remove(t, ['big', first.cursor!], false, 3).ok).toBe(true); // the cursor's own entry
      expect(commitFile(t, ['big', '~last'], { size: 0, etag: 'e', chunks: [] }, false, false, 3).ok).toBe(true);
    });
    const next = list(store, ['big'], { limit: 2, cursor: first.cursor });
    expect(next.ok && next.entries.map((e) => e.name)).toEqual(names.slice(5, 7));
    const w = walk(store, [], { limit: 3 });
    expect(w.ok && w.entries.map((e) => e.path)).toEqual(['/big', `/big/${names[0]}`, `/big/${names[1]}`]);
    // The whole tree goes, chunk index included, in bounded steps.
    expect(await removeBig(store, 101)).toBe(Math.ceil((100_000 + 1) / TREE_DELETE_ENTRIES) - 1);
    expect([...store.range('e/', 'e0')]).toEqual([]);
    expect([...store.range('c/', 'c0')]).toEqual([]);
    expect([...store.range('i/', 'i0')].length).toBeLessThanOrEqual(1); // at most the root's record
  }, 60_000);
});

describe('a directory of 20,000 entries (LMDB)', () => {
  it('pages through in name order and deletes recursively', async () => {
    const store = await LmdbStateStore.open(join(root, 'l1'), { mapSizeBytes: 1024 ** 3 });
    try {
      const names = await fill(store, 20_000, 5_000);
      // Committed in LMDB, as a server's writes are a moment after they apply (paged before that,
      // every page would merge the whole batch still in the store's overlay; see the overlay's
      // own tests in lmdb-state-store.test.ts).
      await store.flush();
      const a = pageAll(store, 1000);
      expect(a.pages).toBe(20);
      expect(a.names).toEqual(names);
      expect(pageAll(store, 7).names).toEqual(names);
      expect(await removeBig(store, 100)).toBeGreaterThan(0);
      expect([...store.range('e/', 'e0')]).toEqual([]);
      expect([...store.range('t/', 't0')]).toEqual([]);
      expect([...store.range('c/', 'c0')]).toEqual([]);
    } finally {
      await store.close();
    }
  }, 60_000);
});

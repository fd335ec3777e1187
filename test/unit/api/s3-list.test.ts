/**
 * ListObjects paging over a namespace (s3-list.ts) against a reference: every key of a random
 * tree sorted by UTF-8 bytes, filtered by prefix, rolled up by delimiter — for every max-keys, the
 * pages chained by their last item must give exactly the reference, and a walk must read the
 * namespace in pages (never the whole tree at once).
 */
import { describe, expect, it } from 'vitest';
import { compareUtf8, listPage, LIST_PAGE_ENTRIES, type ListQuery, type ListSource } from '../../../src/api/s3-list.js';
import type { ListResult } from '../../../src/client/cairn-client.js';
import { RemotePath } from '../../../src/proto/path.js';
import { CairnError } from '../../../src/util/errors.js';

/** An in-memory namespace: path → 'file' | 'dir'; list() pages names in byte order after the cursor. */
class MemTree implements ListSource {
  readonly nodes = new Map<string, 'file' | 'dir'>([['/', 'dir']]);
  calls = 0;
  add(path: string): void {
    const segs = path.slice(1).split('/');
    for (let i = 1; i < segs.length; i++) this.nodes.set('/' + segs.slice(0, i).join('/'), 'dir');
    this.nodes.set(path, path.endsWith('/') ? 'dir' : 'file');
  }
  mkdir(path: string): void {
    this.add(`${path}/x`);
    this.nodes.delete(`${path}/x`);
  }
  async list(path: RemotePath, opts: { limit: number; cursor: string | null }): Promise<ListResult> {
    this.calls++;
    expect(opts.limit).toBeLessThanOrEqual(LIST_PAGE_ENTRIES);
    if (this.nodes.get(path.text) !== 'dir') throw new CairnError('NotFound', path.text);
    const base = path.isRoot ? '/' : `${path.text}/`;
    const names = [...this.nodes.keys()]
      .filter((p) => p !== '/' && p.startsWith(base) && !p.slice(base.length).includes('/'))
      .map((p) => p.slice(base.length))
      .sort(compareUtf8)
      .filter((n) => opts.cursor === null || compareUtf8(n, opts.cursor) > 0);
    const page = names.slice(0, opts.limit);
    return {
      entries: page.map((name) => ({ name, path: base + name, type: this.nodes.get(base + name)!, size: 1, mtime: 0 })),
      cursor: names.length > page.length ? page[page.length - 1]! : null,
    };
  }
  /** The reference: every key below /b (files; empty directories as "d/"), sorted by bytes. */
  keys(): string[] {
    const out: string[] = [];
    for (const [p, t] of this.nodes) {
      if (!p.startsWith('/b/')) continue;
      if (t === 'file') out.push(p.slice(3));
      else if (![...this.nodes.keys()].some((q) => q.startsWith(`${p}/`))) out.push(`${p.slice(3)}/`);
    }
    return out.sort(compareUtf8);
  }
}

function reference(tree: MemTree, prefix: string, delimiter: string): string[] {
  const items: string[] = [];
  for (const k of tree.keys()) {
    if (!k.startsWith(prefix)) continue;
    const i = delimiter === '' ? -1 : k.indexOf(delimiter, prefix.length);
    const item = i < 0 ? k : `P:${k.slice(0, i + delimiter.length)}`;
    if (items[items.length - 1] !== item) items.push(item);
  }
  return items;
}

async function all(tree: MemTree, q: Omit<ListQuery, 'after' | 'maxKeys'>, maxKeys: number): Promise<string[]> {
  const out: string[] = [];
  let after = '';
  for (let pages = 0; pages < 1000; pages++) {
    const p = await listPage(tree, RemotePath.parse('/b'), { ...q, after, maxKeys });
    const items = [...p.objects.map((o) => o.key), ...p.commonPrefixes.map((c) => `P:${c}`)].sort((a, b) => compareUtf8(a.replace(/^P:/, ''), b.replace(/^P:/, '')));
    out.push(...items);
    expect(items.length).toBeLessThanOrEqual(maxKeys);
    if (!p.isTruncated) return out;
    expect(p.last).not.toBeNull();
    after = p.last!;
  }
  throw new Error('listing does not end');
}

/** A seeded generator (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'a-b', 'a.txt', 'a!', 'ab', 'b', 'z', 'é', '\u{1F600}', '\uFFFD', 'a b'];

describe('S3 listing over the namespace', () => {
  it('orders keys by UTF-8 bytes across directories (a-b < a/x; U+FFFD < U+1F600)', async () => {
    const t = new MemTree();
    for (const p of ['/b/a/x', '/b/a-b', '/b/a.txt', '/b/a!/y', '/b/\u{1F600}', '/b/\uFFFD', '/b/ab']) t.add(p);
    t.mkdir('/b/empty');
    expect(await all(t, { prefix: '', delimiter: '' }, 1000)).toEqual(['a!/y', 'a-b', 'a.txt', 'a/x', 'ab', 'empty/', '\uFFFD', '\u{1F600}']);
    expect(await all(t, { prefix: '', delimiter: '/' }, 1000)).toEqual(['P:a!/', 'a-b', 'a.txt', 'P:a/', 'ab', 'P:empty/', '\uFFFD', '\u{1F600}']);
  });

  it('pages chained by their last item give exactly the reference listing, for random trees and queries', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const pick = (): string => NAMES[Math.floor(r() * NAMES.length)]!;
      const t = new MemTree();
      for (let i = 0; i < 30; i++) {
        const depth = 1 + Math.floor(r() * 3);
        const segs = Array.from({ length: depth }, pick);
        const path = `/b/${segs.join('/')}`;
        // A name is a file or a directory, never both.
        const clash = [...t.nodes.keys()].some((p) => p === path || path.startsWith(`${p}/`) && t.nodes.get(p) === 'file' || p.startsWith(`${path}/`));
        if (!clash) t.add(path);
      }
      for (const prefix of ['', 'a', 'a/', 'a-', 'z/', pick()]) {
        for (const delimiter of ['', '/', '-', 'b']) {
          const want = reference(t, prefix, delimiter);
          for (const maxKeys of [1, 2, 3, 1000]) {
            expect(await all(t, { prefix, delimiter }, maxKeys), `seed ${seed} prefix ${JSON.stringify(prefix)} delimiter ${JSON.stringify(delimiter)} max ${maxKeys}`).toEqual(want);
          }
        }
      }
    }
  });

  it('start-after inside a deep directory starts there; max-keys 0 is an empty, untruncated page', async () => {
    const t = new MemTree();
    for (let i = 0; i < 50; i++) t.add(`/b/d${String(i).padStart(2, '0')}/f`);
    t.calls = 0;
    const p = await listPage(t, RemotePath.parse('/b'), { prefix: '', delimiter: '', after: 'd47/f', maxKeys: 10 });
    expect(p.objects.map((o) => o.key)).toEqual(['d48/f', 'd49/f']);
    expect(p.isTruncated).toBe(false);
    // The seek skips the first 47 directories: they are never listed.
    expect(t.calls).toBeLessThanOrEqual(4);
    expect(await listPage(t, RemotePath.parse('/b'), { prefix: '', delimiter: '', after: '', maxKeys: 0 })).toEqual({ objects: [], commonPrefixes: [], isTruncated: false, last: null });
  });
});

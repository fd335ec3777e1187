/**
 * Security probe 3 (issue 17): moving a 200-deep tree into a 200-deep directory, again and
 * again, built paths 10,001 deep and 110 KB long that no client could name and `ls -R` could not
 * walk. A directory move now keeps every path below it within PATH_DEPTH_MAX segments and
 * PATH_BYTES_MAX bytes (InvalidPath otherwise, nothing changed), and a recursive walk pages
 * through every tree the limits allow.
 */
import { describe, expect, it } from 'vitest';
import type { MetaTxn } from '../../../src/meta/namespace-keys.js';
import { mkdir, rename, stat, walk } from '../../../src/meta/namespace.js';
import { NAME_BYTES_MAX, PATH_BYTES_MAX, PATH_DEPTH_MAX, parsePath } from '../../../src/proto/path.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

const chain = (top: string, prefix: string, n: number): string[] => [top, ...Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`)];

async function store(): Promise<{ s: MemoryKvStore; apply: <T>(fn: (t: MetaTxn) => T) => Promise<T> }> {
  const s = new MemoryKvStore();
  let index = 0;
  return { s, apply: (fn) => s.applyBatch(++index, fn) };
}

describe('mv of a directory and the path limits', () => {
  it('refuses a move that would nest paths deeper than the limit, and allows one that stays within it', async () => {
    const { s, apply } = await store();
    const a = chain('a', 'x', 200); // /a/x1/…/x200: x1's subtree is 199 below it
    const b = chain('b', 'y', 200);
    expect(await apply((t) => mkdir(t, a, true, 1))).toEqual({ ok: true });
    expect(await apply((t) => mkdir(t, b, true, 1))).toEqual({ ok: true });
    // The probe: /a/x1 into the deepest directory of /b.
    const r = await apply((t) => rename(t, ['a', 'x1'], [...b, 'x1'], 2));
    expect(r).toMatchObject({ ok: false, code: 'InvalidPath', message: expect.stringContaining(`deeper than ${PATH_DEPTH_MAX}`) as unknown });
    expect(stat(s, a)).toMatchObject({ ok: true });
    // Exactly at the limit: x1 at depth 57 (/b/y1…y55/x1), its deepest entry at 57 + 199 = 256.
    const to = [...b.slice(0, 56), 'x1'];
    expect(to.length + 199).toBe(PATH_DEPTH_MAX);
    expect(await apply((t) => rename(t, ['a', 'x1'], [...b.slice(0, 57), 'x1'], 2))).toMatchObject({ ok: false, code: 'InvalidPath' });
    expect(await apply((t) => rename(t, ['a', 'x1'], to, 2))).toEqual({ ok: true });
    expect(stat(s, [...to, ...a.slice(2)])).toMatchObject({ ok: true });
    // Moving it back up is always fine.
    expect(await apply((t) => rename(t, to, ['x1'], 3))).toEqual({ ok: true });
  });

  it('refuses a move or a rename that would make a path longer than the byte limit', async () => {
    const { s, apply } = await store();
    const long = (c: string) => c.repeat(NAME_BYTES_MAX);
    // /d/<255 bytes>×15/q: the subtree below /d is 15 × 256 + 2 = 3,842 bytes deep.
    const d = ['d', ...Array.from({ length: 15 }, (_, i) => long(String.fromCharCode(97 + i))), 'q'];
    expect(await apply((t) => mkdir(t, d, true, 1))).toEqual({ ok: true });
    // Renamed to a 253-byte name its deepest path is 254 + 3,842 = 4,096 bytes: allowed; 254 bytes: one too many.
    expect(await apply((t) => rename(t, ['d'], ['é'.repeat(127)], 2))).toMatchObject({ ok: false, code: 'InvalidPath', message: expect.stringContaining(`longer than ${PATH_BYTES_MAX}`) as unknown });
    expect(await apply((t) => rename(t, ['d'], ['z'.repeat(253)], 2))).toEqual({ ok: true });
    expect(await apply((t) => mkdir(t, ['p'], false, 3))).toEqual({ ok: true });
    expect(await apply((t) => rename(t, ['z'.repeat(253)], ['p', 'z'.repeat(253)], 3))).toMatchObject({ ok: false, code: 'InvalidPath' });
    expect(await apply((t) => rename(t, ['z'.repeat(253)], ['p', 'd'], 3))).toEqual({ ok: true });
    expect(stat(s, ['p', 'd', ...d.slice(1)])).toMatchObject({ ok: true });
  });

  it('walks (ls -R) every tree the limits allow, one entry per page', async () => {
    const { s, apply } = await store();
    // As deep as allowed, with the deepest path as long as allowed: 256 names of 15 bytes.
    const full = Array.from({ length: PATH_DEPTH_MAX }, (_, i) => `n${i}`.padEnd(PATH_BYTES_MAX / PATH_DEPTH_MAX - 1, 'x'));
    expect(('/' + full.join('/')).length).toBe(PATH_BYTES_MAX);
    expect(full).toHaveLength(PATH_DEPTH_MAX);
    expect(parsePath('/' + full.join('/'))).toHaveLength(PATH_DEPTH_MAX);
    expect(await apply((t) => mkdir(t, full, true, 1))).toEqual({ ok: true });
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 1000; i++) {
      const r = walk(s, [], { limit: 1, cursor });
      if (!r.ok) throw new Error(r.message);
      seen.push(...r.entries.map((e) => e.path));
      cursor = r.cursor;
      if (cursor === null) break;
    }
    expect(seen).toHaveLength(PATH_DEPTH_MAX);
    expect(seen.at(-1)).toBe('/' + full.join('/'));
  });
});

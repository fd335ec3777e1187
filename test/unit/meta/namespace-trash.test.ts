/**
 * rm -r in bounded steps (meta/namespace-trash.ts): the delete unlinks the tree at once and
 * deletes at most TREE_DELETE_ENTRIES entries; purgeTrash commands delete the rest, each at most
 * its `entries`, until nothing of the tree is left (inodes, dentries, inline heads, chunk
 * references, the inline count).
 */
import { describe, expect, it } from 'vitest';
import { machineHarness } from './machine-harness.js';
import { decodeMetaCommand, encodeMetaCommand, MetaTag, PURGE_ENTRIES_MAX, type MetaCommand } from '../../../src/meta/meta-command.js';
import { hasTrash, TREE_DELETE_ENTRIES } from '../../../src/meta/namespace-trash.js';
import { inlineUsage, list, stat } from '../../../src/meta/namespace.js';
import { pack } from '../../../src/proto/msgpack.js';

const ID = (n: number): string => n.toString(16).padStart(32, '0');

function harness() {
  const { store, run, s } = machineHarness();
  const put = (path: string, bytes: number) =>
    run({ op: 'putInline', session: s(), nowMs: 5, path, etag: 'e', data: new Uint8Array(bytes).fill(7), crc: 1, overwrite: false, createParents: true, inlineTotalBytesMax: 2 ** 40 });
  const commit = (path: string, chunk: number) =>
    run({ op: 'commitFile', session: s(), nowMs: 6, path, file: { size: 4, etag: 'ec', chunks: [{ id: ID(chunk), size: 4, crc: 1 }] }, overwrite: false, createParents: true });
  const rmr = (path: string) => run({ op: 'delete', session: s(), nowMs: 7, path, recursive: true });
  const purge = (entries: number) => run({ op: 'purgeTrash', nowMs: 8, entries });
  const keys = (prefix: string) => [...store.range(prefix, prefix.slice(0, -1) + '0')].map(([k]) => k);
  return { store, run, put, commit, rmr, purge, keys };
}

describe('rm -r in bounded steps', () => {
  it('unlinks a large tree at once, deletes the rest in purges of at most their entries, and leaves nothing behind', async () => {
    const h = harness();
    await h.put('/keep/x', 4096); // outside the tree: must survive
    const files = Math.floor(2.2 * TREE_DELETE_ENTRIES);
    for (let i = 0; i < files; i++) {
      const r = i % 3 === 0 ? await h.commit(`/big/d${i % 7}/f${i}`, i + 1) : await h.put(`/big/d${i % 7}/s${i % 2}/f${i}`, i % 2 === 0 ? 4096 : 10);
      expect(r).toEqual({ ok: true });
    }
    const before = { inodes: h.keys('i/').length, heads: h.keys('b/').length };
    expect(await h.rmr('/big')).toEqual({ ok: true });
    // Gone from the namespace at once; most of it still waiting in the trash.
    expect(stat(h.store, ['big'])).toMatchObject({ ok: false, code: 'NotFound' });
    expect(list(h.store, [])).toMatchObject({ ok: true, entries: [{ name: 'keep' }] });
    expect(hasTrash(h.store)).toBe(true);
    const deleted = (was: number) => was - h.keys('i/').length;
    expect(deleted(before.inodes)).toBeLessThanOrEqual(TREE_DELETE_ENTRIES);
    let purges = 0;
    while (hasTrash(h.store)) {
      const was = h.keys('i/').length;
      expect(await h.purge(500)).toEqual({ ok: true });
      expect(deleted(was)).toBeLessThanOrEqual(500);
      purges++;
      expect(purges).toBeLessThan(100);
    }
    expect(purges).toBeGreaterThan(2);
    // Only the root's record (if any), /keep and /keep/x remain; no head, chunk reference, dentry or trash key of the tree.
    expect(h.keys('i/').length).toBeLessThanOrEqual(3);
    expect(h.keys('b/')).toHaveLength(1);
    expect(before.heads).toBeGreaterThan(1);
    expect(h.keys('c/')).toEqual([]);
    expect(h.keys('e/')).toHaveLength(2);
    expect(h.keys('t/')).toEqual([]);
    expect(inlineUsage(h.store)).toEqual({ bytes: 4096, files: 1 });
    expect(await h.purge(10)).toEqual({ ok: true }); // an empty trash: nothing to do
  });

  it('a tree within one command goes in the delete itself, leaving no trash', async () => {
    const h = harness();
    for (let i = 0; i < 50; i++) await h.put(`/t/a/b/f${i}`, 100);
    expect(await h.rmr('/t')).toEqual({ ok: true });
    expect(hasTrash(h.store)).toBe(false);
    expect(h.keys('e/')).toEqual([]);
    expect(inlineUsage(h.store)).toEqual({ bytes: 0, files: 0 });
  });

  it('purgeTrash travels as [version, 17, nowMs, entries] and refuses entries out of range', () => {
    const cmd: MetaCommand = { op: 'purgeTrash', nowMs: 9, entries: 2000 };
    expect(decodeMetaCommand(encodeMetaCommand(cmd))).toEqual(cmd);
    expect(() => decodeMetaCommand(pack([1, MetaTag.PurgeTrash, 9, 0]))).toThrow(/entries/);
    expect(() => decodeMetaCommand(pack([1, MetaTag.PurgeTrash, 9, PURGE_ENTRIES_MAX + 1]))).toThrow(/entries/);
  });
});

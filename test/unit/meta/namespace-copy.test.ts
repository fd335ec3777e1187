/**
 * Server-side copy (fs.copy) in the metadata state machine: the copyFile command (codec and
 * validation), shared chunks in the reverse index (old single-inode values still read; rm or
 * overwrite of one copy keeps the other readable; the chunks are garbage only when the last
 * reference goes), inline sources, the destination rules, a client's commit still refused for a
 * chunk another file holds, determinism across replicas and exactly-once retries.
 */
import { describe, expect, it } from 'vitest';
import { addChunkRef, chunkRefs, decodeChunkRefs, dropChunkRef, encodeChunkRefs } from '../../../src/meta/chunk-refs.js';
import { decodeMetaCommand, encodeMetaCommand, MetaTag, type MetaCommand } from '../../../src/meta/meta-command.js';
import { applyMetaCommand, type MetaResult } from '../../../src/meta/namespace-machine.js';
import { encodeNumber } from '../../../src/meta/namespace-keys.js';
import { inlineUsage, stat } from '../../../src/meta/namespace.js';
import { pack } from '../../../src/proto/msgpack.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { isCairnError } from '../../../src/util/errors.js';

const ID = (n: number): string => n.toString(16).padStart(32, '0');
type Session = { client: string; seq: number; ackedBelow: number };

function harness() {
  const store = new MemoryKvStore();
  let index = 0;
  let seq = 0;
  const log: MetaCommand[] = [];
  const run = (cmd: MetaCommand): Promise<MetaResult> => {
    log.push(cmd);
    return store.applyBatch(++index, (t) => applyMetaCommand(t, cmd));
  };
  const s = (): Session => ({ client: 'c1', seq: ++seq, ackedBelow: seq });
  const commit = (path: string, chunks: number[], overwrite = false): Promise<MetaResult> =>
    run({ op: 'commitFile', session: s(), nowMs: 6, path, file: { size: chunks.length * 10, etag: `e-${chunks.join('.')}`, chunks: chunks.map((id) => ({ id: ID(id), size: 10, crc: id })) }, overwrite, createParents: true });
  const put = (path: string, data: Uint8Array): Promise<MetaResult> =>
    run({ op: 'putInline', session: s(), nowMs: 5, path, etag: `i${data.length}`, data, crc: 3, overwrite: false, createParents: true, inlineTotalBytesMax: 1000 });
  const copy = (from: string, to: string, o: { overwrite?: boolean; parents?: boolean; cap?: number; session?: Session; nowMs?: number } = {}): Promise<MetaResult> =>
    run({ op: 'copyFile', session: o.session ?? s(), nowMs: o.nowMs ?? 9, from, to, overwrite: o.overwrite ?? false, createParents: o.parents ?? true, inlineTotalBytesMax: o.cap ?? 1000 });
  const rm = (path: string, recursive = false): Promise<MetaResult> => run({ op: 'delete', session: s(), nowMs: 11, path, recursive });
  const st = (p: string) => stat(store, p.slice(1).split('/'));
  /** Chunk id (as its number) → the number of files holding it. */
  const refs = (): Record<number, number> =>
    Object.fromEntries([...store.range('c/', 'c0')].map(([k, v]) => [parseInt(k.slice(2), 16), decodeChunkRefs(v).length]));
  return { store, run, s, commit, put, copy, rm, st, refs, log };
}

describe('chunk reference records', () => {
  it('read the single-inode form of stores written before copies, and write it for one file', () => {
    expect(decodeChunkRefs(encodeNumber(7))).toEqual([7]);
    expect([...encodeChunkRefs([7])]).toEqual([...encodeNumber(7)]);
    expect(decodeChunkRefs(encodeChunkRefs([9, 3, 5]))).toEqual([3, 5, 9]);
    for (const bad of [pack('x'), pack([4]), pack([]), pack([1, -2]), pack(-1), pack([1, 1.5])]) {
      expect(() => decodeChunkRefs(bad)).toThrow(expect.objectContaining({ code: 'Corrupt' }) as Error);
    }
  });

  it('add and drop references; the key goes with the last one', async () => {
    const store = new MemoryKvStore();
    await store.applyBatch(1, (t) => {
      addChunkRef(t, ID(1), 5);
      addChunkRef(t, ID(1), 3);
      addChunkRef(t, ID(1), 5);
    });
    expect(chunkRefs(store, ID(1))).toEqual([3, 5]);
    await store.applyBatch(2, (t) => dropChunkRef(t, ID(1), 5));
    expect([...store.get('c/' + ID(1))!]).toEqual([...encodeNumber(3)]);
    await store.applyBatch(3, (t) => dropChunkRef(t, ID(1), 4));
    expect(chunkRefs(store, ID(1))).toEqual([3]);
    await store.applyBatch(4, (t) => dropChunkRef(t, ID(1), 3));
    expect(store.get('c/' + ID(1))).toBeUndefined();
  });
});

describe('copyFile command', () => {
  it('round-trips through the codec and refuses malformed fields', () => {
    const cmd: MetaCommand = { op: 'copyFile', session: { client: 'c', seq: 3, ackedBelow: 2 }, nowMs: 9, from: '/a', to: '/b/c', overwrite: true, createParents: false, inlineTotalBytesMax: 77 };
    expect(decodeMetaCommand(encodeMetaCommand(cmd))).toEqual(cmd);
    const good: unknown[] = [1, MetaTag.CopyFile, 'c', 1, 0, 0, '/a', '/b', 3, 100];
    expect(decodeMetaCommand(pack(good))).toMatchObject({ op: 'copyFile', overwrite: true, createParents: true });
    const refused = (i: number, v: unknown): string => {
      const w = [...good];
      w[i] = v;
      try {
        decodeMetaCommand(pack(w));
        return 'accepted';
      } catch (e) {
        return isCairnError(e) ? e.code : 'other';
      }
    };
    expect(refused(6, 'a')).toBe('InvalidPath');
    expect(refused(7, 5)).toBe('InvalidArgument');
    expect(refused(8, 4)).toBe('InvalidArgument');
    expect(refused(9, -1)).toBe('InvalidArgument');
    expect(() => decodeMetaCommand(pack(good.slice(0, 9)))).toThrow(/takes 4 fields/);
  });
});

describe('copy shares chunks', () => {
  it('the copy has the source content; rm of one copy keeps the other readable; rm of both makes the chunks garbage', async () => {
    const h = harness();
    expect(await h.commit('/src/a', [1, 2])).toEqual({ ok: true });
    expect(await h.copy('/src/a', '/dst/deep/b')).toEqual({ ok: true, size: 20, etag: 'e-1.2' });
    const a = h.st('/src/a');
    const b = h.st('/dst/deep/b');
    expect(b).toEqual({ ok: true, stat: { type: 'file', size: 20, mtime: 9, etag: 'e-1.2', chunks: a.ok ? a.stat.chunks : [] } });
    expect(h.refs()).toEqual({ 1: 2, 2: 2 });
    expect(await h.rm('/src/a')).toEqual({ ok: true });
    expect(h.st('/dst/deep/b')).toMatchObject({ ok: true, stat: { size: 20, chunks: [{ id: ID(1) }, { id: ID(2) }] } });
    expect(h.refs()).toEqual({ 1: 1, 2: 1 });
    expect(await h.rm('/dst', true)).toEqual({ ok: true });
    expect(h.refs()).toEqual({});
  });

  it('overwriting one copy drops only its references; the last copy overwritten makes them garbage', async () => {
    const h = harness();
    await h.commit('/a', [1, 2]);
    await h.copy('/a', '/b');
    await h.copy('/b', '/c');
    expect(h.refs()).toEqual({ 1: 3, 2: 3 });
    expect(await h.commit('/b', [3], true)).toEqual({ ok: true });
    expect(h.refs()).toEqual({ 1: 2, 2: 2, 3: 1 });
    // A copy over a file that already shares the chunks keeps one reference per file.
    expect(await h.copy('/a', '/c', { overwrite: true })).toMatchObject({ ok: true });
    expect(h.refs()).toEqual({ 1: 2, 2: 2, 3: 1 });
    await h.commit('/a', [4], true);
    await h.commit('/c', [5], true);
    expect(h.refs()).toEqual({ 3: 1, 4: 1, 5: 1 });
  });

  it("a client's commit still may not claim a chunk another file holds, but may keep its own shared ones", async () => {
    const h = harness();
    await h.commit('/a', [1, 2]);
    await h.copy('/a', '/b');
    expect(await h.commit('/x', [2])).toMatchObject({ ok: false, code: 'InvalidArgument', message: expect.stringContaining('another file') as string });
    // The path's own errors come first, as before copies existed.
    expect(await h.commit('/a', [2])).toMatchObject({ ok: false, code: 'AlreadyExists' });
    expect(await h.commit('/b', [2, 7], true)).toEqual({ ok: true });
    expect(h.refs()).toEqual({ 1: 1, 2: 2, 7: 1 });
  });

  it('copies an inline file inline, counted in the inline usage and held to the cap', async () => {
    const h = harness();
    await h.put('/s', new Uint8Array([1, 2, 3]));
    expect(await h.copy('/s', '/t')).toEqual({ ok: true, size: 3, etag: 'i3' });
    const t = h.st('/t');
    expect(t.ok && t.stat.inline && [...t.stat.inline.data]).toEqual([1, 2, 3]);
    expect(inlineUsage(h.store)).toEqual({ bytes: 6, files: 2 });
    expect(await h.copy('/s', '/u', { cap: 8 })).toMatchObject({ ok: false, code: 'InlineRefused' });
    expect(await h.rm('/s')).toEqual({ ok: true });
    expect(inlineUsage(h.store)).toEqual({ bytes: 3, files: 1 });
    expect(h.refs()).toEqual({});
  });

  it('follows the destination rules and refuses what cp refuses, writing nothing', async () => {
    const h = harness();
    await h.commit('/d/a', [1]);
    await h.commit('/d/b', [2]);
    const namespaceKeys = () => [...h.store.range()].filter(([k]) => /^(i|e|c)\//.test(k) || k === 'm/next-inode' || k === 'm/inline');
    const before = namespaceKeys();
    expect(await h.copy('/d/none', '/x')).toMatchObject({ ok: false, code: 'NotFound' });
    expect(await h.copy('/d', '/x')).toMatchObject({ ok: false, code: 'IsADirectory' });
    expect(await h.copy('/d/a', '/d/a', { overwrite: true })).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(await h.copy('/d/a', '/d/b')).toMatchObject({ ok: false, code: 'AlreadyExists' });
    expect(await h.copy('/d/a', '/d')).toMatchObject({ ok: false, code: 'IsADirectory' });
    expect(await h.copy('/d/a', '/n/x', { parents: false })).toMatchObject({ ok: false, code: 'NotFound' });
    expect(await h.copy('/d/a/x', '/y')).toMatchObject({ ok: false, code: 'NotADirectory' });
    expect(namespaceKeys()).toEqual(before);
    expect(h.refs()).toEqual({ 1: 1, 2: 1 });
    expect(await h.copy('/d/a', '/d/b', { overwrite: true })).toMatchObject({ ok: true });
    expect(h.refs()).toEqual({ 1: 2 });
  });
});

describe('copy through the state machine', () => {
  it('is deterministic: replicas applying the same commands hold the same keys and values', async () => {
    const h = harness();
    await h.commit('/a', [1, 2, 3]);
    await h.copy('/a', '/b');
    await h.copy('/a', '/c/d');
    await h.rm('/a');
    await h.copy('/b', '/a');
    await h.commit('/b', [9], true);
    const replica = new MemoryKvStore();
    let i = 0;
    for (const cmd of h.log) await replica.applyBatch(++i, (t) => applyMetaCommand(t, decodeMetaCommand(encodeMetaCommand(cmd))));
    const dump = (s: MemoryKvStore) => [...s.range()].map(([k, v]) => [k, Buffer.from(v).toString('hex')]);
    expect(dump(replica)).toEqual(dump(h.store));
  });

  it('applies once: a retry of an applied copy returns its first outcome and copies nothing again', async () => {
    const h = harness();
    await h.commit('/a', [1]);
    const session = { client: 'c2', seq: 1, ackedBelow: 0 };
    expect(await h.copy('/a', '/b', { session })).toEqual({ ok: true, size: 10, etag: 'e-1' });
    expect(await h.rm('/b')).toEqual({ ok: true });
    expect(await h.copy('/a', '/b', { session, nowMs: 50 })).toEqual({ ok: true, size: 10, etag: 'e-1' });
    expect(h.st('/b')).toMatchObject({ ok: false, code: 'NotFound' });
    expect(h.refs()).toEqual({ 1: 1 });
  });
});

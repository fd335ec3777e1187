/**
 * fs.concat in the metadata state machine: the concatFiles command (codec and validation), the
 * joined chunk list (unequal chunk sizes, order kept), the sources removed in the same entry, the
 * reverse chunk index exact afterwards (no garbage, no leak), every refusal writing nothing,
 * determinism across replicas and exactly-once retries.
 */
import { describe, expect, it } from 'vitest';
import { decodeChunkRefs } from '../../../src/meta/chunk-refs.js';
import { decodeMetaCommand, encodeMetaCommand, MetaTag, type MetaCommand } from '../../../src/meta/meta-command.js';
import { applyMetaCommand, type MetaResult } from '../../../src/meta/namespace-machine.js';
import { stat } from '../../../src/meta/namespace.js';
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
  /** A chunked file; chunk n has n bytes (so sizes differ). */
  const commit = (path: string, chunks: number[], overwrite = false): Promise<MetaResult> =>
    run({ op: 'commitFile', session: s(), nowMs: 6, path, file: { size: chunks.reduce((a, b) => a + b, 0), etag: `e-${chunks.join('.')}`, chunks: chunks.map((id) => ({ id: ID(id), size: id, crc: id })) }, overwrite, createParents: true });
  const put = (path: string, data: Uint8Array): Promise<MetaResult> =>
    run({ op: 'putInline', session: s(), nowMs: 5, path, etag: `i${data.length}`, data, crc: 3, overwrite: false, createParents: true, inlineTotalBytesMax: 1000 });
  const copy = (from: string, to: string): Promise<MetaResult> =>
    run({ op: 'copyFile', session: s(), nowMs: 9, from, to, overwrite: false, createParents: true, inlineTotalBytesMax: 1000 });
  const concat = (dir: string, sources: Array<[string, string]>, to: string, o: { overwrite?: boolean; parents?: boolean; session?: Session; attrs?: Record<string, string> } = {}): Promise<MetaResult> =>
    run({ op: 'concatFiles', session: o.session ?? s(), nowMs: 12, dir, sources: sources.map(([name, etag]) => ({ name, etag })), to, etag: 'joined', overwrite: o.overwrite ?? false, createParents: o.parents ?? true, ...(o.attrs ? { attrs: o.attrs } : {}) });
  const st = (p: string) => stat(store, p.slice(1).split('/'));
  /** Chunk id (as its number) → the inodes holding it. */
  const refs = (): Record<number, number[]> => Object.fromEntries([...store.range('c/', 'c0')].map(([k, v]) => [parseInt(k.slice(2), 16), decodeChunkRefs(v)]));
  const dump = (withSessions = true): string =>
    JSON.stringify([...store.range('', '\uffff')].filter(([k]) => withSessions || !/^(r\/|u\/|s\/|m\/sessions)/.test(k)).map(([k, v]) => [k, [...v]]));
  return { store, run, s, commit, put, copy, concat, st, refs, dump, log };
}

describe('concatFiles command', () => {
  it('round-trips through the codec and refuses malformed fields', () => {
    const cmd: MetaCommand = { op: 'concatFiles', session: { client: 'c', seq: 3, ackedBelow: 2 }, nowMs: 9, to: '/b/k', dir: '/u/1', sources: [{ name: 'p1', etag: 'e1' }, { name: 'p2', etag: 'e2' }], etag: 'j', overwrite: true, createParents: false, attrs: { 'content-type': 'x/y' } };
    expect(decodeMetaCommand(encodeMetaCommand(cmd))).toEqual(cmd);
    const { attrs: _a, ...bare } = cmd;
    expect(decodeMetaCommand(encodeMetaCommand(bare))).toEqual(bare);
    const good: unknown[] = [1, MetaTag.ConcatFiles, 'c', 1, 0, 0, '/b', '/u', [['p1', 'e1']], 'j', 3];
    expect(decodeMetaCommand(pack(good))).toMatchObject({ op: 'concatFiles', overwrite: true, createParents: true });
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
    expect(refused(6, 'b')).toBe('InvalidPath');
    expect(refused(7, 5)).toBe('InvalidArgument');
    expect(refused(8, [])).toBe('InvalidArgument');
    expect(refused(8, [['p1', 'e1'], ['p1', 'e2']])).toBe('InvalidArgument');
    expect(refused(8, [['a/b', 'e1']])).toBe('InvalidArgument');
    expect(refused(8, [['p1']])).toBe('InvalidArgument');
    expect(refused(8, [['p1', '']])).toBe('InvalidArgument');
    expect(refused(8, new Array(10_001).fill(0).map((_x, i) => [`p${i}`, 'e']))).toBe('TooLarge');
    expect(refused(9, '')).toBe('InvalidArgument');
    expect(refused(10, 4)).toBe('InvalidArgument');
    expect(refused(11, { 'Bad Name': 'x' })).toBe('InvalidArgument');
    expect(() => decodeMetaCommand(pack(good.slice(0, 10)))).toThrow(/takes 5 fields/);
  });
});

describe('concat', () => {
  it('joins the chunk lists in order (unequal sizes), removes the sources and moves every chunk reference to the new file', async () => {
    const h = harness();
    await h.commit('/u/p1', [5, 7]);
    await h.commit('/u/p2', [11, 3]);
    await h.commit('/u/p3', [2]);
    await h.commit('/u/other', [9]);
    expect(await h.concat('/u', [['p1', 'e-5.7'], ['p2', 'e-11.3'], ['p3', 'e-2']], '/b/deep/k', { attrs: { 's3-etag': 'x-3' } })).toEqual({ ok: true, size: 28, etag: 'joined' });
    const k = h.st('/b/deep/k');
    expect(k).toMatchObject({ ok: true, stat: { type: 'file', size: 28, mtime: 12, etag: 'joined', attrs: { 's3-etag': 'x-3' } } });
    expect(k.ok && k.stat.chunks.map((c) => [c.id, c.size])).toEqual([5, 7, 11, 3, 2].map((n) => [ID(n), n]));
    for (const p of ['/u/p1', '/u/p2', '/u/p3']) expect(h.st(p)).toMatchObject({ ok: false, code: 'NotFound' });
    expect(h.st('/u/other')).toMatchObject({ ok: true });
    // Exactly one reference per chunk, all to the new file's inode (none dropped, none left to a source).
    const r = h.refs();
    expect(Object.keys(r).map(Number).sort((a, b) => a - b)).toEqual([2, 3, 5, 7, 9, 11]);
    const inodes = new Set([5, 7, 11, 3, 2].map((n) => r[n]!.join()));
    expect(inodes.size).toBe(1);
    expect(r[9]!.join()).not.toBe([...inodes][0]);
    // Removing the new file makes its chunks garbage.
    await h.run({ op: 'delete', session: h.s(), nowMs: 13, path: '/b/deep/k', recursive: false });
    expect(h.refs()).toEqual({ 9: r[9] });
  });

  it('an empty source adds nothing; overwriting a file drops only the chunks the new one does not hold', async () => {
    const h = harness();
    await h.commit('/u/a', [4]);
    await h.commit('/u/z', []);
    await h.commit('/k', [4 + 100, 6], false);
    expect(await h.concat('/u', [['a', 'e-4'], ['z', 'e-']], '/k')).toMatchObject({ ok: false, code: 'AlreadyExists' });
    expect(await h.concat('/u', [['a', 'e-4'], ['z', 'e-']], '/k', { overwrite: true })).toEqual({ ok: true, size: 4, etag: 'joined' });
    expect(Object.keys(h.refs()).map(Number)).toEqual([4]);
  });

  it('refuses, writing nothing: a changed source, an inline source, a directory, a missing one, a source as destination, a bad destination, a chunk held twice', async () => {
    const h = harness();
    await h.commit('/u/p1', [5]);
    await h.commit('/u/p2', [6]);
    await h.put('/u/small', new Uint8Array(3));
    await h.run({ op: 'mkdir', session: h.s(), nowMs: 1, path: '/u/d', parents: true });
    await h.copy('/u/p1', '/u/p1copy');
    await h.commit('/file', [8]);
    const before = h.dump(false); // session records aside: each refusal is remembered for its retries
    const cases: Array<[Promise<MetaResult>, string]> = [
      [h.concat('/u', [['p1', 'e-5'], ['p2', 'stale']], '/x'), 'PreconditionFailed'],
      [h.concat('/u', [['p1', 'e-5'], ['small', 'i3']], '/x'), 'InlineRefused'],
      [h.concat('/u', [['d', 'e']], '/x'), 'IsADirectory'],
      [h.concat('/u', [['p1', 'e-5'], ['nope', 'e']], '/x'), 'NotFound'],
      [h.concat('/nodir', [['p1', 'e-5']], '/x'), 'NotFound'],
      [h.concat('/u', [['p1', 'e-5'], ['p2', 'e-6']], '/u/p2', { overwrite: true }), 'InvalidArgument'],
      [h.concat('/u', [['p1', 'e-5']], '/file/below'), 'NotADirectory'],
      [h.concat('/u', [['p1', 'e-5']], '/u/d'), 'IsADirectory'],
      [h.concat('/u', [['p1', 'e-5']], '/m/k', { parents: false }), 'NotFound'],
      [h.concat('/u', [['p1', 'e-5'], ['p1copy', 'e-5']], '/x'), 'InvalidArgument'],
    ];
    for (const [p, code] of cases) expect(await p).toMatchObject({ ok: false, code });
    expect(h.dump(false)).toBe(before);
  });

  it('is exactly-once under a retry and deterministic across replicas', async () => {
    const h = harness();
    await h.commit('/u/p1', [5]);
    await h.commit('/u/p2', [6]);
    const session = h.s();
    const first = await h.concat('/u', [['p1', 'e-5'], ['p2', 'e-6']], '/k', { session });
    expect(first).toEqual({ ok: true, size: 11, etag: 'joined' });
    expect(await h.concat('/u', [['p1', 'e-5'], ['p2', 'e-6']], '/k', { session })).toEqual(first);
    const replica = new MemoryKvStore();
    let i = 0;
    for (const cmd of h.log) await replica.applyBatch(++i, (t) => applyMetaCommand(t, decodeMetaCommand(encodeMetaCommand(cmd))));
    expect(JSON.stringify([...replica.range('', '\uffff')].map(([k, v]) => [k, [...v]]))).toBe(h.dump());
  });
});

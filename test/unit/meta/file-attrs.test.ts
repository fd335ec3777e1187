/**
 * File attributes: their bounds (proto/file-attrs.ts), the stored and wire forms, the RPC and
 * answer decoders, and their life in the state machine — set by commit and put, replaced by an
 * overwrite, kept by mv, checked again at apply, carried by a snapshot to another replica.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { machineHarness } from './machine-harness.js';
import { MetaStateMachine } from '../../../src/consensus/meta-state-machine.js';
import { decodeMetaCommand, encodeMetaCommand, MetaTag, type MetaCommand } from '../../../src/meta/meta-command.js';
import type { MetaResult } from '../../../src/meta/namespace-machine.js';
import { decodeInode, encodeInode } from '../../../src/meta/namespace-keys.js';
import { stat } from '../../../src/meta/namespace.js';
import { ATTRS_BYTES_MAX, ATTRS_KEYS_MAX, attrsFromValue, attrsProblem, attrsToValue } from '../../../src/proto/file-attrs.js';
import { decodeOpen, decodeStat } from '../../../src/proto/meta-answers.js';
import { decodeCommitRequest, decodePutRequest } from '../../../src/proto/meta-requests.js';
import { pack } from '../../../src/proto/msgpack.js';
import { EntryType, type Entry } from '../../../src/raft/types.js';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { CairnError } from '../../../src/util/errors.js';

/** Records with no split inline bytes never read a head. */
const noHead = (): undefined => undefined;
const ID = (n: number): string => n.toString(16).padStart(32, '0');
const root = mkdtempSync(join(tmpdir(), 'cairn-attrs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('attribute bounds', () => {
  it('accepts the documented shapes and names what is wrong with the rest', () => {
    expect(attrsProblem({})).toBeNull();
    expect(attrsProblem({ 'content-type': 'text/plain; charset=utf-8', 'x-amz-meta-a_b.c': 'é ✓ 😀', 's3-etag': '"abc-2"', empty: '' })).toBeNull();
    expect(attrsProblem({ ['k'.repeat(128)]: 'v' })).toBeNull();
    expect(attrsProblem({ v: 'x'.repeat(1024) })).toBeNull();
    expect(attrsProblem(null)).toMatch(/map/);
    expect(attrsProblem(['a', 'b'])).toMatch(/map/);
    expect(attrsProblem({ a: 1 })).toMatch(/string/);
    expect(attrsProblem({ 'Content-Type': 'x' })).toMatch(/attribute name/);
    expect(attrsProblem({ '': 'x' })).toMatch(/attribute name/);
    expect(attrsProblem({ '-a': 'x' })).toMatch(/attribute name/);
    expect(attrsProblem({ __proto__x: 'x' })).toMatch(/attribute name/);
    expect(attrsProblem({ 'a b': 'x' })).toMatch(/attribute name/);
    expect(attrsProblem({ ['k'.repeat(129)]: 'v' })).toMatch(/attribute name/);
    expect(attrsProblem({ v: 'x'.repeat(1025) })).toMatch(/longer than 1024/);
    expect(attrsProblem({ v: 'é'.repeat(513) })).toMatch(/longer than 1024/); // 1026 bytes of UTF-8
    expect(attrsProblem({ v: 'a\nb' })).toMatch(/control/);
    expect(attrsProblem({ v: 'a\u0085b' })).toMatch(/control/);
    expect(attrsProblem({ v: 'a\ud800' })).toMatch(/control/);
    const many = Object.fromEntries(Array.from({ length: ATTRS_KEYS_MAX + 1 }, (_, i) => [`k${i}`, '']));
    expect(attrsProblem(many)).toMatch(/more than 32/);
    const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
    expect(attrsProblem(big)).toMatch(new RegExp(`more than ${ATTRS_BYTES_MAX} bytes`));
  });

  it('the flat form is key-ordered, so equal maps encode alike; a disordered or odd one is refused', () => {
    expect(attrsToValue({ b: '2', a: '1' })).toEqual(['a', '1', 'b', '2']);
    expect(attrsFromValue(['a', '1', 'b', '2'])).toEqual({ a: '1', b: '2' });
    expect(() => attrsFromValue(['b', '2', 'a', '1'])).toThrow(/ascending/);
    expect(() => attrsFromValue(['a', '1', 'a', '2'])).toThrow(/ascending/);
    expect(() => attrsFromValue(['a'])).toThrow(/pairs/);
    expect(() => attrsFromValue(['A', '1'])).toThrow(/attribute name/);
  });
});

describe('attributes in records, commands and RPC bodies', () => {
  it('inode records: with attributes round-trip; records written before them decode with none', () => {
    const chunks = [{ id: ID(1), size: 5, crc: 9 }];
    const withAttrs = { type: 'file' as const, mtime: 1, size: 5, etag: 'e', chunks, attrs: { 'content-type': 'text/plain' } };
    expect(decodeInode(encodeInode(withAttrs).record, noHead)).toEqual(withAttrs);
    expect(decodeInode(pack([1, 1, 5, 'e', [[ID(1), 5, 9]]]), noHead)).toEqual({ type: 'file', mtime: 1, size: 5, etag: 'e', chunks });
    const inline = { type: 'file' as const, mtime: 1, size: 2, etag: 'e', chunks: [], inline: { data: Uint8Array.of(1, 2), crc: 3 }, attrs: { a: 'b' } };
    // Inline bytes come back as a Buffer: compare them apart.
    const plain = (r: ReturnType<typeof decodeInode>) => (r.type === 'file' && r.inline ? { ...r, inline: { crc: r.inline.crc, data: [...r.inline.data] } } : r);
    expect(plain(decodeInode(encodeInode(inline).record, noHead))).toEqual(plain(inline));
    expect(plain(decodeInode(pack([2, 1, 2, 'e', Uint8Array.of(1, 2), 3]), noHead))).toEqual(plain({ ...inline, attrs: undefined }));
    // No attributes: the old form exactly, byte for byte.
    expect(Buffer.from(encodeInode({ ...withAttrs, attrs: {} }).record)).toEqual(Buffer.from(pack([1, 1, 5, 'e', [[ID(1), 5, 9]]])));
    expect(() => decodeInode(pack([1, 1, 5, 'e', [[ID(1), 5, 9]], ['B', 'x']]), noHead)).toThrow(/Corrupt|malformed attributes/);
  });

  it('commands carry attributes as an optional last field; bad ones are refused by the decoder', () => {
    const session = { client: 'c', seq: 2, ackedBelow: 1 };
    const commit: MetaCommand = { op: 'commitFile', session, nowMs: 3, path: '/f', file: { size: 5, etag: 'e', chunks: [{ id: ID(1), size: 5, crc: 1 }], attrs: { 'content-type': 'a/b', z: '' } }, overwrite: false, createParents: true };
    expect(decodeMetaCommand(encodeMetaCommand(commit))).toEqual(commit);
    const put: MetaCommand = { op: 'putInline', session, nowMs: 3, path: '/f', etag: 'e', data: Uint8Array.of(1), crc: 1, overwrite: false, createParents: true, inlineTotalBytesMax: 10, attrs: { a: 'b' } };
    expect(decodeMetaCommand(encodeMetaCommand(put))).toEqual({ ...put, data: expect.any(Uint8Array) as unknown });
    const old = [1, MetaTag.CommitFile, 'c', 2, 1, 3, '/f', 5, 'e', [[ID(1), 5, 1]], 2];
    expect(decodeMetaCommand(pack(old))).toEqual({ ...commit, file: { size: 5, etag: 'e', chunks: [{ id: ID(1), size: 5, crc: 1 }] } });
    const refused = (attrs: unknown): string => {
      try {
        decodeMetaCommand(pack([...old, attrs]));
        return 'accepted';
      } catch (e) {
        return (e as CairnError).code;
      }
    };
    expect(refused(['a', 'b'])).toBe('accepted');
    expect(refused(['A', 'b'])).toBe('InvalidArgument');
    expect(refused(['b', '1', 'a', '2'])).toBe('InvalidArgument');
    expect(refused({ a: 'b' })).toBe('InvalidArgument');
    expect(() => decodeMetaCommand(pack([...old, ['a', 'b'], 'extra']))).toThrow(/takes 5 fields/);
  });

  it('fs.commit and fs.put bodies: attrs is an optional map, checked; answers carry it only when set', () => {
    const s = ['c', 1, 0];
    const base = { path: '/f', size: 0, etag: 'e', chunks: [], s };
    expect(decodeCommitRequest(base).attrs).toBeUndefined();
    expect(decodeCommitRequest({ ...base, attrs: { b: '1', a: '2' } }).attrs).toEqual({ a: '2', b: '1' });
    expect(() => decodeCommitRequest({ ...base, attrs: { a: 'x\u0000' } })).toThrow(/attrs: attribute a holds a control character/);
    expect(() => decodePutRequest({ path: '/f', data: Uint8Array.of(1), crc: 1, s, attrs: 'text/plain' })).toThrow(/attrs/);
    expect(decodePutRequest({ path: '/f', data: Uint8Array.of(1), crc: 1, s, attrs: { 'content-type': 'text/plain' } }).attrs).toEqual({ 'content-type': 'text/plain' });
    const st = { path: '/f', type: 'file', size: 0, mtime: 1, etag: 'e', chunks: [] };
    expect(decodeStat(st).attrs).toBeUndefined();
    expect(decodeStat({ ...st, attrs: { a: 'b' } }).attrs).toEqual({ a: 'b' });
    expect(() => decodeStat({ ...st, attrs: { a: 5 } })).toThrow(/fs.stat answer: attrs must be an attribute map/);
    expect(decodeOpen({ size: 0, etag: 'e', mtime: 1, total: 0, chunks: [], attrs: { a: 'b' } }).attrs).toEqual({ a: 'b' });
  });
});

describe('attributes in the state machine', () => {
  function harness() {
    const { store, run, s } = machineHarness();
    const commit = (path: string, id: number, attrs?: Record<string, string>, overwrite = false): Promise<MetaResult> =>
      run({ op: 'commitFile', session: s(), nowMs: 6, path, file: { size: 4, etag: 'ec', chunks: [{ id: ID(id), size: 4, crc: 1 }], ...(attrs ? { attrs } : {}) }, overwrite, createParents: true });
    const put = (path: string, attrs?: Record<string, string>, overwrite = false): Promise<MetaResult> =>
      run({ op: 'putInline', session: s(), nowMs: 5, path, etag: 'ei', data: Uint8Array.of(7), crc: 1, overwrite, createParents: true, inlineTotalBytesMax: 100, ...(attrs ? { attrs } : {}) });
    const attrsOf = (p: string) => {
      const r = stat(store, p.slice(1).split('/'));
      if (!r.ok) throw new Error(r.message);
      return r.stat.attrs;
    };
    return { store, run, s, commit, put, attrsOf };
  }

  it('a commit or put sets them, an overwrite replaces them (with none: none), mv keeps them', async () => {
    const h = harness();
    expect(await h.commit('/a/f', 1, { 'content-type': 'text/plain', 'x-amz-meta-k': 'v' })).toEqual({ ok: true });
    expect(h.attrsOf('/a/f')).toEqual({ 'content-type': 'text/plain', 'x-amz-meta-k': 'v' });
    expect(await h.run({ op: 'rename', session: h.s(), nowMs: 7, from: '/a', to: '/b' })).toEqual({ ok: true });
    expect(h.attrsOf('/b/f')).toEqual({ 'content-type': 'text/plain', 'x-amz-meta-k': 'v' });
    expect(await h.commit('/b/f', 2, { 'content-type': 'image/png' }, true)).toEqual({ ok: true });
    expect(h.attrsOf('/b/f')).toEqual({ 'content-type': 'image/png' });
    expect(await h.put('/b/f', { 'cache-control': 'no-cache' }, true)).toEqual({ ok: true });
    expect(h.attrsOf('/b/f')).toEqual({ 'cache-control': 'no-cache' });
    expect(await h.commit('/b/f', 3, undefined, true)).toEqual({ ok: true });
    expect(h.attrsOf('/b/f')).toBeUndefined();
    expect(h.attrsOf('/b')).toBeUndefined();
  });

  it('apply checks them again: an invalid map is refused and writes nothing', async () => {
    const h = harness();
    const bad = { 'content-type': 'a\nb' };
    expect(await h.commit('/f', 1, bad)).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(await h.put('/g', { BAD: 'x' })).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(stat(h.store, ['f'])).toMatchObject({ ok: false, code: 'NotFound' });
    expect(stat(h.store, ['g'])).toMatchObject({ ok: false, code: 'NotFound' });
    expect([...h.store.range('c/', 'c0')]).toEqual([]);
  });

  it('a snapshot carries them to another replica', async () => {
    const a = await LmdbStateStore.open(join(root, 'a'));
    const b = await LmdbStateStore.open(join(root, 'b'));
    try {
      const sa = new MetaStateMachine(a);
      const sb = new MetaStateMachine(b);
      let seq = 0;
      const entry = (index: number, cmd: MetaCommand): Entry => ({ term: 1, index, type: EntryType.Normal, data: encodeMetaCommand(cmd) });
      const s = () => ({ client: 't', seq: ++seq, ackedBelow: seq });
      await sa.apply([
        entry(1, { op: 'commitFile', session: s(), nowMs: 1, path: '/d/c', file: { size: 3, etag: 'e', chunks: [{ id: ID(9), size: 3, crc: 2 }], attrs: { 'content-type': 'text/csv' } }, overwrite: false, createParents: true }),
        entry(2, { op: 'putInline', session: s(), nowMs: 2, path: '/d/i', etag: 'e', data: Uint8Array.of(1), crc: 1, overwrite: false, createParents: true, inlineTotalBytesMax: 10, attrs: { 's3-etag': '"x"' } }),
      ]);
      const reader = await sa.openSnapshot();
      const writer = sb.beginSnapshotWrite();
      try {
        for (let piece = await reader.next(4096); piece; piece = await reader.next(4096)) await writer.write(piece);
        await writer.finish(reader.index);
      } finally {
        reader.close();
      }
      await sb.installSnapshot(2);
      expect(sb.stat('/d/c')).toMatchObject({ ok: true, stat: { attrs: { 'content-type': 'text/csv' } } });
      expect(sb.stat('/d/i')).toMatchObject({ ok: true, stat: { attrs: { 's3-etag': '"x"' } } });
    } finally {
      await a.close();
      await b.close();
    }
  });
});

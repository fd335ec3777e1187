/** Namespace calls over the real namespace machine: answers, replicas from the term's registry, errors, inline files. */
import { describe, expect, it } from 'vitest';
import { readOrder } from '../../../src/placement/index.js';
import { decodeOpen } from '../../../src/proto/meta-answers.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { contentEtag } from '../../../src/util/content-etag.js';
import { harness, server } from './helpers.js';

const A = 'a1'.repeat(16);
const B = 'b2'.repeat(16);
let seq = 0;
const s = (): unknown[] => ['client-1', ++seq, 0];

describe('NamespaceCalls', () => {
  it('writes through Raft with the client session; reads list, walk and stat the committed namespace', async () => {
    const h = harness();
    expect(await h.call('fs.mkdir', { path: '/d/e', parents: true, s: s() })).toEqual({});
    const commit = await h.call('fs.commit', { path: '/d/f', size: 5, etag: 'x', chunks: [[A, 2, 1], [B, 3, 2]], s: s() });
    expect(commit).toEqual({ path: '/d/f', size: 5, etag: 'x', mtime: 1_700_000_000_000 + h.time.nowMs() });
    expect(await h.call('fs.list', { path: '/d' })).toEqual({
      entries: [
        { name: 'e', path: '/d/e', type: 'dir', size: 0, mtime: expect.any(Number) },
        { name: 'f', path: '/d/f', type: 'file', size: 5, mtime: expect.any(Number) },
      ],
      cursor: null,
    });
    const walk = (await h.call('fs.walk', { path: '/', limit: 2 })) as { entries: Array<{ path: string }>; cursor: string | null };
    expect(walk.entries.map((e) => e.path)).toEqual(['/d', '/d/e']);
    expect(walk.cursor).not.toBeNull();
    // A file lists as itself, at its own path; a directory holding a file of its own name lists that file.
    expect(await h.call('fs.list', { path: '/d/f' })).toEqual({ entries: [{ name: 'f', path: '/d/f', type: 'file', size: 5, mtime: expect.any(Number) }], cursor: null });
    expect(await h.call('fs.mkdir', { path: '/d/e', parents: true, s: s() })).toEqual({});
    await h.call('fs.commit', { path: '/d/e/e', size: 2, etag: 'y', chunks: [['c3'.repeat(16), 2, 1]], s: s() });
    expect(await h.call('fs.list', { path: '/d/e' })).toMatchObject({ entries: [{ name: 'e', path: '/d/e/e', type: 'file' }], cursor: null });
    await h.call('fs.rm', { path: '/d/e/e', recursive: false, s: s() });
    expect(await h.call('fs.mv', { from: '/d/f', to: '/g', s: s() })).toEqual({});
    expect((await h.refusal('fs.stat', { path: '/d/f' })).code).toBe('NotFound');
    expect((await h.refusal('fs.rm', { path: '/d', recursive: false, s: s() })).code).toBe('NotEmpty');
    expect((await h.refusal('fs.stat', { path: '/a/../b' })).code).toBe('InvalidPath');
    expect(await h.call('fs.statLocal', { paths: ['/g', '/d', '/nope'] })).toMatchObject({ types: ['file', 'dir', null] });
    expect(h.raft.reads).toBe(6);
  });

  it('fs.copy commits a copy sharing the source chunks through Raft and answers like fs.commit', async () => {
    const h = harness();
    await h.call('fs.commit', { path: '/f', size: 5, etag: 'x', chunks: [[A, 2, 1], [B, 3, 2]], s: s() });
    const copy = await h.call('fs.copy', { from: '/f', to: '/n/g', s: s() });
    expect(copy).toEqual({ path: '/n/g', size: 5, etag: 'x', mtime: 1_700_000_000_000 + h.time.nowMs() });
    expect(await h.call('fs.stat', { path: '/n/g' })).toMatchObject({ size: 5, etag: 'x', chunks: [{ id: A }, { id: B }] });
    expect((await h.refusal('fs.copy', { from: '/f', to: '/n/g', s: s() })).code).toBe('AlreadyExists');
    expect((await h.refusal('fs.copy', { from: '/n', to: '/h', s: s() })).code).toBe('IsADirectory');
    expect((await h.refusal('fs.copy', { from: '/f', to: '/x/y', parents: false, s: s() })).code).toBe('NotFound');
  });

  it('fs.concat joins files through Raft (etag from the joined chunks), removes them, and offsets follow the unequal chunks', async () => {
    const h = harness();
    const C = 'c3'.repeat(16);
    await h.call('fs.commit', { path: '/u/p1', size: 5, etag: 'x', chunks: [[A, 2, 1], [B, 3, 2]], s: s() });
    await h.call('fs.commit', { path: '/u/p2', size: 7, etag: 'y', chunks: [[C, 7, 3]], s: s() });
    await h.call('fs.put', { path: '/u/small', data: new Uint8Array([1, 2]), crc: crc32c(new Uint8Array([1, 2])), s: s() });
    expect((await h.refusal('fs.concat', { dir: '/u', names: ['p1', 'small'], to: '/k', s: s() })).code).toBe('InlineRefused');
    const out = await h.call('fs.concat', { dir: '/u', names: ['p2', 'p1'], to: '/b/k', attrs: { 's3-etag': 'm-2' }, s: s() });
    const etag = contentEtag(12, [{ size: 7, crc: 3 }, { size: 2, crc: 1 }, { size: 3, crc: 2 }]);
    expect(out).toEqual({ path: '/b/k', size: 12, etag, mtime: 1_700_000_000_000 + h.time.nowMs() });
    expect(await h.call('fs.stat', { path: '/b/k' })).toMatchObject({ size: 12, etag, attrs: { 's3-etag': 'm-2' }, chunks: [{ id: C }, { id: A }, { id: B }] });
    expect(decodeOpen(await h.call('fs.open', { path: '/b/k' })).chunks.map((c) => c.offset)).toEqual([0, 7, 9]);
    expect((await h.refusal('fs.stat', { path: '/u/p1' })).code).toBe('NotFound');
    expect((await h.refusal('fs.concat', { dir: '/u', names: ['p1'], to: '/k', s: s() })).code).toBe('NotFound');
  });

  it('stat and open name the live replicas this term knows; open falls back on the ring order and pages', async () => {
    const h = harness();
    await h.joinServers(['c1', 'c2', 'c3', 'c4'], { c4: [A], c2: [A] });
    await h.call('fs.commit', { path: '/f', size: 5, etag: 'x', chunks: [[A, 2, 1], [B, 3, 2]], s: s() });
    const st = await h.call('fs.stat', { path: '/f' });
    expect(st).toMatchObject({ path: '/f', type: 'file', size: 5, etag: 'x', chunks: [{ id: A, size: 2, crc: 1, replicas: ['c2', 'c4'] }, { id: B, size: 3, crc: 2, replicas: [] }] });
    const ring = h.raft.ring();
    const orderA = readOrder(ring, A, 3);
    const open = (await h.call('fs.open', { path: '/f' })) as { total: number; chunks: Array<{ id: string; offset: number; replicas: Array<{ id: string }>; token: string }> };
    expect(open).toMatchObject({ size: 5, etag: 'x', total: 2 });
    const wantA = [...orderA.filter((x) => ['c2', 'c4'].includes(x)), ...['c2', 'c4'].filter((x) => !orderA.includes(x))];
    expect(open.chunks[0]!.replicas.map((r) => r.id)).toEqual(wantA);
    expect(open.chunks[0]!.token).toBe(`read:${A}`);
    expect(open.chunks[1]).toMatchObject({ id: B, offset: 2, replicas: readOrder(ring, B, 3).map((id) => ({ id, addr: `${id}.chunk:8000` })) });
    const page = (await h.call('fs.open', { path: '/f', first: 1, count: 1 })) as { chunks: Array<{ id: string; offset: number }> };
    expect(page.chunks.map((c) => [c.id, c.offset])).toEqual([[B, 2]]);
    expect((await h.refusal('fs.open', { path: '/' })).code).toBe('IsADirectory');
    // A reader found c4's replica bad: a hint. It still counts, and c4 is asked to verify it.
    expect(await h.call('fs.bad', { id: A, server: 'c4' })).toEqual({});
    expect(await h.call('fs.stat', { path: '/f' })).toMatchObject({ chunks: [{ replicas: ['c2', 'c4'] }, { replicas: [] }] });
    expect(await h.call('cs.work', { waitMs: 0 }, server('c4'))).toMatchObject({ commands: [{ op: 'verify', id: A }] });
    // c4 found it corrupt (deleted) or missing and reports it gone: only now it no longer counts.
    await h.call('cs.update', { added: [], removed: [A] }, server('c4'));
    expect(await h.call('fs.stat', { path: '/f' })).toMatchObject({ chunks: [{ replicas: ['c2'] }, { replicas: [] }] });
    await h.call('cs.update', { added: [B], removed: [] }, server('c1'));
    expect(await h.call('fs.stat', { path: '/f' })).toMatchObject({ chunks: [{ replicas: ['c2'] }, { replicas: ['c1'] }] });
  });
});

describe('NamespaceCalls: inline files (fs.put)', () => {
  const data = Buffer.from('small file bytes');
  const put = (path: string, bytes: Uint8Array = data, extra: Record<string, unknown> = {}) => ({ path, data: bytes, crc: crc32c(bytes), s: s(), ...extra });

  it('stores a small file in one Raft entry with a content-derived etag; open answers its bytes, stat no chunks', async () => {
    const h = harness();
    const r = await h.call('fs.put', put('/d/f'));
    expect(r).toEqual({ path: '/d/f', size: data.length, etag: inlineEtag(data), mtime: 1_700_000_000_000 + h.time.nowMs() });
    expect(h.raft.proposals).toBe(1);
    const open = decodeOpen(await h.call('fs.open', { path: '/d/f' }));
    expect(open).toMatchObject({ size: data.length, etag: inlineEtag(data), total: 0, chunks: [], inline: { crc: crc32c(data) } });
    expect(Buffer.from(open.inline!.data).equals(data)).toBe(true);
    expect(await h.call('fs.stat', { path: '/d/f' })).toMatchObject({ type: 'file', size: data.length, etag: inlineEtag(data), chunks: [] });
    expect(await h.call('fs.list', { path: '/d' })).toMatchObject({ entries: [{ name: 'f', size: data.length }] });
    // Without overwrite an existing file is refused; with it, replaced.
    expect((await h.refusal('fs.put', put('/d/f'))).code).toBe('AlreadyExists');
    expect(await h.call('fs.put', put('/d/f', Buffer.from('new'), { overwrite: true }))).toMatchObject({ size: 3, etag: inlineEtag(Buffer.from('new')) });
    expect(await h.call('cluster.repair')).toMatchObject({ inlineFiles: 1, inlineBytes: 3 });
  });

  it('refuses over the threshold (at most one chunk) with the threshold in the detail, before proposing', async () => {
    const h = harness({ inlineBytesMax: 100, chunkSizeBytes: 64 });
    const e = await h.refusal('fs.put', put('/f', Buffer.alloc(65)));
    expect(e.code).toBe('InlineRefused');
    expect(e.detail).toEqual({ inlineBytesMax: 64 });
    expect(h.raft.proposals).toBe(0);
    expect(await h.call('fs.put', put('/f', Buffer.alloc(64)))).toMatchObject({ size: 64 });
    const off = harness({ inlineBytesMax: 0 });
    expect((await off.refusal('fs.put', put('/f', Buffer.alloc(1)))).detail).toEqual({ inlineBytesMax: 0 });
  });

  it('refuses bytes that fail their CRC (Corrupt) and, past the cluster cap, InlineRefused', async () => {
    const h = harness({ inlineTotalBytesMax: 40 });
    expect((await h.refusal('fs.put', { ...put('/f'), crc: (crc32c(data) ^ 1) >>> 0 })).code).toBe('Corrupt');
    expect(await h.call('fs.put', put('/a', Buffer.alloc(30)))).toMatchObject({ size: 30 });
    const e = await h.refusal('fs.put', put('/b', Buffer.alloc(11)));
    expect(e.code).toBe('InlineRefused');
    expect(e.detail).toEqual({ inlineBytesMax: 64 * 1024 });
    expect(h.raft.proposals).toBe(1); // the early check, no Raft entry
    expect(await h.call('fs.put', put('/b', Buffer.alloc(10)))).toMatchObject({ size: 10 });
  });

  it('a retry of the same request (same s) returns the first answer and stores once, even at the cap', async () => {
    const h = harness({ inlineTotalBytesMax: data.length });
    const req = put('/r');
    expect(await h.call('fs.put', req)).toMatchObject({ etag: inlineEtag(data) });
    expect(await h.call('fs.put', req)).toMatchObject({ etag: inlineEtag(data) }); // not AlreadyExists
    expect(await h.call('cluster.repair')).toMatchObject({ inlineFiles: 1, inlineBytes: data.length });
  });
});

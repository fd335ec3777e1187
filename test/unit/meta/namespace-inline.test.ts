/**
 * Inline files in the metadata state machine: the putInline command (codec and validation), the
 * inode record that holds the bytes, replacing files chunked ↔ inline (the replaced chunks become
 * garbage), mv / rm / rm -r, the replicated inline-usage counter and the cap enforced at apply,
 * and exactly-once retries.
 */
import { describe, expect, it } from 'vitest';
import { machineHarness } from './machine-harness.js';
import { decodeMetaCommand, encodeMetaCommand, MetaTag, type MetaCommand } from '../../../src/meta/meta-command.js';
import type { MetaResult } from '../../../src/meta/namespace-machine.js';
import { decodeInode, encodeInode, inlineHeadKey, inodeKey, splitInline, summarizeInode } from '../../../src/meta/namespace-keys.js';
import { inlineUsage, list, stat } from '../../../src/meta/namespace.js';
import { INLINE_FILE_BYTES_MAX } from '../../../src/proto/meta-fields.js';
import { pack } from '../../../src/proto/msgpack.js';
import { isCairnError } from '../../../src/util/errors.js';

const ID = (n: number): string => n.toString(16).padStart(32, '0');
const CAP = 1000;

function harness() {
  const { store, run, s } = machineHarness();
  const put = (path: string, data: Uint8Array, o: { overwrite?: boolean; cap?: number; session?: { client: string; seq: number; ackedBelow: number } } = {}): Promise<MetaResult> =>
    run({ op: 'putInline', session: o.session ?? s(), nowMs: 5, path, etag: `e${data.length}`, data, crc: data.length * 7, overwrite: o.overwrite ?? false, createParents: true, inlineTotalBytesMax: o.cap ?? CAP });
  const commit = (path: string, chunks: Array<[number, number]>, overwrite = false): Promise<MetaResult> =>
    run({
      op: 'commitFile',
      session: s(),
      nowMs: 6,
      path,
      file: { size: chunks.reduce((a, [, sz]) => a + sz, 0), etag: 'ec', chunks: chunks.map(([id, size]) => ({ id: ID(id), size, crc: 1 })) },
      overwrite,
      createParents: true,
    });
  const segs = (p: string) => p.slice(1).split('/');
  const st = (p: string) => stat(store, segs(p));
  const chunkKeys = () => [...store.range('c/', 'c0')].map(([k]) => k.slice(2));
  return { store, run, s, put, commit, st, chunkKeys, usage: () => inlineUsage(store) };
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('putInline command', () => {
  it('round-trips through the codec with its bytes, crc, flags and cap', () => {
    const data = bytes(300);
    const cmd: MetaCommand = { op: 'putInline', session: { client: 'c', seq: 3, ackedBelow: 2 }, nowMs: 9, path: '/a/b', etag: 'x', data, crc: 0xffffffff, overwrite: true, createParents: false, inlineTotalBytesMax: 12345 };
    const back = decodeMetaCommand(encodeMetaCommand(cmd));
    expect(back).toEqual({ ...cmd, data: expect.any(Uint8Array) as unknown });
    expect(Buffer.from((back as { data: Uint8Array }).data).equals(Buffer.from(data))).toBe(true);
  });

  it('refuses malformed fields: bytes that are not bytes or too many, a crc out of range, a bad etag, flags, cap', () => {
    const good: unknown[] = [1, MetaTag.PutInline, 'c', 1, 0, 0, '/f', 'etag', new Uint8Array(3), 5, 3, 100];
    const refused = (i: number, v: unknown): string => {
      const w = [...good];
      w[i] = v;
      try {
        decodeMetaCommand(pack(w));
      } catch (e) {
        if (isCairnError(e)) return e.code;
      }
      return 'accepted';
    };
    expect(refused(8, new Uint8Array(3))).toBe('accepted');
    expect(refused(8, 'abc')).toBe('InvalidArgument');
    expect(refused(8, [1, 2, 3])).toBe('InvalidArgument');
    expect(refused(8, new Uint8Array(INLINE_FILE_BYTES_MAX + 1))).toBe('TooLarge');
    expect(refused(9, -1)).toBe('InvalidArgument');
    expect(refused(9, 2 ** 32)).toBe('InvalidArgument');
    expect(refused(7, '')).toBe('InvalidArgument');
    expect(refused(10, 4)).toBe('InvalidArgument');
    expect(refused(11, -1)).toBe('InvalidArgument');
    expect(refused(6, '/a/../b')).toBe('InvalidPath');
    expect(() => decodeMetaCommand(pack(good.slice(0, 11)))).toThrow(/takes 6 fields/);
  });

  it('an inline inode record keeps the bytes and their crc; a malformed one is Corrupt', () => {
    const data = bytes(10);
    const rec = decodeInode(encodeInode({ type: 'file', mtime: 1, size: 10, etag: 'e', chunks: [], inline: { data, crc: 42 } }).record, () => undefined);
    expect(rec).toMatchObject({ type: 'file', mtime: 1, size: 10, etag: 'e', chunks: [], inline: { crc: 42 } });
    expect(rec.type === 'file' && Buffer.from(rec.inline!.data).equals(Buffer.from(data))).toBe(true);
    expect(() => decodeInode(pack([2, 1, 11, 'e', data, 42]), () => undefined)).toThrow(expect.objectContaining({ code: 'Corrupt' }));
  });
});

describe('inline files in the namespace', () => {
  it('stores the bytes with the entry: stat, ls and the usage counter see the file', async () => {
    const h = harness();
    const data = bytes(100);
    expect(await h.put('/d/f', data)).toEqual({ ok: true });
    const st = h.st('/d/f');
    expect(st.ok && st.stat).toMatchObject({ type: 'file', size: 100, mtime: 5, etag: 'e100', chunks: [], inline: { crc: 700 } });
    expect(st.ok && Buffer.from(st.stat.inline!.data).equals(Buffer.from(data))).toBe(true);
    expect(list(h.store, ['d'])).toMatchObject({ ok: true, entries: [{ name: 'f', type: 'file', size: 100, mtime: 5 }] });
    expect(h.usage()).toEqual({ bytes: 100, files: 1 });
    expect(h.chunkKeys()).toEqual([]);
    // Without overwrite an existing file is refused, as for a commit.
    expect(await h.put('/d/f', bytes(5))).toMatchObject({ ok: false, code: 'AlreadyExists' });
    expect(await h.put('/d', bytes(5), { overwrite: true })).toMatchObject({ ok: false, code: 'IsADirectory' });
    expect(h.usage()).toEqual({ bytes: 100, files: 1 });
  });

  it('overwrite chunked → inline makes the old chunks garbage; inline → chunked frees the inline bytes', async () => {
    const h = harness();
    expect(await h.commit('/f', [[1, 10], [2, 20]])).toEqual({ ok: true });
    expect(h.chunkKeys()).toEqual([ID(1), ID(2)]);
    expect(await h.put('/f', bytes(30), { overwrite: true })).toEqual({ ok: true });
    expect(h.chunkKeys()).toEqual([]); // unreferenced: the chunk servers' copies are garbage now
    expect(h.st('/f')).toMatchObject({ ok: true, stat: { size: 30, chunks: [], etag: 'e30' } });
    expect(h.usage()).toEqual({ bytes: 30, files: 1 });
    // inline → inline: the counter follows the size.
    expect(await h.put('/f', bytes(70), { overwrite: true })).toEqual({ ok: true });
    expect(h.usage()).toEqual({ bytes: 70, files: 1 });
    // inline → chunked.
    expect(await h.commit('/f', [[3, 5]], true)).toEqual({ ok: true });
    const st = h.st('/f');
    expect(st.ok && st.stat.inline).toBeUndefined();
    expect(st.ok && st.stat.chunks.map((c) => c.id)).toEqual([ID(3)]);
    expect(h.chunkKeys()).toEqual([ID(3)]);
    expect(h.usage()).toEqual({ bytes: 0, files: 0 });
  });

  it('mv keeps the bytes and the count; rm and rm -r give the bytes back', async () => {
    const h = harness();
    await h.put('/a/x', bytes(10));
    await h.put('/a/b/y', bytes(20));
    await h.put('/a/b/c/z', bytes(30));
    await h.commit('/a/b/w', [[9, 4]]);
    expect(h.usage()).toEqual({ bytes: 60, files: 3 });
    expect(await h.run({ op: 'rename', session: h.s(), nowMs: 7, from: '/a/b', to: '/m' })).toEqual({ ok: true });
    expect(h.st('/m/y')).toMatchObject({ ok: true, stat: { size: 20, inline: {} } });
    expect(h.usage()).toEqual({ bytes: 60, files: 3 });
    expect(await h.run({ op: 'delete', session: h.s(), nowMs: 8, path: '/a/x', recursive: false })).toEqual({ ok: true });
    expect(h.usage()).toEqual({ bytes: 50, files: 2 });
    expect(await h.run({ op: 'delete', session: h.s(), nowMs: 8, path: '/m', recursive: true })).toEqual({ ok: true });
    expect(h.usage()).toEqual({ bytes: 0, files: 0 });
    expect(h.chunkKeys()).toEqual([]);
  });

  it('enforces the cap carried by the command when it is applied, counting the replaced inline bytes', async () => {
    const h = harness();
    expect(await h.put('/a', bytes(600))).toEqual({ ok: true });
    const over = await h.put('/b', bytes(401));
    expect(over).toMatchObject({ ok: false, code: 'InlineRefused' });
    expect(h.st('/b')).toMatchObject({ ok: false, code: 'NotFound' });
    expect(h.usage()).toEqual({ bytes: 600, files: 1 });
    expect(await h.put('/b', bytes(400))).toEqual({ ok: true }); // exactly at the cap
    expect(h.usage()).toEqual({ bytes: 1000, files: 2 });
    // Replacing /a: 1000 - 600 + 600 fits; + 601 does not.
    expect(await h.put('/a', bytes(601), { overwrite: true })).toMatchObject({ ok: false, code: 'InlineRefused' });
    expect(await h.put('/a', bytes(600, 9), { overwrite: true })).toEqual({ ok: true });
    // The cap is the command's: another leader's larger cap lets it in (every replica decides alike).
    expect(await h.put('/c', bytes(10), { cap: 1010 })).toEqual({ ok: true });
    expect(h.usage()).toEqual({ bytes: 1010, files: 3 });
  });

  it('a retried put returns its first outcome and applies nothing again', async () => {
    const h = harness();
    const session = { client: 'c9', seq: 1, ackedBelow: 0 };
    expect(await h.put('/r', bytes(10), { session })).toEqual({ ok: true });
    expect(await h.put('/r', bytes(10), { session })).toEqual({ ok: true }); // not AlreadyExists
    expect(h.usage()).toEqual({ bytes: 10, files: 1 });
    const refused = { client: 'c9', seq: 2, ackedBelow: 1 };
    expect(await h.put('/big', bytes(CAP + 1), { session: refused })).toMatchObject({ ok: false, code: 'InlineRefused' });
    // The first outcome stands even though the same request would fit now (a larger cap).
    expect(await h.put('/big', bytes(CAP + 1), { session: refused, cap: 10 * CAP })).toMatchObject({ ok: false, code: 'InlineRefused' });
    expect(h.st('/big')).toMatchObject({ ok: false, code: 'NotFound' });
  });
});

describe('inline bytes cut at LMDB page ends', () => {
  it('splitInline cuts after whole overflow pages (k × 4096 − 24 bytes) when at most 1 KiB is left over', () => {
    expect(splitInline(0)).toBe(0);
    expect(splitInline(100)).toBe(0);
    expect(splitInline(4071)).toBe(0); // with LMDB's page header it fits one page as it is
    expect(splitInline(4072)).toBe(4072);
    expect(splitInline(4096)).toBe(4072);
    expect(splitInline(4072 + 1024)).toBe(4072);
    expect(splitInline(4072 + 1025)).toBe(0); // the rest would not stay small: kept whole
    expect(splitInline(8192)).toBe(8168);
    expect(splitInline(65536)).toBe(65512);
  });

  it('a split record reads back whole; a missing or wrong head is Corrupt; summaries need no head', () => {
    const data = bytes(4096);
    const { record, head } = encodeInode({ type: 'file', mtime: 1, size: 4096, etag: 'e', chunks: [], inline: { data, crc: 42 } });
    expect(head?.length).toBe(4072);
    expect(record.length).toBeLessThan(100);
    const rec = decodeInode(record, () => head);
    expect(rec.type === 'file' && Buffer.from(rec.inline!.data).equals(Buffer.from(data))).toBe(true);
    expect(rec).toMatchObject({ size: 4096, etag: 'e', inline: { crc: 42 } });
    expect(() => decodeInode(record, () => undefined)).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    expect(() => decodeInode(record, () => head!.subarray(1))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    expect(summarizeInode(record)).toEqual({ type: 'file', mtime: 1, size: 4096, inline: true });
    // A 4 KiB file stored whole (the form written before the cut) still reads.
    const whole = decodeInode(pack([2, 1, 4096, 'e', data, 42]), () => undefined);
    expect(whole.type === 'file' && Buffer.from(whole.inline!.data).equals(Buffer.from(data))).toBe(true);
    expect(summarizeInode(pack([0, 3]))).toEqual({ type: 'dir', mtime: 3, size: 0, inline: false });
    expect(summarizeInode(pack([1, 1, 5, 'e', []]))).toEqual({ type: 'file', mtime: 1, size: 5, inline: false });
    expect(() => summarizeInode(pack([4, 1, 5, 'e', []]))).toThrow(expect.objectContaining({ code: 'Corrupt' }));
  });

  it('put, overwrite, mv, cp, rm and rm -r keep each head with its file and leave none behind', async () => {
    const h = harness();
    const cap = { cap: 1 << 20 };
    const heads = () => [...h.store.range('b/', 'b0')].map(([k, v]) => [k, v.length]);
    const same = (p: string, data: Uint8Array) => {
      const st = h.st(p);
      return st.ok && Buffer.from(st.stat.inline!.data).equals(Buffer.from(data));
    };
    const four = bytes(4096, 3);
    expect(await h.put('/d/f', four, cap)).toEqual({ ok: true });
    expect(heads()).toHaveLength(1);
    expect(heads()[0]![1]).toBe(4072);
    expect(same('/d/f', four)).toBe(true);
    expect(list(h.store, ['d'])).toMatchObject({ ok: true, entries: [{ name: 'f', type: 'file', size: 4096 }] });
    // split → whole (small), whole → split, split → split of another length, split → chunked.
    expect(await h.put('/d/f', bytes(50), { ...cap, overwrite: true })).toEqual({ ok: true });
    expect(heads()).toEqual([]);
    const eight = bytes(8192, 5);
    expect(await h.put('/d/f', eight, { ...cap, overwrite: true })).toEqual({ ok: true });
    expect(heads().map(([, n]) => n)).toEqual([8168]);
    expect(same('/d/f', eight)).toBe(true);
    expect(await h.put('/d/f', four, { ...cap, overwrite: true })).toEqual({ ok: true });
    expect(heads().map(([, n]) => n)).toEqual([4072]);
    expect(same('/d/f', four)).toBe(true);
    expect(await h.commit('/d/f', [[1, 9]], true)).toEqual({ ok: true });
    expect(heads()).toEqual([]);
    // mv keeps the head (it belongs to the inode); cp makes the copy one of its own.
    expect(await h.put('/d/g', four, cap)).toEqual({ ok: true });
    expect(await h.run({ op: 'rename', session: h.s(), nowMs: 7, from: '/d/g', to: '/e/g' })).toMatchObject({ ok: false }); // no parent /e
    expect(await h.run({ op: 'rename', session: h.s(), nowMs: 7, from: '/d/g', to: '/d/h' })).toEqual({ ok: true });
    expect(same('/d/h', four)).toBe(true);
    expect(await h.run({ op: 'copyFile', session: h.s(), nowMs: 7, from: '/d/h', to: '/x/c', overwrite: false, createParents: true, inlineTotalBytesMax: 1 << 20 })).toMatchObject({ ok: true, size: 4096 });
    expect(heads()).toHaveLength(2);
    expect(same('/x/c', four)).toBe(true);
    expect(await h.run({ op: 'delete', session: h.s(), nowMs: 8, path: '/d/h', recursive: false })).toEqual({ ok: true });
    expect(heads()).toHaveLength(1);
    expect(same('/x/c', four)).toBe(true);
    expect(await h.put('/x/y/z', eight, cap)).toEqual({ ok: true });
    expect(await h.run({ op: 'delete', session: h.s(), nowMs: 8, path: '/x', recursive: true })).toEqual({ ok: true });
    expect(heads()).toEqual([]);
    expect(h.usage()).toEqual({ bytes: 0, files: 0 });
  });

  it('a stored record with its head gone is Corrupt on read, not bytes of the wrong length', async () => {
    const h = harness();
    expect(await h.put('/f', bytes(4096), { cap: 1 << 20 })).toEqual({ ok: true });
    const [key] = [...h.store.range('b/', 'b0')].map(([k]) => k);
    expect(key).toMatch(/^b\//);
    expect(h.store.get(inodeKey(Number.parseInt(key!.slice(2), 16)))).toBeDefined();
    expect(inlineHeadKey(Number.parseInt(key!.slice(2), 16))).toBe(key);
    await h.store.applyBatch(99, (t) => t.del(key!));
    expect(() => h.st('/f')).toThrow(expect.objectContaining({ code: 'Corrupt' }));
    // A listing reads no head: it still shows the file.
    expect(list(h.store, [])).toMatchObject({ ok: true, entries: [{ name: 'f', size: 4096 }] });
  });
});

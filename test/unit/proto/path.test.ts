import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAME_BYTES_MAX, PATH_BYTES_MAX, PATH_DEPTH_MAX, RemotePath, isSameOrBelow, joinPath, parsePath, utf8Bytes } from '../../../src/proto/path.js';
import { CairnError } from '../../../src/util/errors.js';

describe('paths', () => {
  it('parses valid paths into segments', () => {
    expect(parsePath('/')).toEqual([]);
    expect(parsePath('/a')).toEqual(['a']);
    expect(parsePath('/a b/c.txt')).toEqual(['a b', 'c.txt']);
    expect(parsePath('/...')).toEqual(['...']);
    expect(parsePath('/.hidden/x')).toEqual(['.hidden', 'x']);
    expect(parsePath('/é/😀/\u00a0')).toEqual(['é', '😀', '\u00a0']);
    expect(parsePath('/' + 'é'.repeat(NAME_BYTES_MAX / 2 - 1) + 'x')).toHaveLength(1); // 255 bytes
    expect(parsePath('/a'.repeat(PATH_DEPTH_MAX))).toHaveLength(PATH_DEPTH_MAX);
  });

  it('refuses what the contract refuses', () => {
    const bad = [
      '',
      'a',
      'a/b',
      '//',
      '/a//b',
      '/a/',
      '/.',
      '/..',
      '/a/./b',
      '/a/../b',
      '/a\u0000b',
      '/a\u0001',
      '/\u001f',
      '/\u007f',
      '/\u0080',
      '/\u009f',
      '/a\nb',
      '/\ud800',
      '/x\udc00y',
      '/' + 'x'.repeat(NAME_BYTES_MAX + 1),
      '/' + 'é'.repeat(128), // 256 bytes
      '/a'.repeat(PATH_DEPTH_MAX + 1),
      '/' + Array.from({ length: 20 }, () => 'y'.repeat(250)).join('/'), // > 4096 bytes
      '/' + Array.from({ length: 20 }, () => 'é'.repeat(127)).join('/'), // 5,100 bytes in 2,560 UTF-16 units
    ];
    for (const p of bad) expect(() => parsePath(p), JSON.stringify(p)).toThrow(expect.objectContaining({ code: 'InvalidPath' }) as unknown as Error);
  });

  it('refuses bidirectional controls in names, and keeps every other name byte for byte (no normalization)', () => {
    const bidi = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
    for (const c of bidi) {
      expect(() => parsePath(`/dir/evil${c}txt.exe`), JSON.stringify(c)).toThrow(expect.objectContaining({ code: 'InvalidPath', message: expect.stringContaining('bidirectional') as unknown }) as unknown as Error);
      expect(() => RemotePath.ROOT.child(`a${c}`)).toThrow(expect.objectContaining({ code: 'InvalidPath' }) as unknown as Error);
    }
    // Neighbours of the refused ranges stay valid (zero-width joiners, Arabic letters, RLM's neighbours).
    expect(parsePath('/a\u200db/\u0627\u0644/\u2065x/\u206ay/\u2029z/\u202fw')).toHaveLength(6);
    // NFC and NFD spellings are two names, each kept as given.
    const nfc = '/caf\u00e9';
    const nfd = '/cafe\u0301';
    expect(parsePath(nfc)).toEqual(['caf\u00e9']);
    expect(parsePath(nfd)).toEqual(['cafe\u0301']);
    expect(RemotePath.parse(nfd).text).toBe(nfd);
  });

  it('joinPath inverts parsePath; utf8Bytes matches the encoder', () => {
    fc.assert(
      // eslint-disable-next-line no-control-regex
      fc.property(fc.array(fc.stringMatching(/^[^/\u0000-\u001f\u007f-\u009f]{1,12}$/u), { maxLength: 6 }), (segs) => {
        const ok = segs.every((s) => s !== '.' && s !== '..' && !/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')));
        if (!ok) return;
        const p = joinPath(segs);
        expect(parsePath(p)).toEqual(segs);
        expect(utf8Bytes(p)).toBe(Buffer.byteLength(p));
      }),
    );
    expect(PATH_BYTES_MAX).toBe(4096);
  });

  it('isSameOrBelow is segment-wise', () => {
    expect(isSameOrBelow(['a'], ['a', 'b'])).toBe(true);
    expect(isSameOrBelow(['a'], ['a'])).toBe(true);
    expect(isSameOrBelow(['a'], ['ab'])).toBe(false);
    expect(isSameOrBelow(['a', 'b'], ['a'])).toBe(false);
    expect(isSameOrBelow([], ['x'])).toBe(true);
  });
});

describe('RemotePath', () => {
  const invalidPath = (f: () => unknown): void => {
    expect(f).toThrow(CairnError);
    try {
      f();
    } catch (e) {
      expect((e as CairnError).code).toBe('InvalidPath');
    }
  };

  it('holds the segments and the canonical text of a parsed path', () => {
    const p = RemotePath.parse('/a b/c.txt');
    expect(p.segments).toEqual(['a b', 'c.txt']);
    expect(p.text).toBe('/a b/c.txt');
    expect(String(p)).toBe('/a b/c.txt');
    expect(p.name).toBe('c.txt');
    expect(p.isRoot).toBe(false);
    expect(RemotePath.parse('/')).toBe(RemotePath.ROOT);
    expect(RemotePath.ROOT.name).toBe('');
    expect(RemotePath.ROOT.isRoot).toBe(true);
    expect(RemotePath.of(p)).toBe(p);
    expect(RemotePath.of('/x').segments).toEqual(['x']);
  });

  it('refuses what parsePath refuses, at parse time', () => {
    for (const bad of ['', 'a', '/a/', '//', '/a//b', '/.', '/a/..', '/a\u0000b', '/' + 'x'.repeat(NAME_BYTES_MAX + 1)]) invalidPath(() => RemotePath.parse(bad));
    invalidPath(() => RemotePath.of('relative'));
  });

  it('child() appends one checked segment, staying within the limits', () => {
    expect(RemotePath.ROOT.child('a').text).toBe('/a');
    const c = RemotePath.parse('/a').child('b');
    expect(c.text).toBe('/a/b');
    expect(c.segments).toEqual(['a', 'b']);
    for (const bad of ['', '.', '..', 'x/y', 'a\u0001', 'x'.repeat(NAME_BYTES_MAX + 1)]) invalidPath(() => c.child(bad));
    const deep = RemotePath.parse('/' + Array.from({ length: PATH_DEPTH_MAX }, () => 'd').join('/'));
    invalidPath(() => deep.child('d'));
    const long = RemotePath.parse('/' + Array.from({ length: 16 }, () => 'x'.repeat(255)).join('/'));
    invalidPath(() => long.child('y'.repeat(100)));
  });

  it('child() agrees with parsing the joined text', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9._-]{1,8}$/), { maxLength: 6 }), fc.stringMatching(/^[a-z0-9]{1,8}$/), (segs, name) => {
        const base = segs.every((s) => s !== '.' && s !== '..') ? RemotePath.parse(joinPath(segs)) : RemotePath.ROOT;
        const child = base.child(name);
        expect(RemotePath.parse(child.text).segments).toEqual(child.segments);
      }),
    );
  });
});

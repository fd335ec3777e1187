import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAME_BYTES_MAX, PATH_BYTES_MAX, PATH_DEPTH_MAX, isSameOrBelow, joinPath, parsePath, utf8Bytes } from '../../../src/proto/path.js';

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
    ];
    for (const p of bad) expect(() => parsePath(p), JSON.stringify(p)).toThrow(expect.objectContaining({ code: 'InvalidPath' }) as unknown as Error);
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

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash32, xxhash32 } from '../../../src/util/hash.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('xxhash32', () => {
  it('matches the reference XXH32 vectors (seed 0), covering the short and the 16-byte-stripe paths', () => {
    expect(hash32('')).toBe(0x02cc5d05);
    expect(hash32('a')).toBe(0x550d7456);
    expect(hash32('abc')).toBe(0x32d153ff);
    expect(hash32('123456789')).toBe(0x937bad67);
    expect(hash32('Nobody inspects the spammish repetition')).toBe(0xe2293b2f);
  });

  it('hash32 equals xxhash32 of the UTF-8 bytes, for any string including long and non-ASCII ones', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 2000 }), fc.string({ maxLength: 40 })), fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        const h = hash32(s, seed);
        expect(h).toBe(xxhash32(utf8(s), seed));
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('hashes only the requested prefix, and the seed changes the value', () => {
    const bytes = utf8('0123456789abcdefghijklmnopqrstuvwxyz');
    for (const n of [0, 3, 4, 15, 16, 17, 31, 32, 33]) expect(xxhash32(bytes, 0, n)).toBe(xxhash32(bytes.slice(0, n)));
    expect(hash32('abc', 1)).not.toBe(hash32('abc', 0));
  });

  it('spreads similar keys evenly over 64 buckets (chi-square well under the 0.1% critical value)', () => {
    const buckets = new Array<number>(64).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) buckets[hash32(`cs${i % 50}#${Math.floor(i / 50)}`) >>> 26]!++;
    const expected = n / 64;
    const chi2 = buckets.reduce((a, b) => a + (b - expected) ** 2 / expected, 0);
    // 63 degrees of freedom: the 0.1% critical value is 103.4.
    expect(chi2).toBeLessThan(103.4);
  });
});

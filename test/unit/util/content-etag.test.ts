import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentEtag } from '../../../src/util/content-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';

describe('contentEtag', () => {
  it('depends on the size and every chunk (size and CRC), in order — never on ids or time', () => {
    const a = { size: 4, crc: 1 };
    const b = { size: 6, crc: 2 };
    const e = contentEtag(10, [a, b]);
    expect(e).toMatch(/^[0-9a-f]{32}$/);
    expect(contentEtag(10, [{ ...a }, { ...b }])).toBe(e);
    expect(contentEtag(11, [a, b])).not.toBe(e);
    expect(contentEtag(10, [b, a])).not.toBe(e);
    expect(contentEtag(10, [a])).not.toBe(e);
    expect(contentEtag(10, [a, { size: 6, crc: 3 }])).not.toBe(e);
    expect(contentEtag(10, [a, { size: 5, crc: 2 }, { size: 1, crc: 0 }])).not.toBe(e);
  });

  it('an inline file gets the etag of the same bytes as one chunk', () => {
    const data = Buffer.from('hello, cairn');
    expect(inlineEtag(data)).toBe(contentEtag(data.length, [{ size: data.length, crc: crc32c(data) }]));
    expect(inlineEtag(new Uint8Array(0))).toBe(contentEtag(0, []));
  });
});

describe('contentEtag: one block or streamed block by block, the same etag', () => {
  it('a list hashed in one call or in blocks (over 1,024 chunks) gives the documented value, sizes above 2^32 included', () => {
    const parts = Array.from({ length: 1500 }, (_, i) => ({ size: i % 7 === 0 ? 2 ** 40 + i : 1 + i * 4093, crc: (i * 2654435761) >>> 0 }));
    const streamed = (n: number, size: number): string => contentEtag(size, (function* () {
      yield* parts.slice(0, n);
    })());
    for (const n of [0, 1, 2, 1024]) {
      const size = 2 ** 45 + n;
      expect(contentEtag(size, parts.slice(0, n)), `n = ${n}`).toBe(streamed(n, size));
    }
    // A list over one block, as an array or a generator: the same etag.
    expect(contentEtag(7, parts)).toBe(streamed(parts.length, 7));
    // The value itself: hex SHA-256 of the documented layout, its first 32 digits.
    const reference = (size: number, list: ReadonlyArray<{ size: number; crc: number }>): string => {
      const b = Buffer.alloc(8 + 12 * list.length);
      b.writeBigUInt64BE(BigInt(size), 0);
      list.forEach((c, i) => {
        b.writeBigUInt64BE(BigInt(c.size), 8 + 12 * i);
        b.writeUInt32BE(c.crc, 16 + 12 * i);
      });
      return createHash('sha256').update(b).digest('hex').slice(0, 32);
    };
    expect(contentEtag(12, [{ size: 12, crc: 0x0a0b0c0d }])).toBe(reference(12, [{ size: 12, crc: 0x0a0b0c0d }]));
    expect(contentEtag(2 ** 45 + 3, parts.slice(0, 9))).toBe(reference(2 ** 45 + 3, parts.slice(0, 9)));
    expect(contentEtag(2 ** 45 + 3, parts)).toBe(reference(2 ** 45 + 3, parts));
  });
});

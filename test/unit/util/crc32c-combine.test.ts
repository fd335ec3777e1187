import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { composeCrc32c } from '../../../src/util/crc32c-combine.js';

/** The reference: @node-rs/crc32 over the parts' bytes concatenated. */
const crcOfBytes = (b: Uint8Array): number => nativeCrc32c(Buffer.from(b.buffer, b.byteOffset, b.length)) >>> 0;

describe('composeCrc32c', () => {
  it('equals the CRC-32C of the concatenation, for any cut into parts (empty parts too)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), (parts) => {
        const whole = Buffer.concat(parts.map((p) => Buffer.from(p)));
        expect(composeCrc32c(parts.map((p) => ({ size: p.length, crc: crcOfBytes(p) })))).toBe(crcOfBytes(whole));
      }),
      { numRuns: 400 },
    );
  });

  it('handles equal-size chunks (one cached shift), a big part and no parts', () => {
    const chunk = 64 * 1024;
    const data = Buffer.alloc(5 * chunk + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    const parts = [];
    for (let off = 0; off < data.length; off += chunk) {
      const p = data.subarray(off, Math.min(data.length, off + chunk));
      parts.push({ size: p.length, crc: crcOfBytes(p) });
    }
    expect(composeCrc32c(parts)).toBe(crcOfBytes(data));
    expect(composeCrc32c([])).toBe(0);
    expect(composeCrc32c([{ size: 9, crc: 0xe3069283 }])).toBe(0xe3069283); // "123456789"
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cCombine, crc32cCombineWith, crc32cShift } from '../../../src/util/crc32c.js';

describe('crc32c', () => {
  it('matches the CRC-32C check value and chains', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234')))).toBe(0xe3069283);
  });

  it('combines two parts into the CRC of their concatenation', () => {
    expect(crc32cCombine(crc32c(Buffer.from('1234')), crc32c(Buffer.from('56789')), 5)).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        const whole = crc32c(Buffer.concat([a, b]));
        expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(whole);
        expect(crc32cCombineWith(crc32cShift(b.length), crc32c(a), crc32c(b))).toBe(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('folds many segments, including lengths whose binary form is long (large shifts)', () => {
    const seg = Buffer.alloc(65_536);
    for (let i = 0; i < seg.length; i++) seg[i] = (i * 2654435761) >>> 24;
    const tail = seg.subarray(0, 12_345);
    const shift = crc32cShift(seg.length);
    const segCrc = crc32c(seg);
    let combined = 0;
    let running = 0;
    for (let i = 0; i < 37; i++) {
      combined = crc32cCombineWith(shift, combined, segCrc);
      running = crc32c(seg, running);
    }
    combined = crc32cCombine(combined, crc32c(tail), tail.length);
    running = crc32c(tail, running);
    expect(combined).toBe(running);
    // The empty part is the identity on either side.
    expect(crc32cCombine(running, 0, 0)).toBe(running);
    expect(crc32cCombine(0, running, 37 * seg.length + tail.length)).toBe(running);
  });

  it('refuses a length that is not a non-negative safe integer', () => {
    expect(() => crc32cShift(-1)).toThrow(RangeError);
    expect(() => crc32cShift(1.5)).toThrow(RangeError);
  });
});

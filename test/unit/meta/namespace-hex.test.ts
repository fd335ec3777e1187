/** The 14-digit hex of namespace keys: the byte-table form equals toString(16) + padStart everywhere. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INODE_HEX_WIDTH, hex } from '../../../src/meta/namespace-keys.js';

const general = (n: number): string => n.toString(16).padStart(INODE_HEX_WIDTH, '0');

describe('hex', () => {
  it('equals the general formula on every non-negative safe integer (edges and random), and keys sort as numbers', () => {
    const edges = [0, 1, 15, 16, 255, 256, 2 ** 24 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 7, 2 ** 48 - 1, 2 ** 52, Number.MAX_SAFE_INTEGER];
    for (const n of edges) expect(hex(n), String(n)).toBe(general(n));
    fc.assert(fc.property(fc.maxSafeNat(), (n) => hex(n) === general(n)), { numRuns: 20_000 });
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 + 1000 }), (n) => hex(n) === general(n)), { numRuns: 5_000 });
    const order = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
    fc.assert(fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (a, b) => Math.sign(a - b) === order(hex(a), hex(b))), { numRuns: 2_000 });
  });

  it('anything else takes the general formula', () => {
    for (const n of [-1, 1.5, 2 ** 53, 2 ** 60]) expect(hex(n)).toBe(general(n));
  });
});

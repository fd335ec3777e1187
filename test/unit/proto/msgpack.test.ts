/**
 * proto/msgpack.ts: packing into reused scratch memory hands out results nothing writes over later
 * (ours, and those of any other Packr in the process, which shares msgpackr's output buffer).
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { pack, scratchPacker, unpack } from '../../../src/proto/msgpack.js';

const bytes = (u: unknown): Buffer => {
  expect(u).toBeInstanceOf(Uint8Array);
  const b = u as Uint8Array;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
};
const same = (a: unknown, b: unknown): boolean => bytes(a).equals(bytes(b));

describe('pack', () => {
  it('returns bytes that later packs of any size leave as they were', () => {
    const body = new Uint8Array(70_000).fill(9);
    const first = pack(['a', 1, body]);
    const firstCopy = Uint8Array.from(first);
    const small = pack({ x: 'y' });
    for (let i = 0; i < 50; i++) pack([i, new Uint8Array(i * 1000).fill(i)]);
    expect(same(first, firstCopy)).toBe(true);
    expect(unpack(small)).toEqual({ x: 'y' });
    const [a, one, b] = unpack(first) as [string, number, Uint8Array];
    expect([a, one, same(b, body)]).toEqual(['a', 1, true]);
  });

  it('leaves another Packr writing into memory of its own, not behind ours', () => {
    const other = new Packr({ useRecords: false });
    pack([1, 2, 3]);
    const theirs = other.pack(['theirs', 42]);
    const before = Uint8Array.from(theirs);
    pack(['ours again', new Uint8Array(5000).fill(1)]);
    expect(same(theirs, before)).toBe(true);
  });

  it('falls back to msgpackr\'s own allocation for a value larger than the scratch', () => {
    const p = scratchPacker(new Packr({ useRecords: false }), 4096);
    const big = new Uint8Array(10_000).fill(3);
    const out = p(big);
    // Left where msgpackr put it (its buffer grows ahead of the value), not copied out at its exact size.
    expect(out.buffer.byteLength).toBeGreaterThan(out.byteLength);
    const again = p(new Uint8Array(10_000).fill(4));
    expect(same(unpack(out), big)).toBe(true);
    expect(same(unpack(again), new Uint8Array(10_000).fill(4))).toBe(true);
  });
});

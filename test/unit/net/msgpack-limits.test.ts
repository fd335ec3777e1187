import { describe, expect, it } from 'vitest';
import { peekRequestHead, scanMsgpack } from '../../../src/net/msgpack-limits.js';
import { pack } from '../../../src/proto/msgpack.js';
import { CairnError } from '../../../src/util/errors.js';

const roomy = { elementsMax: 1000, depthMax: 8 };

function refusal(f: () => void): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe('ProtocolError');
    return (err as CairnError).message;
  }
  throw new Error('expected a refusal');
}

describe('scanMsgpack', () => {
  it('accepts every kind of value the protocol sends, counting keys and values', () => {
    const v = { id: 7, method: 'fs.commit', body: { path: '/a/é', n: -1, big: 2 ** 40, f: 1.5, t: true, z: null, u: undefined, b: new Uint8Array(300), s: 'x'.repeat(70_000), chunks: [['a', 1, 2]] } };
    expect(() => scanMsgpack(pack(v), roomy)).not.toThrow();
    // map + 3 keys + 2 values + body map + 10 keys + 9 scalars + chunks array + inner array + 3 = 31
    expect(() => scanMsgpack(pack(v), { elementsMax: 31, depthMax: 4 })).not.toThrow();
    expect(refusal(() => scanMsgpack(pack(v), { elementsMax: 30, depthMax: 4 }))).toMatch(/more than 30 elements/);
    expect(refusal(() => scanMsgpack(pack(v), { elementsMax: 31, depthMax: 3 }))).toMatch(/deeper than 3/);
  });

  it('refuses a container claiming more elements than allowed at its header, in constant time', () => {
    // array32 claiming 62,000,000 elements, with only 3 bytes of them present.
    const claim = Uint8Array.from([0xdd, 0x03, 0xb2, 0x07, 0x80, 0x80, 0x80, 0x80]);
    expect(refusal(() => scanMsgpack(claim, { elementsMax: 100_000, depthMax: 8 }))).toMatch(/more than 100000 elements/);
    expect(refusal(() => scanMsgpack(claim, { elementsMax: 100_000_000, depthMax: 8 }))).toMatch(/truncated/);
  });

  it('refuses truncated input, trailing bytes, 0xc1 and extension types other than undefined and timestamps', () => {
    const ok = pack({ a: 'hello' });
    expect(refusal(() => scanMsgpack(ok.subarray(0, ok.length - 1), roomy))).toMatch(/truncated/);
    expect(refusal(() => scanMsgpack(Uint8Array.from([...ok, 0x01]), roomy))).toMatch(/trailing/);
    expect(refusal(() => scanMsgpack(Uint8Array.from([0xc1]), roomy))).toMatch(/0xc1/);
    expect(refusal(() => scanMsgpack(Uint8Array.from([0xd4, 0x70, 0x00]), roomy))).toMatch(/extension type 112/);
    expect(() => scanMsgpack(pack(new Date(0)), roomy)).not.toThrow();
  });

  it('scans a prefix: refuses what it already shows, accepts what it cannot yet judge', () => {
    const deep = new Uint8Array(100).fill(0x91);
    expect(refusal(() => scanMsgpack(deep, { elementsMax: 1000, depthMax: 6 }, true))).toMatch(/deeper than 6/);
    const long = pack({ id: 1, method: 'fs.put', body: { data: new Uint8Array(5000) } });
    expect(() => scanMsgpack(long.subarray(0, 192), roomy, true)).not.toThrow();
  });

  it('walks 10,000,000 elements in a few seconds at most without allocating them', () => {
    const bytes = new Uint8Array(5 + 10_000_000).fill(0x80);
    bytes.set([0xdd, 0x00, 0x98, 0x96, 0x80]);
    const t = performance.now();
    scanMsgpack(bytes, { elementsMax: 10_000_001, depthMax: 2 });
    expect(performance.now() - t).toBeLessThan(3000);
  });
});

describe('peekRequestHead', () => {
  it('reads a leading id and method, and nothing once another field comes first', () => {
    expect(peekRequestHead(pack({ id: 70_000, method: 'fs.stat', body: { path: '/' } }))).toEqual({ id: 70_000, method: 'fs.stat' });
    expect(peekRequestHead(pack({ method: 'fs.put', id: 1 }))).toEqual({ method: 'fs.put', id: 1 });
    expect(peekRequestHead(pack({ body: 1, method: 'fs.put' }))).toEqual({});
    expect(peekRequestHead(pack({ id: 1, method: 'fs.put' }).subarray(0, 8))).toEqual({ id: 1 });
    expect(peekRequestHead(Uint8Array.from([0x93, 1, 2, 3]))).toEqual({});
  });
});

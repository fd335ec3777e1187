import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame, isOversizeFrameError } from '../../../src/net/frame.js';
import { CairnError } from '../../../src/util/errors.js';
import { takeOwned } from '../../../src/util/owned-bytes.js';

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

describe('frame codec', () => {
  it('encodes a big-endian u32 length then the payload', () => {
    expect([...encodeFrame(new Uint8Array([9, 8, 7]))]).toEqual([0, 0, 0, 3, 9, 8, 7]);
    expect(() => encodeFrame(new Uint8Array(5), 4)).toThrow(CairnError);
  });

  it('decodes frames split at every byte boundary (two cuts)', () => {
    const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(60).fill(7), new Uint8Array([42])];
    const wire = concat(payloads.map((p) => encodeFrame(p)));
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j += 7) {
        const d = new FrameDecoder();
        const got = [...d.push(wire.subarray(0, i)), ...d.push(wire.subarray(i, j)), ...d.push(wire.subarray(j))];
        expect(got.map((g) => [...g])).toEqual(payloads.map((p) => [...p]));
        expect(d.bufferedBytes()).toBe(0);
      }
    }
  });

  it('decodes one byte at a time and many frames in one chunk (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), (payloads, cuts) => {
        const wire = concat(payloads.map((p) => encodeFrame(p)));
        const d = new FrameDecoder();
        const got: Uint8Array[] = [];
        let pos = 0;
        for (let k = 0; pos < wire.length; k++) {
          const n = cuts[k % cuts.length]!;
          got.push(...d.push(wire.subarray(pos, pos + n)));
          pos += n;
        }
        expect(got.map((g) => [...g])).toEqual(payloads.map((p) => [...p]));
        const all = new FrameDecoder().push(wire);
        expect(all.length).toBe(payloads.length);
      }),
    );
  });

  it('assembles a large frame from many small chunks in linear time', () => {
    const payload = new Uint8Array(8 << 20).map((_v, i) => i & 0xff);
    const wire = encodeFrame(payload);
    const d = new FrameDecoder();
    const t0 = performance.now();
    const got: Uint8Array[] = [];
    for (let pos = 0; pos < wire.length; pos += 1000) got.push(...d.push(wire.subarray(pos, pos + 1000)));
    const ms = performance.now() - t0;
    expect(got.length).toBe(1);
    expect(Buffer.from(got[0]!).equals(Buffer.from(payload))).toBe(true);
    // Quadratic re-copying of 8 MiB in 8k chunks would copy ~35 GB; linear is a few ms.
    expect(ms).toBeLessThan(2000);
  });

  it('returns a view (no copy) for a frame inside one chunk', () => {
    const wire = encodeFrame(new Uint8Array([1, 2, 3]));
    const [f] = new FrameDecoder().push(wire);
    expect(f!.buffer).toBe(wire.buffer);
    // A view into the caller's chunk is borrowed, not handed over.
    expect(takeOwned(f!)).toBe(false);
  });

  it('hands over a frame it assembled across chunks as owned, once', () => {
    const wire = encodeFrame(new Uint8Array(5000).fill(6));
    const d = new FrameDecoder();
    expect(d.push(wire.subarray(0, 100))).toEqual([]);
    const [f] = d.push(wire.subarray(100));
    expect(f!.length).toBe(5000);
    expect(takeOwned(f!)).toBe(true);
    expect(takeOwned(f!)).toBe(false);
  });

  it('rejects an oversize length as soon as the header arrives, and stays dead', () => {
    const d = new FrameDecoder({ frameBytesMax: 100 });
    expect(d.push(encodeFrame(new Uint8Array(100)))).toHaveLength(1);
    let err: unknown;
    try {
      d.push(new Uint8Array([0, 0, 0, 101]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe('ProtocolError');
    expect(isOversizeFrameError(err as CairnError)).toBe(true);
    expect(() => d.push(new Uint8Array([0]))).toThrow(CairnError);
  });

  it('applies a raised limit to the next frame', () => {
    const d = new FrameDecoder({ frameBytesMax: 4 });
    expect(() => new FrameDecoder({ frameBytesMax: 4 }).push(encodeFrame(new Uint8Array(5)))).toThrow(CairnError);
    d.setFrameBytesMax(10);
    expect(d.push(encodeFrame(new Uint8Array(5)))).toHaveLength(1);
  });

  it('checks each frame at its gate from its length and first bytes, before the rest arrives', () => {
    const seen: Array<[number, number[]]> = [];
    const d = new FrameDecoder({ frameBytesMax: 1 << 20 });
    d.setGate({
      headBytes: 3,
      check: (n, head) => {
        seen.push([n, [...head]]);
        if (head[0] === 9) throw new CairnError('ProtocolError', 'refused', { frameBytesMax: 0 });
      },
    });
    expect(d.push(encodeFrame(new Uint8Array([1, 2])))).toHaveLength(1);
    // A large frame arriving a byte at a time is judged once its first 3 bytes are in.
    const wire = encodeFrame(new Uint8Array(1000).fill(7));
    for (let i = 0; i < 7; i++) expect(d.push(wire.subarray(i, i + 1))).toEqual([]);
    expect(seen).toEqual([[2, [1, 2]], [1000, [7, 7, 7]]]);
    expect(d.push(wire.subarray(7))).toHaveLength(1);
    const bad = encodeFrame(new Uint8Array(1 << 19).fill(9));
    expect(() => d.push(bad.subarray(0, 10))).toThrow('refused');
    expect(d.bufferedBytes()).toBe(0);
    expect(() => d.push(new Uint8Array([0]))).toThrow(CairnError);
  });
});

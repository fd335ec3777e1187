import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRange, formatContentRange, formatRange, parseContentRange, unsatisfiedContentRange } from '../../../src/proto/http-range.js';

describe('decideRange', () => {
  it('follows RFC 9110 for the forms we serve', () => {
    expect(decideRange(undefined, 10)).toEqual({ kind: 'full' });
    expect(decideRange('bytes=0-0', 10)).toEqual({ kind: 'partial', start: 0, end: 1 });
    expect(decideRange('bytes=2-', 10)).toEqual({ kind: 'partial', start: 2, end: 10 });
    expect(decideRange('bytes=-3', 10)).toEqual({ kind: 'partial', start: 7, end: 10 });
    expect(decideRange('bytes=-30', 10)).toEqual({ kind: 'partial', start: 0, end: 10 });
    expect(decideRange('bytes=5-500', 10)).toEqual({ kind: 'partial', start: 5, end: 10 });
    expect(decideRange('bytes=10-', 10)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-0', 10)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
    for (const ignored of ['bytes=1-2,4-5', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'lines=1-2', 'bytes=99999999999999999-', '']) {
      expect(decideRange(ignored, 10), ignored).toEqual({ kind: 'full' });
    }
  });

  it('a partial answer always lies inside the file and is non-empty', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.option(fc.nat(2000)), fc.option(fc.nat(2000)), (size, a, b) => {
        const h = `bytes=${a ?? ''}-${b ?? ''}`;
        const d = decideRange(h, size);
        if (d.kind === 'partial') {
          expect(d.start).toBeGreaterThanOrEqual(0);
          expect(d.end).toBeGreaterThan(d.start);
          expect(d.end).toBeLessThanOrEqual(size);
        }
        if (d.kind === 'unsatisfiable') expect(a === null ? b === 0 || size === 0 : a >= size).toBe(true);
      }),
    );
  });
});

describe('decideRange as the chunk servers use it', () => {
  it('parses the three single-range forms against the size', () => {
    expect(decideRange('bytes=0-9', 100)).toEqual({ kind: 'partial', start: 0, end: 10 });
    expect(decideRange('bytes=90-', 100)).toEqual({ kind: 'partial', start: 90, end: 100 });
    expect(decideRange('bytes=-10', 100)).toEqual({ kind: 'partial', start: 90, end: 100 });
    expect(decideRange('bytes=-1000', 100)).toEqual({ kind: 'partial', start: 0, end: 100 });
    expect(decideRange('bytes=50-1000', 100)).toEqual({ kind: 'partial', start: 50, end: 100 });
    expect(decideRange('bytes=99-99', 100)).toEqual({ kind: 'partial', start: 99, end: 100 });
  });
  it('unsatisfiable ranges are 416', () => {
    expect(decideRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=100-200', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });
  it('absent, other-unit, multi-range and malformed headers serve the whole chunk', () => {
    for (const h of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'bytes=99999999999999999-']) expect(decideRange(h, 100)).toEqual({ kind: 'full' });
  });
});

describe('the headers around a range', () => {
  it('a range the client asks for is the range the server decides, and comes back in Content-Range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.nat(), fc.option(fc.nat()), (size, a, b) => {
        const start = a % size;
        const end = b === null ? undefined : start + 1 + (b % (size - start));
        const d = decideRange(formatRange(start, end), size);
        expect(d).toEqual({ kind: 'partial', start, end: end ?? size });
        const back = parseContentRange(formatContentRange(start, end ?? size, size));
        expect(back).toEqual({ start, end: end ?? size, size });
      }),
    );
  });

  it('formats what RFC 9110 §14.4 says and refuses anything else', () => {
    expect(formatRange(5)).toBe('bytes=5-');
    expect(formatRange(5, 10)).toBe('bytes=5-9');
    expect(formatContentRange(5, 10, 100)).toBe('bytes 5-9/100');
    expect(unsatisfiedContentRange(100)).toBe('bytes */100');
    for (const bad of [undefined, '', 'bytes */100', 'bytes 5-9/*', 'items 5-9/100', 'bytes 5-9', 'bytes 99999999999999999-1/2']) expect(parseContentRange(bad), bad).toBeNull();
  });
});

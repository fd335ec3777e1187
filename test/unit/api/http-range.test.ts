import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideRange, etagListMatches } from '../../../src/api/http-range.js';

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

describe('etagListMatches', () => {
  it('strong comparison ignores weak tags; weak comparison accepts them; * matches any file', () => {
    expect(etagListMatches('"abc"', 'abc', false)).toBe(true);
    expect(etagListMatches('"x", "abc"', 'abc', false)).toBe(true);
    expect(etagListMatches('W/"abc"', 'abc', false)).toBe(false);
    expect(etagListMatches('W/"abc"', 'abc', true)).toBe(true);
    expect(etagListMatches('"abd"', 'abc', true)).toBe(false);
    expect(etagListMatches('*', 'abc', false)).toBe(true);
    expect(etagListMatches('*', null, false)).toBe(false);
  });
});

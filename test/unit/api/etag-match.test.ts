import { describe, expect, it } from 'vitest';
import { etagListMatches } from '../../../src/api/etag-match.js';

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

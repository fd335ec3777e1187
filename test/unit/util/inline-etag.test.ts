import { describe, expect, it } from 'vitest';
import { inlineEtag } from '../../../src/util/inline-etag.js';

describe('inlineEtag', () => {
  it('is derived from the bytes alone: the same bytes give the same etag, other bytes or lengths another', () => {
    const a = inlineEtag(Buffer.from('hello'));
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(inlineEtag(Uint8Array.from(Buffer.from('hello')))).toBe(a);
    expect(inlineEtag(Buffer.from('hellp'))).not.toBe(a);
    expect(inlineEtag(Buffer.from('hello\0'))).not.toBe(a);
    expect(inlineEtag(new Uint8Array(0))).not.toBe(inlineEtag(new Uint8Array(1)));
  });
});

import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/util/crc32c.js';
import { inlineEtag, inlineEtagOf } from '../../../src/util/inline-etag.js';

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

describe('inlineEtagOf', () => {
  it('gives from a size and a CRC-32C already computed the etag inlineEtag gives from the bytes', () => {
    for (const b of [new Uint8Array(0), Buffer.from('hello'), new Uint8Array(70_000).fill(5)]) expect(inlineEtagOf(b.length, crc32c(b))).toBe(inlineEtag(b));
  });
});

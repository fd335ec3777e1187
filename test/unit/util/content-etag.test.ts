import { describe, expect, it } from 'vitest';
import { contentEtag } from '../../../src/util/content-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';

describe('contentEtag', () => {
  it('depends on the size and every chunk (size and CRC), in order — never on ids or time', () => {
    const a = { size: 4, crc: 1 };
    const b = { size: 6, crc: 2 };
    const e = contentEtag(10, [a, b]);
    expect(e).toMatch(/^[0-9a-f]{32}$/);
    expect(contentEtag(10, [{ ...a }, { ...b }])).toBe(e);
    expect(contentEtag(11, [a, b])).not.toBe(e);
    expect(contentEtag(10, [b, a])).not.toBe(e);
    expect(contentEtag(10, [a])).not.toBe(e);
    expect(contentEtag(10, [a, { size: 6, crc: 3 }])).not.toBe(e);
    expect(contentEtag(10, [a, { size: 5, crc: 2 }, { size: 1, crc: 0 }])).not.toBe(e);
  });

  it('an inline file gets the etag of the same bytes as one chunk', () => {
    const data = Buffer.from('hello, cairn');
    expect(inlineEtag(data)).toBe(contentEtag(data.length, [{ size: data.length, crc: crc32c(data) }]));
    expect(inlineEtag(new Uint8Array(0))).toBe(contentEtag(0, []));
  });
});

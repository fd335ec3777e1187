/** fs.stat and fs.open name a file's whole CRC-32C (composed from the chunk CRCs) and its attributes. */
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/util/crc32c.js';
import { harness } from './helpers.js';

const A = 'a1'.repeat(16);
const B = 'b2'.repeat(16);
let seq = 0;
const s = (): unknown[] => ['client-1', ++seq, 0];

describe('whole-file CRC and attributes in fs.stat and fs.open', () => {
  it('composes the chunk CRCs into the CRC-32C of the bytes; an inline file answers its own', async () => {
    const h = harness();
    const a = Buffer.from('hello, ');
    const b = Buffer.from('chunked world');
    const chunks = [[A, a.length, crc32c(a)], [B, b.length, crc32c(b)]];
    await h.call('fs.commit', { path: '/f', size: a.length + b.length, etag: 'x', chunks, s: s(), attrs: { 'content-type': 'text/plain' } });
    const whole = crc32c(Buffer.concat([a, b]));
    expect(await h.call('fs.stat', { path: '/f' })).toMatchObject({ crc32c: whole, attrs: { 'content-type': 'text/plain' } });
    expect(await h.call('fs.open', { path: '/f' })).toMatchObject({ crc32c: whole, attrs: { 'content-type': 'text/plain' } });
    // A later page does not pay for the composition again.
    expect(await h.call('fs.open', { path: '/f', first: 1 })).not.toHaveProperty('crc32c');
    const data = Buffer.from('inline bytes');
    await h.call('fs.put', { path: '/i', data, crc: crc32c(data), s: s(), attrs: { 'cache-control': 'no-store' } });
    expect(await h.call('fs.stat', { path: '/i' })).toMatchObject({ crc32c: crc32c(data), attrs: { 'cache-control': 'no-store' } });
    expect(await h.call('fs.open', { path: '/i' })).toMatchObject({ crc32c: crc32c(data), attrs: { 'cache-control': 'no-store' } });
    await h.call('fs.commit', { path: '/empty', size: 0, etag: 'x', chunks: [], s: s() });
    const empty = await h.call('fs.stat', { path: '/empty' });
    expect(empty).toMatchObject({ crc32c: 0 });
    expect(empty).not.toHaveProperty('attrs');
    await h.call('fs.mkdir', { path: '/d', parents: false, s: s() });
    expect(await h.call('fs.stat', { path: '/d' })).not.toHaveProperty('crc32c');
  });
});

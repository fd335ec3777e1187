import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes, pieces } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes } from './fake-meta.js';

// The etag is a function of the bytes and the chunk size alone, the whole-file CRC-32C of the
// bytes alone: whatever the chunk ids, the write's buffering, or where a small file is kept.
// File attributes travel with the commit or the put that makes the file visible.

const CHUNK = 100_000;
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let meta: FakeMeta;
let client: CairnClient;

beforeEach(async () => {
  cluster = await startChunkNodes(3);
  meta = new FakeMeta(cluster.nodes, { replicas: 2, chunkSize: CHUNK, inlineBytesMax: 64 * 1024 });
  client = clientOver(meta);
});

afterEach(async () => {
  client.close();
  await cluster.close();
});

describe('content checksums', () => {
  it('the same bytes written twice (other chunk ids, other write sizes) get the same etag; other bytes another', async () => {
    const data = bytes(3 * CHUNK + 777, 5);
    const a = await client.put('/a', pieces(data, 10_000));
    const b = await client.put('/b', pieces(data, 33_333));
    expect(meta.files.get('/a')!.chunks.map((c) => c[0])).not.toEqual(meta.files.get('/b')!.chunks.map((c) => c[0]));
    expect(b.etag).toBe(a.etag);
    const other = Buffer.from(data);
    other[CHUNK + 5] = other[CHUNK + 5]! ^ 1;
    expect((await client.put('/c', pieces(other, 10_000))).etag).not.toBe(a.etag);
    expect((await client.put('/d', pieces(data, 10_000), { chunkSize: CHUNK / 2 })).etag).not.toBe(a.etag);
    expect((await client.stat('/a')).etag).toBe(a.etag);
  });

  it('an inline file and a one-chunk file of the same bytes get the same etag and CRC', async () => {
    const data = bytes(5000, 9);
    const inline = await client.put('/inline', pieces(data, 1000));
    const chunked = await client.put('/chunked', pieces(data, 1000), { inline: false });
    expect(meta.files.get('/inline')!.chunks).toEqual([]);
    expect(meta.files.get('/chunked')!.chunks).toHaveLength(1);
    expect(chunked.etag).toBe(inline.etag);
    expect((await client.stat('/chunked')).crc32c).toBe(crc32c(data));
  });

  it('stat gives the CRC-32C of the whole file, composed from its chunks', async () => {
    const data = bytes(4 * CHUNK + 1, 2);
    await client.put('/f', pieces(data, 65_536));
    const st = await client.stat('/f');
    expect(st.crc32c).toBe(crc32c(data));
  });
});

describe('file attributes from the client', () => {
  it('go with fs.commit (chunked) and fs.put (inline); outside the bounds nothing is sent', async () => {
    const attrs = { 'content-type': 'text/csv', 'x-amz-meta-k': 'v' };
    await client.put('/chunked', pieces(bytes(2 * CHUNK, 1), 10_000), { attrs });
    await client.put('/inline', Buffer.from('small'), { attrs });
    expect(meta.calls.find((c) => c.method === 'fs.commit')!.body.attrs).toEqual(attrs);
    expect(meta.calls.find((c) => c.method === 'fs.put')!.body.attrs).toEqual(attrs);
    const sent = meta.calls.length;
    const bads: Array<Record<string, string>> = [{ 'Content-Type': 'x' }, { a: 'line\nbreak' }, { a: 'x'.repeat(1025) }];
    for (const bad of bads) {
      expect(isCairnError(await client.put('/bad', Buffer.from('small'), { attrs: bad }).catch((e: unknown) => e), 'InvalidArgument')).toBe(true);
      expect(() => client.createWriteStream('/bad', { attrs: bad })).toThrow(/attrs/);
    }
    expect(meta.calls.length).toBe(sent);
  });
});

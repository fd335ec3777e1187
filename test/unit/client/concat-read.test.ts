/**
 * Reading a file whose chunks differ in size, as fs.concat makes them (each part's last chunk is
 * short): random part sizes, random ranges, byte-exact — over more than one fs.open page, so the
 * reader's search for the chunk holding an offset cannot lean on uniform chunks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { PAGE_CHUNKS } from '../../../src/client/file-reader.js';
import { SeededRng } from '../../../src/env/rng.js';
import { contentEtag } from '../../../src/util/content-etag.js';
import { bytes, collect } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type FakeFile } from './fake-meta.js';

const CHUNK = 256;
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let meta: FakeMeta;
let client: CairnClient;
let data: Buffer;

beforeAll(async () => {
  cluster = await startChunkNodes(3);
  meta = new FakeMeta(cluster.nodes, { replicas: 1, chunkSize: CHUNK });
  client = clientOver(meta);
  const rng = new SeededRng(20);
  const stored: Buffer[] = [];
  for (let i = 0; i < 12; i++) {
    const part = bytes(1 + rng.int(4_000), 100 + i);
    await meta.storeFile(`/parts/${i}`, part);
    stored.push(part);
  }
  // Parts of random sizes (most ending in a short chunk; stored ones reused) until the joined
  // list spans two fs.open pages.
  const parts: Buffer[] = [];
  const chunks: FakeFile['chunks'] = [];
  while (chunks.length <= PAGE_CHUNKS + 200) {
    const i = rng.int(stored.length);
    parts.push(stored[i]!);
    chunks.push(...meta.files.get(`/parts/${i}`)!.chunks);
  }
  data = Buffer.concat(parts);
  expect(new Set(chunks.map((c) => c[1])).size).toBeGreaterThan(2);
  meta.files.set('/joined', { size: data.length, etag: contentEtag(data.length, chunks.map(([, size, crc]) => ({ size, crc }))), mtime: 1, chunks });
}, 60_000);

afterAll(async () => {
  client.close();
  await cluster.close();
});

describe('a file of unequal chunks', () => {
  it('reads whole, byte-exact', async () => {
    expect((await collect((await client.open('/joined')).stream)).equals(data)).toBe(true);
  });

  it('reads random ranges byte-exact (starts and ends anywhere, chunk edges included)', async () => {
    const rng = new SeededRng(7);
    for (let i = 0; i < 80; i++) {
      const start = rng.int(data.length);
      const end = i % 20 === 0 ? start + 1 + rng.int(data.length - start) : Math.min(data.length, start + 1 + rng.int(8 * CHUNK));
      const o = await client.open('/joined', { start, end });
      expect({ start: o.start, end: o.end }).toEqual({ start, end });
      expect((await collect(o.stream)).equals(data.subarray(start, end)), `range ${start}-${end}`).toBe(true);
    }
  });
});

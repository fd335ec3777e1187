import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';
import { bytes, collect, rejection } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';

// Whole contents in memory: put() of a Uint8Array (one fs.put, no write stream, when it goes
// inline; otherwise exactly what a stream of the same bytes does) and open()'s `inline` bytes.
// Three real chunk servers, a fake leader that inlines up to LEADER_MAX bytes.

const CHUNK = 100_000;
const LEADER_MAX = 64 * 1024;
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let nodes: ChunkNode[];
let meta: FakeMeta;
let client: CairnClient;

beforeEach(async () => {
  cluster = await startChunkNodes(3);
  nodes = cluster.nodes;
  meta = new FakeMeta(nodes, { replicas: 2, chunkSize: CHUNK, inlineBytesMax: LEADER_MAX });
  client = clientOver(meta);
});

afterEach(async () => {
  client.close();
  await cluster.close();
});

const read = async (path: string): Promise<Buffer> => collect((await client.open(path)).stream);

describe('put of a Uint8Array', () => {
  it('within the threshold is one fs.put with the same body a stream sends, and reports its progress', async () => {
    const data = bytes(10_000, 1);
    const progress: number[] = [];
    const r = await client.put('/d/small', data, { onProgress: (n) => progress.push(n) });
    expect(r).toEqual({ path: '/d/small', size: data.length, etag: inlineEtag(data) });
    expect(meta.methods()).toEqual(['fs.put']);
    const call = meta.calls[0]!;
    expect(call.idempotent).toBe(true);
    expect(call.body).toMatchObject({ path: '/d/small', crc: crc32c(data), overwrite: false, parents: true, s: ['test-client', 1, 1] });
    expect(Buffer.from(call.body.data as Uint8Array).equals(data)).toBe(true);
    expect(progress).toEqual([data.length]);
    expect(client.counters).toMatchObject({ chunksWritten: 0, inlinePuts: 1 });
    expect((await read('/d/small')).equals(data)).toBe(true);
  });

  it('sends exactly the view’s bytes of a Uint8Array over a larger buffer', async () => {
    const whole = bytes(30_000, 2);
    const view = new Uint8Array(whole.buffer, whole.byteOffset + 1000, 5000);
    expect(await client.put('/view', view)).toEqual({ path: '/view', size: 5000, etag: inlineEtag(whole.subarray(1000, 6000)) });
    expect((await read('/view')).equals(whole.subarray(1000, 6000))).toBe(true);
  });

  it('goes the chunk way for empty, over the threshold or the chunk size, inline: false, or an expectedSize that differs', async () => {
    await client.put('/empty', new Uint8Array(0));
    expect(meta.methods()).toEqual(['fs.commit']);
    expect(meta.files.get('/empty')).toMatchObject({ size: 0, chunks: [] });
    const over = bytes(LEADER_MAX + 1, 3);
    await client.put('/over', over);
    await client.put('/cut', bytes(2500, 4), { chunkSize: 1000 });
    await client.put('/off', bytes(10, 5), { inline: false });
    expect(meta.methods().filter((m) => m === 'fs.put')).toEqual([]);
    expect(meta.files.get('/cut')!.chunks.map((c) => c[1])).toEqual([1000, 1000, 500]);
    expect(meta.files.get('/off')!.chunks).toHaveLength(1);
    expect((await read('/over')).equals(over)).toBe(true);
    const e = await rejection(client.put('/lied', bytes(11, 7), { expectedSize: 10 }));
    expect(isCairnError(e, 'InvalidArgument')).toBe(true);
    expect(meta.files.has('/lied')).toBe(false);
  });

  it('with a signal is written as a stream of its bytes is; an already aborted signal fails the put at once and stores nothing', { timeout: 10_000 }, async () => {
    const ac = new AbortController();
    await client.put('/signal', bytes(10, 6), { signal: ac.signal });
    expect(meta.files.get('/signal')!.inline).toBeDefined();
    ac.abort();
    expect((await rejection(client.put('/aborted', bytes(10, 16), { signal: ac.signal }))).name).toBe('AbortError');
    expect((await rejection(client.put('/aborted', [bytes(10, 16)], { signal: ac.signal }))).name).toBe('AbortError');
    expect(meta.files.has('/aborted')).toBe(false);
    // A write stream made with it settles `done` (it used to wait forever).
    const ws = client.createWriteStream('/aborted', { signal: ac.signal });
    const streamError = new Promise<Error>((resolve) => ws.once('error', resolve));
    expect((await rejection(ws.done)).name).toBe('AbortError');
    expect((await streamError).name).toBe('AbortError');
    expect(ws.destroyed).toBe(true);
    expect(meta.files.has('/aborted')).toBe(false);
  });

  it('on a refusal stores the bytes in chunks and remembers the cluster threshold', async () => {
    meta = new FakeMeta(nodes, { replicas: 2, chunkSize: CHUNK, inlineBytesMax: 100 });
    client.close();
    client = clientOver(meta);
    const data = bytes(1000, 8);
    expect(await client.put('/a', data)).toMatchObject({ path: '/a', size: 1000 });
    expect(meta.methods()).toEqual(['fs.put', 'fs.view', 'fs.commit']);
    expect((await read('/a')).equals(data)).toBe(true);
    await client.put('/b', bytes(1000, 9)); // over the learned threshold: straight to chunks, placed from the cached view
    await client.put('/c', bytes(100, 10)); // within it: inline
    expect(meta.methods().slice(3)).toEqual(['fs.open', 'fs.commit', 'fs.put']);
    expect(meta.files.get('/c')!.inline).toBeDefined();
  });

  it('keeps the write rules: AlreadyExists without overwrite, / is a directory, other failures passed on', async () => {
    await client.put('/o', bytes(10, 11));
    expect(isCairnError(await rejection(client.put('/o', bytes(10, 12))), 'AlreadyExists')).toBe(true);
    const small = bytes(20, 13);
    await client.put('/o', small, { overwrite: true });
    expect((await read('/o')).equals(small)).toBe(true);
    expect(isCairnError(await rejection(client.put('/', bytes(10, 14))), 'IsADirectory')).toBe(true);
    meta.answers.set('fs.put', () => {
      throw new CairnError('Unavailable', 'no leader');
    });
    expect(isCairnError(await rejection(client.put('/u', bytes(10, 15))), 'Unavailable')).toBe(true);
    expect(meta.files.has('/u')).toBe(false);
  });
});

describe('open(): inline bytes', () => {
  it('hands an inline file’s range over whole, the same bytes its stream yields; null for a chunked file', async () => {
    const data = bytes(50_000, 21);
    await client.put('/f', data);
    const o = await client.open('/f', { start: 100, end: 30_100 });
    expect(o.inline!.equals(data.subarray(100, 30_100))).toBe(true);
    expect((await collect(o.stream)).equals(o.inline!)).toBe(true);
    expect((await client.open('/f', { start: data.length })).inline!.length).toBe(0);
    const big = bytes(3 * CHUNK, 22);
    await client.put('/big', big);
    const c = await client.open('/big');
    expect(c.inline).toBeNull();
    expect((await collect(c.stream)).equals(big)).toBe(true);
  });
});

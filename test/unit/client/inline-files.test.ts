import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';
import { bytes, collect, pieces, rejection } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';

// Small files inline: which writes the client sends whole as one fs.put, falling back to chunks
// on a refusal (and remembering the cluster's threshold), deferred commits, and reads (Range,
// CRC) served from fs.open's bytes. Three real chunk servers, a fake leader that inlines up to
// LEADER_MAX bytes.

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

const read = async (path: string, range: { start?: number; end?: number } = {}): Promise<Buffer> => collect((await client.open(path, range)).stream);

describe('inline writes', () => {
  it('a small stream that ends within the threshold is one fs.put: no placement, no chunk, no commit', async () => {
    const data = bytes(10_000, 1);
    const r = await client.put('/d/small', pieces(data, 999));
    expect(r).toEqual({ path: '/d/small', size: data.length, etag: inlineEtag(data) });
    expect(meta.methods()).toEqual(['fs.put']);
    const call = meta.calls[0]!;
    expect(call.idempotent).toBe(true);
    expect(call.body).toMatchObject({ path: '/d/small', crc: crc32c(data), overwrite: false, parents: true, s: ['test-client', 1, 1] });
    expect(client.counters).toMatchObject({ chunksWritten: 0, inlinePuts: 1 });
    expect((await read('/d/small')).equals(data)).toBe(true);
    expect(client.counters.inlineReads).toBe(1);
  });

  it('pieces in an array that fit inline are one fs.put of their bytes in order; over the threshold or with inline: false they go the chunk way', async () => {
    const a = bytes(3000, 21);
    const b = bytes(5000, 22);
    const whole = Buffer.concat([a, b]);
    expect(await client.put('/arr', [a, b])).toEqual({ path: '/arr', size: whole.length, etag: inlineEtag(whole) });
    expect(meta.methods()).toEqual(['fs.put']);
    expect(meta.calls[0]!.body).toMatchObject({ path: '/arr', crc: crc32c(whole) });
    expect((await read('/arr')).equals(whole)).toBe(true);
    await client.put('/arr-over', [bytes(LEADER_MAX, 23), bytes(1, 24)]);
    await client.put('/arr-off', [a], { inline: false });
    expect(meta.methods().filter((m) => m === 'fs.put')).toHaveLength(1);
    expect(meta.files.get('/arr-over')!.chunks).toHaveLength(1);
    expect(meta.files.get('/arr-off')!.chunks).toHaveLength(1);
    expect(client.counters).toMatchObject({ inlinePuts: 1 });
  });

  it('exactly the threshold goes inline; one byte more, or a stream that outgrows it, goes the chunk way', async () => {
    await client.put('/at', pieces(bytes(LEADER_MAX, 2), 4096));
    expect(meta.methods()).toEqual(['fs.put']);
    const over = bytes(LEADER_MAX + 1, 3);
    await client.put('/over', pieces(over, 4096));
    expect(meta.methods().slice(1)).toEqual(['fs.view', 'fs.commit']);
    const big = bytes(3 * CHUNK + 7, 4);
    await client.put('/big', pieces(big, 50_000));
    expect(meta.methods().filter((m) => m === 'fs.put')).toHaveLength(1);
    expect(meta.files.get('/over')!.chunks).toHaveLength(1);
    expect(meta.files.get('/big')!.chunks).toHaveLength(4);
    expect((await read('/over')).equals(over)).toBe(true);
    expect((await read('/big')).equals(big)).toBe(true);
  });

  it('goes the chunk way for an empty file, an expected size over the threshold, a smaller chunk size, or inline: false', async () => {
    await client.put('/empty', []);
    await client.put('/expected', [bytes(10, 5)], { expectedSize: 10 });
    expect(meta.methods()).toEqual(['fs.commit', 'fs.put']);
    const ws = client.createWriteStream('/declared', { expectedSize: LEADER_MAX + 1 });
    await pipeline(Readable.from([bytes(LEADER_MAX + 1, 6)]), ws);
    await client.put('/cut', [bytes(2500, 7)], { chunkSize: 1000 });
    await client.put('/off', [bytes(10, 8)], { inline: false });
    expect(meta.methods().filter((m) => m === 'fs.put')).toHaveLength(1);
    expect(meta.files.get('/cut')!.chunks.map((c) => c[1])).toEqual([1000, 1000, 500]);
    expect(meta.files.get('/off')!.chunks).toHaveLength(1);
    // More bytes than the declared size still fail the write.
    const e = await rejection(client.put('/lied', [bytes(11, 9)], { expectedSize: 10 }));
    expect(isCairnError(e, 'InvalidArgument')).toBe(true);
    expect(meta.files.has('/lied')).toBe(false);
  });

  it('on a refusal stores the file in chunks and remembers the cluster threshold', async () => {
    meta = new FakeMeta(nodes, { replicas: 2, chunkSize: CHUNK, inlineBytesMax: 100 });
    client.close();
    client = clientOver(meta);
    const data = bytes(1000, 10);
    expect(await client.put('/a', [data])).toMatchObject({ size: 1000 });
    expect(meta.methods()).toEqual(['fs.put', 'fs.view', 'fs.commit']);
    expect(meta.files.get('/a')!.inline).toBeUndefined();
    expect((await read('/a')).equals(data)).toBe(true);
    await client.put('/b', [bytes(1000, 11)]); // over the learned threshold: straight to chunks
    await client.put('/c', [bytes(100, 12)]); // within it: inline
    // The placement view is reused: the second chunked file costs its commit only.
    expect(meta.methods().slice(3)).toEqual(['fs.open', 'fs.commit', 'fs.put']);
    expect(meta.files.get('/c')!.inline).toBeDefined();
  });

  it('overwrite: an existing file is refused without it and replaced with it, chunked ↔ inline', async () => {
    await client.put('/o', [bytes(3 * CHUNK, 13)]);
    const e = await rejection(client.put('/o', [bytes(10, 14)]));
    expect(isCairnError(e, 'AlreadyExists')).toBe(true);
    const small = bytes(10, 15);
    await client.put('/o', [small], { overwrite: true });
    expect((await read('/o')).equals(small)).toBe(true);
    const big = bytes(CHUNK + 1, 16);
    await client.put('/o', [big], { overwrite: true });
    expect((await read('/o')).equals(big)).toBe(true);
  });

  it('deferCommit holds the bytes until commit(), then sends one fs.put; refused then, it stores chunks and commits them', async () => {
    const data = bytes(5000, 17);
    const w = client.createWriteStream('/deferred', { deferCommit: true, overwrite: true });
    await pipeline(Readable.from([data]), w);
    expect(await w.done).toEqual({ path: '/deferred', size: 5000, etag: inlineEtag(data) });
    expect(meta.calls).toEqual([]);
    expect(await w.commit()).toEqual({ path: '/deferred', size: 5000, etag: inlineEtag(data) });
    expect(meta.methods()).toEqual(['fs.put']);
    // The leader refuses it at commit time (say the cluster's inline cap is reached).
    const w2 = client.createWriteStream('/deferred2', { deferCommit: true });
    await pipeline(Readable.from([data]), w2);
    await w2.done;
    meta.answers.set('fs.put', () => {
      throw new CairnError('InlineRefused', 'the cluster cap is reached', { inlineBytesMax: LEADER_MAX });
    });
    expect(meta.files.has('/deferred2')).toBe(false);
    expect(await w2.commit()).toMatchObject({ path: '/deferred2', size: 5000 });
    expect(meta.methods().slice(1)).toEqual(['fs.put', 'fs.view', 'fs.commit']);
    expect(meta.files.get('/deferred2')!.chunks).toHaveLength(1);
    expect((await read('/deferred2')).equals(data)).toBe(true);
  });
});

describe('inline reads', () => {
  const data = bytes(50_000, 21);
  beforeEach(async () => {
    await client.put('/f', [data]);
  });

  it('serve ranges as slices of the inline bytes, exactly as for chunked files', async () => {
    for (const [start, end] of [[0, 1], [0, data.length], [1234, 40_000], [data.length - 1, data.length], [49_999, undefined], [0, data.length + 100], [7, 7]] as Array<[number, number | undefined]>) {
      const r = await client.open('/f', { start, ...(end === undefined ? {} : { end }) });
      const want = data.subarray(start, Math.min(end ?? data.length, data.length));
      expect(r.end - r.start).toBe(want.length);
      expect((await collect(r.stream)).equals(want)).toBe(true);
    }
    expect((await collect(client.createReadStream('/f', { start: 100, end: 200 }))).equals(data.subarray(100, 200))).toBe(true);
    expect((await client.open('/f', { start: data.length })).end).toBe(data.length);
    expect(isCairnError(await rejection(client.open('/f', { start: data.length + 1 })), 'RangeNotSatisfiable')).toBe(true);
    expect(meta.methods().filter((m) => m !== 'fs.open' && m !== 'fs.put')).toEqual([]);
  });

  it('detect bytes that fail their CRC: Corrupt, and no byte passed on', async () => {
    const f = meta.files.get('/f')!;
    f.inline = { data: Uint8Array.from(data), crc: f.inline!.crc };
    f.inline.data[100] = f.inline.data[100]! ^ 1;
    expect(isCairnError(await rejection(client.open('/f')), 'Corrupt')).toBe(true);
    const got: Buffer[] = [];
    const s = client.createReadStream('/f');
    s.on('data', (b: Buffer) => got.push(b));
    expect(isCairnError(await rejection(collect(s)), 'Corrupt')).toBe(true);
    expect(got).toEqual([]);
  });
});

// Whole contents in memory: put() of a Uint8Array (one fs.put, no write stream, when it goes
// inline; otherwise exactly what a stream of the same bytes does) and open()'s `inline` bytes.

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

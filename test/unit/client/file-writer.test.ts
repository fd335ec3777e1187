import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { etagOf } from '../../../src/client/file-writer.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes, collect, pieces, rejection, waitUntil } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';

// The write path against three real chunk servers in this process and a fake metadata leader.

const CHUNK = 100_000;
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let nodes: ChunkNode[];
let meta: FakeMeta;
let client: CairnClient;

beforeEach(async () => {
  cluster = await startChunkNodes(3);
  nodes = cluster.nodes;
  meta = new FakeMeta(nodes, { replicas: 2, chunkSize: CHUNK });
  client = clientOver(meta);
});

afterEach(async () => {
  client.close();
  await cluster.close();
});

const holdersOf = (id: string): string[] => nodes.filter((n) => n.has(id)).map((n) => n.id);

describe('file writer', () => {
  it('cuts the input into chunks, stores each on its R targets, commits once, and reads back byte-exact', async () => {
    const data = bytes(3 * CHUNK + 50_000, 3);
    const r = await client.put('/d/f.bin', pieces(data, 7_777));
    const f = meta.files.get('/d/f.bin')!;
    expect(f.chunks.map((c) => c[1])).toEqual([CHUNK, CHUNK, CHUNK, 50_000]);
    f.chunks.forEach(([id, size, crc], i) => {
      expect(crc).toBe(crc32c(data.subarray(i * CHUNK, i * CHUNK + size)));
      expect(holdersOf(id)).toHaveLength(2);
    });
    expect(r).toEqual({ path: '/d/f.bin', size: data.length, etag: etagOf(data.length, f.chunks.map((c) => c[0])) });
    expect(f.etag).toBe(r.etag);
    // One commit, carrying a request id, sent as retryable (the leader applies it once).
    const commits = meta.calls.filter((c) => c.method === 'fs.commit');
    expect(commits).toHaveLength(1);
    expect(commits[0]!.body.s).toEqual(['test-client', 1, 1]);
    expect(commits[0]!.idempotent).toBe(true);
    expect(client.counters).toMatchObject({ chunksWritten: 4, retargets: 0 });
    const back = await client.open('/d/f.bin');
    expect(back.size).toBe(data.length);
    expect((await collect(back.stream)).equals(data)).toBe(true);
  });

  it('an empty input commits an empty file', async () => {
    await client.put('/empty', []);
    expect(meta.files.get('/empty')).toMatchObject({ size: 0, chunks: [] });
    expect((await collect((await client.open('/empty')).stream)).length).toBe(0);
  });

  it('replaces a failed write target (fs.retarget) and the chunk still reaches R servers', async () => {
    await nodes[1]!.stop(); // c2: a target of chunks 0 (second in the pipeline) and 1 (first)
    const data = bytes(2 * CHUNK + 123, 4);
    await client.put('/r.bin', pieces(data, 65_536));
    const retargets = meta.calls.filter((c) => c.method === 'fs.retarget');
    expect(retargets.length).toBeGreaterThanOrEqual(2);
    for (const c of retargets) {
      expect(c.body.exclude).toContain('c2');
      expect(c.idempotent).toBe(true);
    }
    expect(client.counters.retargets).toBe(retargets.length);
    for (const [id] of meta.files.get('/r.bin')!.chunks) expect(holdersOf(id).sort()).toEqual(['c1', 'c3']);
    expect((await collect((await client.open('/r.bin')).stream)).equals(data)).toBe(true);
  });

  it('aborting the signal mid-write commits nothing', async () => {
    const ac = new AbortController();
    const data = bytes(5 * CHUNK, 5);
    async function* source(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 2 * CHUNK);
      await waitUntil(() => client.counters.chunksWritten >= 1);
      ac.abort();
      yield data.subarray(2 * CHUNK);
    }
    const err = await rejection(client.put('/aborted', source(), { signal: ac.signal }));
    expect(err.name).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 100)); // nothing arrives late either
    expect(meta.methods()).not.toContain('fs.commit');
    expect(meta.files.size).toBe(0);
  });

  it('destroying the write stream mid-write commits nothing and rejects done', async () => {
    const ws = client.createWriteStream('/destroyed');
    const streamErrors: Error[] = [];
    ws.on('error', (e) => streamErrors.push(e));
    ws.write(bytes(CHUNK + 10, 6));
    await waitUntil(() => client.counters.chunksWritten >= 1);
    ws.destroy(new Error('caller went away'));
    expect((await rejection(ws.done)).message).toBe('caller went away');
    await new Promise((r) => setTimeout(r, 100));
    expect(streamErrors.map((e) => e.message)).toEqual(['caller went away']);
    expect(meta.methods()).not.toContain('fs.commit');
    expect(meta.files.size).toBe(0);
  });

  it('a multi-chunk write onto an existing file without overwrite fails early with AlreadyExists', async () => {
    await client.put('/exists', [Buffer.from('old')]);
    const err = await rejection(client.put('/exists', pieces(bytes(4 * CHUNK, 7), CHUNK)));
    expect(isCairnError(err, 'AlreadyExists')).toBe(true);
    expect(meta.calls.filter((c) => c.method === 'fs.commit')).toHaveLength(1);
    await client.put('/exists', [Buffer.from('new')], { overwrite: true });
    expect((await collect((await client.open('/exists')).stream)).toString()).toBe('new');
  });

  it('a malformed fs.alloc answer fails the write with a ProtocolError naming the field', async () => {
    meta.answers.set('fs.alloc', () => ({ chunkSize: CHUNK, chunks: [{ id: '../x', targets: [] }] }));
    const err = await rejection(client.put('/p', [Buffer.from('x')]));
    expect(isCairnError(err, 'ProtocolError')).toBe(true);
    expect(err.message).toBe('fs.alloc answer: chunks[0].id must be a chunk id (32 lowercase hex digits)');
    expect(meta.files.size).toBe(0);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { contentEtag } from '../../../src/util/content-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes, collect, pieces, rejection, waitUntil } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';
import { Ring, ringLayoutFromValue, writeTargets } from '../../../src/placement/index.js';

/** The ring the fake leader describes now. */
function decodeRingOf(m: FakeMeta): Ring {
  return Ring.build(ringLayoutFromValue(m.view().ring));
}

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
    expect(r).toEqual({ path: '/d/f.bin', size: data.length, etag: contentEtag(data.length, f.chunks.map(([, size, crc]) => ({ size, crc }))) });
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

  it('chunk buffers come from the client’s pool and go back to it: the next write takes no new one; expectedSize still bounds the input', async () => {
    const data = bytes(3 * CHUNK + 7, 9);
    await client.put('/a.bin', pieces(data, 10_000));
    const spy = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      await client.put('/b.bin', pieces(data, 10_000));
      expect(spy.mock.calls.filter(([n]) => n >= CHUNK)).toEqual([]);
      // A write declared smaller than what comes: refused although its (pooled) buffer is a chunk long.
      const w = client.createWriteStream('/c.bin', { expectedSize: 5_000, inline: false });
      w.on('error', () => undefined); // the failure is read from done
      const err = await rejection(
        (async (): Promise<void> => {
          w.write(bytes(4_000, 1));
          w.end(bytes(4_000, 2));
          await w.done;
        })(),
      );
      expect(isCairnError(err, 'InvalidArgument')).toBe(true);
      expect(meta.files.has('/c.bin')).toBe(false);
    } finally {
      spy.mockRestore();
    }
    expect((await collect((await client.open('/b.bin')).stream)).equals(data)).toBe(true);
  });

  it('an empty input commits an empty file', async () => {
    await client.put('/empty', []);
    expect(meta.files.get('/empty')).toMatchObject({ size: 0, chunks: [] });
    expect((await collect((await client.open('/empty')).stream)).length).toBe(0);
  });

  it('replaces a failed write target by the next server in ring order of a refreshed view; the chunk still reaches R servers', async () => {
    await nodes[1]!.stop(); // c2: the leader has not noticed yet (its view still says writable)
    const data = bytes(2 * CHUNK + 123, 4);
    await client.put('/r.bin', pieces(data, 65_536));
    const chunks = meta.files.get('/r.bin')!.chunks;
    // Chunks whose ring targets include c2 failed once each and went to the next server instead.
    const view = decodeRingOf(meta);
    const hitC2 = chunks.filter(([id]) => writeTargets(view, id, 2, () => true).includes('c2')).length;
    expect(hitC2).toBeGreaterThan(0);
    expect(client.counters.retargets).toBe(hitC2);
    expect(meta.methods().filter((m) => m === 'fs.view').length).toBeGreaterThanOrEqual(2); // refreshed after a failure
    expect(meta.methods()).not.toContain('fs.retarget');
    expect(meta.methods()).not.toContain('fs.alloc');
    for (const [id] of chunks) expect(holdersOf(id).sort()).toEqual(['c1', 'c3']);
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

  it('a malformed fs.view answer fails the write with a ProtocolError naming the field', async () => {
    const good = (await meta.call('fs.view', {})) as Record<string, unknown>;
    meta.answers.set('fs.view', () => ({ ...good, grant: { prefix: '../x', token: 't', ttlMs: 1000 } }));
    const err = await rejection(client.put('/p', [Buffer.from('x')]));
    expect(isCairnError(err, 'ProtocolError')).toBe(true);
    expect(err.message).toBe('fs.view answer: grant.prefix must be 16 lowercase hex digits');
    meta.answers.set('fs.view', () => ({ ...good, ring: [1, 1, 1024, [['c1', 'z', 1, 9]]] }));
    const bad = await rejection(client.put('/p', [Buffer.from('x')]));
    expect(isCairnError(bad, 'ProtocolError')).toBe(true);
    expect(bad.message).toBe('ring layout: unknown server state tag 9');
    expect(meta.files.size).toBe(0);
  });
});

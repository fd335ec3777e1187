import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import type { FileReader } from '../../../src/client/file-reader.js';
import type { ClientCore } from '../../../src/client/client-core.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes, collect } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';

// The read path against three real chunk servers in this process and a fake metadata leader.
// The file: 3.5 chunks, R = 2; chunk k is on nodes k and k+1 (mod 3).

const CHUNK = 100_000;
const SIZE = 3 * CHUNK + 50_000;
const data = bytes(SIZE, 11);
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let nodes: ChunkNode[];
let meta: FakeMeta;
let client: CairnClient;
let ids: string[];

beforeEach(async () => {
  cluster = await startChunkNodes(3);
  nodes = cluster.nodes;
  meta = new FakeMeta(nodes, { replicas: 2, chunkSize: CHUNK });
  client = clientOver(meta);
  await meta.storeFile('/f', data);
  ids = meta.files.get('/f')!.chunks.map((c) => c[0]);
});

afterEach(async () => {
  client.close();
  await cluster.close();
});

async function read(range: { start?: number; end?: number } = {}): Promise<Buffer> {
  return collect((await client.open('/f', range)).stream);
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('file reader', () => {
  it('reads ranges at the start, in the middle, at the end and across chunks, byte-exact', async () => {
    const cases: Array<[number, number | undefined]> = [
      [0, 10],
      [150_000, 150_100],
      [SIZE - 10, undefined],
      [SIZE - 10, SIZE + 1_000], // end is clamped to the size
      [CHUNK - 10, 3 * CHUNK + 10], // four chunks, two of them partly
      [CHUNK, 2 * CHUNK], // exactly one whole chunk
      [2 * CHUNK - 1, 2 * CHUNK + 1], // one byte on each side of a boundary
      [0, undefined],
    ];
    for (const [start, end] of cases) {
      const o = await client.open('/f', { start, ...(end === undefined ? {} : { end }) });
      const want = data.subarray(start, Math.min(end ?? SIZE, SIZE));
      expect({ start: o.start, end: o.end, size: o.size }).toEqual({ start, end: start + want.length, size: SIZE });
      expect((await collect(o.stream)).equals(want), `range ${start}-${end}`).toBe(true);
    }
    expect(client.counters.readFailovers).toBe(0);
  });

  it('an empty range at the end reads nothing; a start past the end is RangeNotSatisfiable', async () => {
    expect((await read({ start: SIZE })).length).toBe(0);
    expect((await read({ start: 5, end: 5 })).length).toBe(0);
    expect(isCairnError(await failure(client.open('/f', { start: SIZE + 1 })), 'RangeNotSatisfiable')).toBe(true);
    expect(isCairnError(await failure(client.open('/f', { start: 10, end: 5 })), 'RangeNotSatisfiable')).toBe(true);
    expect(isCairnError(await failure(client.open('/nope')), 'NotFound')).toBe(true);
  });

  it('fails over to another replica when a server is down', async () => {
    await nodes[0]!.stop(); // the first replica of chunks 0 and 2 (c1)
    expect((await read()).equals(data)).toBe(true);
    expect(client.counters.readFailovers).toBeGreaterThanOrEqual(2);
    expect((await read({ start: 2 * CHUNK + 5, end: 2 * CHUNK + 500 })).equals(data.subarray(2 * CHUNK + 5, 2 * CHUNK + 500))).toBe(true);
    expect(meta.bad).toEqual([]); // a server that is down is not a corrupt replica
  });

  it('detects a corrupt replica, reports it (fs.bad) and reads the chunk from another', async () => {
    const id = ids[1]!; // on c2 (first) and c3
    nodes[1]!.corrupt(id, 1_000);
    expect((await read()).equals(data)).toBe(true);
    expect(meta.bad).toEqual([{ id, server: 'c2' }]);
    expect(client.counters).toMatchObject({ badReplicasReported: 1 });
    expect(client.counters.readFailovers).toBeGreaterThanOrEqual(1);
    // fs.bad changes leader state but may be repeated: it is sent as retryable.
    expect(meta.calls.find((c) => c.method === 'fs.bad')?.idempotent).toBe(true);
  });

  it('a corrupt copy is caught in a range read too', async () => {
    const id = ids[0]!; // on c1 (first) and c2
    nodes[0]!.corrupt(id, 50_000);
    expect((await read({ start: 40_000, end: 60_000 })).equals(data.subarray(40_000, 60_000))).toBe(true);
    expect(meta.bad).toEqual([{ id, server: 'c1' }]);
  });

  it('when every replica fails it refreshes the locations once, then fails with Unavailable', async () => {
    for (const n of nodes) await n.stop();
    const opensBefore = meta.methods().filter((m) => m === 'fs.open').length;
    const err = await failure(read({ start: 0, end: 10 }));
    expect(isCairnError(err, 'Unavailable')).toBe(true);
    expect(err.message).toMatch(/cannot read chunk 0 of \/f: every replica failed/);
    // The first page, then one refresh of chunk 0's locations before giving up.
    expect(meta.methods().filter((m) => m === 'fs.open').length - opensBefore).toBe(2);
  });

  it('the stream hands out copies of at most 256 KiB, reading its chunks into buffers reused from read to read', async () => {
    // Chunks longer than a stream piece, of a length nothing else here allocates (own servers:
    // a second fake leader numbers its chunks from 1 again).
    const big = 1_500_001;
    const own = await startChunkNodes(3);
    const bigMeta = new FakeMeta(own.nodes, { replicas: 2, chunkSize: big });
    const bigClient = clientOver(bigMeta, { readAhead: 2 });
    const bigData = bytes(8 * big + 12_345, 5);
    await bigMeta.storeFile('/big', bigData);
    const spy = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const pieces: Buffer[] = [];
      for await (const b of (await bigClient.open('/big')).stream as AsyncIterable<Buffer>) pieces.push(b);
      // Byte-exact with every piece kept: no piece is a view of a buffer read into again.
      expect(Buffer.concat(pieces).equals(bigData)).toBe(true);
      for (const b of pieces) {
        expect(b.length).toBeLessThanOrEqual(256 * 1024);
        expect(b.buffer.byteLength).toBe(b.length); // its own allocation, not a view of a chunk buffer
      }
      // Nine chunks read into at most readAhead + 1 chunk buffers…
      const chunkBuffers = (): number => spy.mock.calls.filter(([n]) => n === big).length;
      const first = chunkBuffers();
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(3);
      // …and the client's next read of it (a Range read through pieces here) into the same ones.
      const r = (await bigClient.open('/big', { start: big - 7 })).stream as FileReader;
      const again: Buffer[] = [];
      for (let p = await r.nextPiece(); p !== null; p = await r.nextPiece()) {
        again.push(Buffer.from(p.bytes));
        p.release();
      }
      expect(Buffer.concat(again).equals(bigData.subarray(big - 7))).toBe(true);
      expect(chunkBuffers()).toBe(first);
    } finally {
      spy.mockRestore();
      bigClient.close();
      await own.close();
    }
  });

  it('a client\'s readers share its read-ahead: one reader fetches readAhead chunks ahead, six at once about one each', async () => {
    const budget = (client as unknown as { core: ClientCore }).core.readAheadBudget;
    expect(budget.max).toBe(3); // the default readAhead
    let peak = 0;
    const take = budget.take.bind(budget);
    budget.take = (own: number): boolean => {
      const ok = take(own);
      peak = Math.max(peak, budget.inUse);
      return ok;
    };
    const drainAll = async (readers: FileReader[]): Promise<Buffer[]> => {
      const out = readers.map(() => [] as Buffer[]);
      const done = readers.map(() => false);
      // Round-robin, one piece of each reader per turn: every reader holds its read-ahead at once.
      while (done.includes(false)) {
        for (const [i, r] of readers.entries()) {
          if (done[i]) continue;
          const p = await r.nextPiece();
          if (p === null) done[i] = true;
          else {
            out[i]!.push(Buffer.from(p.bytes));
            p.release();
          }
        }
      }
      return out.map((o) => Buffer.concat(o));
    };
    const open = async (): Promise<FileReader> => (await client.open('/f')).stream as FileReader;
    // One reader: the whole read-ahead (the file's 4 chunks: 3 fetched ahead at once).
    expect((await drainAll([await open()]))[0]!.equals(data)).toBe(true);
    expect(peak).toBe(3);
    expect(budget.inUse).toBe(0);
    // Six readers of one client: not 6 × 3 chunks ahead.
    peak = 0;
    const six = await drainAll(await Promise.all(Array.from({ length: 6 }, open)));
    for (const b of six) expect(b.equals(data)).toBe(true);
    expect(peak).toBeLessThanOrEqual(6);
    expect(budget.inUse).toBe(0);
    // A reader destroyed with chunks fetched ahead gives them back.
    const r = await open();
    (await r.nextPiece())!.release();
    expect(budget.inUse).toBeGreaterThan(0);
    r.destroy();
    expect(budget.inUse).toBe(0);
  });

  it('destroying the stream mid-read stops it with the caller’s error', async () => {
    const o = await client.open('/f');
    const got: Buffer[] = [];
    const done = new Promise<Error>((resolve) => o.stream.on('error', resolve));
    o.stream.on('data', (b: Buffer) => {
      got.push(b);
      o.stream.destroy(new Error('enough'));
    });
    expect((await done).message).toBe('enough');
    expect(Buffer.concat(got).equals(data.subarray(0, Buffer.concat(got).length))).toBe(true);
  });

  it('a malformed fs.open answer fails the open with a ProtocolError naming the field', async () => {
    const real = meta.call.bind(meta);
    meta.answers.set('fs.open', (b) => {
      meta.answers.delete('fs.open');
      return real('fs.open', b).then((a) => {
        const chunks = (a as { chunks: Array<Record<string, unknown>> }).chunks;
        chunks[3]!.size = -1;
        return a;
      });
    });
    const err = await failure(client.open('/f'));
    expect(isCairnError(err, 'ProtocolError')).toBe(true);
    expect(err.message).toBe('fs.open answer: chunks[3].size must be a non-negative integer');
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { CairnClient } from '../../../src/client/cairn-client.js';
import { replicaOrder } from '../../../src/client/replica-order.js';
import { SeededRng } from '../../../src/env/rng.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { silentLogger } from '../../../src/util/logger.js';
import { bytes, collect } from '../chunk/helpers.js';
import { FakeMeta, startChunkNodes } from './fake-meta.js';

describe('replica order', () => {
  it('a whole read keeps the listed order; a range read rotates the first choice over the first three, each tried once', () => {
    const reps = ['a', 'b', 'c', 'd'];
    expect(replicaOrder(reps, false, 5)).toEqual(reps);
    expect(replicaOrder(reps, true, 0)).toEqual(['a', 'b', 'c', 'd']);
    expect(replicaOrder(reps, true, 1)).toEqual(['b', 'c', 'a', 'd']);
    expect(replicaOrder(reps, true, 2)).toEqual(['c', 'a', 'b', 'd']);
    expect(replicaOrder(reps, true, 3)).toEqual(['a', 'b', 'c', 'd']);
    expect(replicaOrder(['x', 'y'], true, 1)).toEqual(['y', 'x']);
    expect(replicaOrder(['x'], true, 7)).toEqual(['x']);
    expect(replicaOrder([], true, 7)).toEqual([]);
  });
});

// Which server each chunk read goes to, against three real chunk servers and a fake leader (R = 3).
describe('range reads spread over replicas', () => {
  const CHUNK = 50_000;
  const data = bytes(4 * CHUNK, 9);
  let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
  let client: CairnClient;
  let asked: string[];
  /** Each chunk read as chunk@server. */
  let pairs: string[];

  beforeEach(async () => {
    cluster = await startChunkNodes(3);
    const meta = new FakeMeta(cluster.nodes, { replicas: 3, chunkSize: CHUNK });
    const chunks = new ChunkClient({ logger: silentLogger }, { idleTimeoutMs: 5000 });
    asked = [];
    pairs = [];
    const read = chunks.readChunk.bind(chunks);
    chunks.readChunk = (addr, ...rest) => {
      asked.push(addr);
      pairs.push(`${rest[0]}@${addr}`);
      return read(addr, ...rest);
    };
    client = new CairnClient({ meta, chunks, timers: systemTimers, clock: systemClock, rng: new SeededRng(1) }, { clientId: 'test-client' });
    await meta.storeFile('/f', data);
  });

  afterEach(async () => {
    client.close();
    await cluster.close();
  });

  it('parallel range reads of the same chunk go to different replicas; whole reads to the first', async () => {
    const ranges = Array.from({ length: 6 }, () => ({ start: CHUNK + 10, end: CHUNK + 1000 }));
    const outs = await Promise.all(ranges.map(async (r) => collect((await client.open('/f', r)).stream)));
    for (const o of outs) expect(o.equals(data.subarray(CHUNK + 10, CHUNK + 1000))).toBe(true);
    expect(new Set(asked).size).toBe(3); // all three copies served some of the six reads
    expect(client.counters.readFailovers).toBe(0);
    asked = [];
    for (let i = 0; i < 3; i++) expect((await collect((await client.open('/f')).stream)).equals(data)).toBe(true);
    // Whole reads: each chunk from its first listed replica every time (4 chunks, 3 reads).
    expect(asked.length).toBe(12);
    for (let c = 0; c < 4; c++) expect(new Set([asked[c], asked[c + 4], asked[c + 8]]).size).toBe(1);
  });

  it('the same range reads repeated go to the same replicas as before (whose caches hold them)', async () => {
    const ranges = [
      { start: 10, end: 3 * CHUNK + 10 },
      { start: CHUNK + 10, end: 4 * CHUNK },
      { start: CHUNK + 10, end: 2 * CHUNK },
    ];
    const round = async (): Promise<string[]> => {
      asked = [];
      pairs = [];
      const outs = await Promise.all(ranges.map(async (r) => collect((await client.open('/f', r)).stream)));
      outs.forEach((o, i) => expect(o.equals(data.subarray(ranges[i]!.start, ranges[i]!.end))).toBe(true));
      return [...pairs].sort();
    };
    const first = await round();
    expect(new Set(asked).size).toBe(3);
    for (let i = 0; i < 3; i++) expect(await round()).toEqual(first);
    // One read alone, repeated: the same replica for each chunk every time.
    const alone: string[][] = [];
    for (let i = 0; i < 3; i++) {
      pairs = [];
      await collect((await client.open('/f', { start: 10, end: 4 * CHUNK })).stream);
      alone.push(pairs);
    }
    expect(alone[1]).toEqual(alone[0]);
    expect(alone[2]).toEqual(alone[0]);
  });
});

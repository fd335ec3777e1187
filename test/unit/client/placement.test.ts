/**
 * The fast write path against real chunk servers and a fake leader: chunks named under the
 * view's write grant and placed by the client, a dead target replaced by the next server in
 * ring order, StaleRing at commit, grants refreshed before they expire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { Ring, ringLayoutFromValue, writeTargets } from '../../../src/placement/index.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes, collect, pieces, rejection } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes, type ChunkNode } from './fake-meta.js';

const CHUNK = 50_000;
let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
let nodes: ChunkNode[];
let meta: FakeMeta;
let client: CairnClient;

async function setup(n: number, replicas: number, clock?: { nowMs(): number }, full: string[] = []): Promise<void> {
  cluster = await startChunkNodes(n, { full });
  nodes = cluster.nodes;
  meta = new FakeMeta(nodes, { replicas, chunkSize: CHUNK });
  client = clientOver(meta, {}, 5000, clock);
}

afterEach(async () => {
  client.close();
  await cluster.close();
});

const holdersOf = (id: string): string[] => nodes.filter((n) => n.has(id)).map((n) => n.id);
const ringOf = (m: FakeMeta): Ring => Ring.build(ringLayoutFromValue(m.view().ring));
const commits = (): Array<Record<string, unknown>> => meta.calls.filter((c) => c.method === 'fs.commit').map((c) => c.body);
/** Calls to the leader but the early existence checks of multi-chunk files (fs.stat). */
const placementCalls = (): string[] => meta.methods().filter((m) => m !== 'fs.stat');
/** The grant prefix of the fake's n-th fs.view. */
const fakePrefix = (n: number): string => (0xc0ffee00 + n).toString(16).padStart(16, '0');

describe('client-side placement', () => {
  it('one fs.view serves many files: ids under the grant prefix, on the ring targets, the ring version in each commit', async () => {
    await setup(5, 3);
    const data = bytes(2 * CHUNK + 7, 1);
    for (const p of ['/a', '/b', '/c']) await client.put(p, pieces(data, 20_000));
    expect(placementCalls()).toEqual(['fs.view', 'fs.commit', 'fs.commit', 'fs.commit']);
    const ring = ringOf(meta);
    const used = new Set<string>();
    for (const p of ['/a', '/b', '/c']) {
      for (const [id] of meta.files.get(p)!.chunks) {
        expect(id).toMatch(/^[0-9a-f]{32}$/);
        expect(id.slice(0, 16)).toBe(fakePrefix(1));
        used.add(id);
        expect(holdersOf(id).sort()).toEqual(writeTargets(ring, id, 3, () => true).sort());
      }
    }
    expect(used.size).toBe(9);
    expect(commits().map((b) => b.ringVersion)).toEqual([1, 1, 1]);
    expect(client.counters).toMatchObject({ viewFetches: 1, retargets: 0, staleRingCommits: 0 });
    expect((await collect((await client.open('/b')).stream)).equals(data)).toBe(true);
  });

  it('a dead target: the chunk goes to the next server in ring order of a refreshed view, no fs.retarget', async () => {
    await setup(5, 2);
    const dead = nodes[2]!;
    await dead.stop(); // the leader has not noticed: its view still says c3 takes writes
    const data = bytes(8 * CHUNK, 2);
    await client.put('/d', pieces(data, 30_000));
    const ring = ringOf(meta);
    const chunks = meta.files.get('/d')!.chunks;
    let hit = 0;
    for (const [id] of chunks) {
      const first = writeTargets(ring, id, 2, () => true);
      if (first.includes(dead.id)) hit++;
      // Exactly the ring's choice without the dead server: its next server replaced it.
      expect(holdersOf(id).sort()).toEqual(writeTargets(ring, id, 2, () => true, new Set([dead.id])).sort());
    }
    expect(hit).toBeGreaterThan(0);
    expect(client.counters.retargets).toBe(hit);
    expect(client.counters.viewFetches).toBeGreaterThanOrEqual(2);
    expect(meta.methods()).not.toContain('fs.retarget');
    expect(meta.methods()).not.toContain('fs.alloc');
    expect((await collect((await client.open('/d')).stream)).equals(data)).toBe(true);
  });

  it('no server left outside the failed ones: a failed target is tried again after a backoff, and takes the chunk once it is back', async () => {
    await setup(3, 3);
    const restarting = nodes[1]!;
    await restarting.stop(); // a restart: refused for a moment, then the same server again
    const back = new Promise<void>((resolve, reject) => setTimeout(() => restarting.restart().then(resolve, reject), 1500));
    const data = bytes(2 * CHUNK, 21);
    await client.put('/restarted', pieces(data, 20_000));
    await back;
    for (const [id] of meta.files.get('/restarted')!.chunks) expect(holdersOf(id).sort()).toEqual(['c1', 'c2', 'c3']);
    expect(client.counters.retargets).toBeGreaterThan(0);
    expect((await collect((await client.open('/restarted')).stream)).equals(data)).toBe(true);
  });

  it('a full server is not asked again for the chunk it refused: the next server takes it; none left: NoSpace at once, not after the retry window', async () => {
    // The leader has not heard yet that c2's disk is full: its view still offers c2 for writes.
    await setup(4, 3, undefined, ['c2']);
    const data = bytes(6 * CHUNK, 31);
    await client.put('/spill', pieces(data, 25_000));
    for (const [id] of meta.files.get('/spill')!.chunks) expect(holdersOf(id).sort()).toEqual(['c1', 'c3', 'c4']);
    expect(client.counters.retargets).toBeGreaterThan(0);
    client.close();
    await cluster.close();
    await setup(3, 3, undefined, ['c2']); // R = 3 on 3 servers, one of them full
    const started = Date.now();
    const err = await rejection(client.put('/nowhere', pieces(bytes(2 * CHUNK, 32), 25_000)));
    const tookMs = Date.now() - started;
    expect(isCairnError(err, 'NoSpace'), String(err)).toBe(true);
    expect(err.message).toMatch(/^chunk [01] of \/nowhere reached 2 of 3 replicas: no server with free space is left \(c2 full; c2: NoSpace /);
    expect(tookMs).toBeLessThan(5000); // the window for servers that may come back is 15 s
    expect(meta.files.has('/nowhere')).toBe(false);
  });

  it('a server the view marks not writable is never a target', async () => {
    await setup(4, 2);
    meta.notWritable.add('c1');
    await client.put('/w', pieces(bytes(6 * CHUNK, 3), 25_000));
    for (const [id] of meta.files.get('/w')!.chunks) expect(holdersOf(id)).not.toContain('c1');
    expect(client.counters.retargets).toBe(0);
  });

  it('fewer writable servers than R: every one of them holds the chunk (as fs.alloc placed); none: NoSpace', async () => {
    await setup(3, 3);
    meta.notWritable.add('c2');
    const data = bytes(2 * CHUNK, 12);
    await client.put('/small-cluster', pieces(data, 20_000));
    for (const [id] of meta.files.get('/small-cluster')!.chunks) expect(holdersOf(id)).toEqual(['c1', 'c3']);
    expect(client.counters.retargets).toBe(0);
    for (const n of ['c1', 'c3']) meta.notWritable.add(n);
    client.close();
    client = clientOver(meta); // a client whose first view has no writable server
    const views = client.counters.viewFetches;
    const err = await rejection(client.put('/full', [bytes(10, 13)]));
    expect(isCairnError(err, 'NoSpace')).toBe(true);
    expect(err.message).toBe('no live chunk server with free space can take a new chunk');
    expect(client.counters.viewFetches).toBe(views + 2); // asked once more before giving up
    expect(meta.files.has('/full')).toBe(false);
  });

  it('StaleRing at commit: the client refreshes its view, checks the holders and commits again with the new version', async () => {
    await setup(4, 2);
    await client.put('/first', [bytes(10, 4)]);
    meta.ringVersion = 2; // the ring moved on after the client fetched its view
    const data = bytes(3 * CHUNK, 5);
    const r = await client.put('/second', pieces(data, 40_000));
    expect(commits().map((b) => b.ringVersion)).toEqual([1, 1, 2]);
    expect(placementCalls().slice(3)).toEqual(['fs.commit', 'fs.view', 'fs.commit']); // after fs.put (refused), fs.view, fs.commit of /first
    expect(client.counters.staleRingCommits).toBe(1);
    expect(meta.files.get('/second')!.etag).toBe(r.etag);
    expect((await collect((await client.open('/second')).stream)).equals(data)).toBe(true);
    // The next file places with the new view at once.
    await client.put('/third', [bytes(10, 6)]);
    expect(commits().at(-1)!.ringVersion).toBe(2);
    expect(meta.methods().at(-1)).toBe('fs.commit');
  });

  it('StaleRing when a chunk has no holder the new ring counts: nothing is committed', async () => {
    await setup(3, 2);
    await client.put('/warm', [bytes(10, 7)]);
    const data = bytes(CHUNK, 8);
    const ring = ringOf(meta);
    // Between the chunk's upload and its commit both of its holders are declared dead.
    const orig = meta.call.bind(meta);
    let killed = false;
    meta.call = async (method, body, opts) => {
      if (method === 'fs.commit' && !killed) {
        killed = true;
        const chunkId = ((body as Record<string, unknown>).chunks as Array<[string]>)[0]![0];
        for (const s of writeTargets(ring, chunkId, 2, () => true)) meta.ringStates.set(s, 'dead');
        meta.ringVersion = 2;
      }
      return orig(method, body, opts);
    };
    const err = await rejection(client.put('/lost', [data]));
    expect(isCairnError(err, 'Unavailable')).toBe(true);
    expect(err.message).toMatch(/chunk 0 of \/lost is held only by .* which ring version 2 no longer counts/);
    expect(meta.files.has('/lost')).toBe(false);
    expect(commits().filter((b) => b.path === '/lost')).toHaveLength(1);
  });
});

describe('write grants over time', () => {
  it('a view is refreshed at half its grant life; a chunk whose grant is too old is retargeted with per-chunk tokens', async () => {
    const clock = { t: 0, nowMs: () => clock.t };
    await setup(4, 2, clock);
    meta.grantTtlMs = 60_000;
    await client.put('/a', [bytes(CHUNK, 9)]);
    clock.t += 29_000;
    await client.put('/b', [bytes(CHUNK, 10)]);
    expect(client.counters.viewFetches).toBe(1);
    clock.t += 1_000; // half the grant's life: the next file fetches a new view and a new prefix
    await client.put('/c', [bytes(CHUNK, 11)]);
    expect(client.counters.viewFetches).toBe(2);
    const [a, c] = [meta.files.get('/a')!.chunks[0]![0], meta.files.get('/c')!.chunks[0]![0]];
    expect(c.slice(0, 16)).not.toBe(a.slice(0, 16));
    // A target fails while the chunk's grant is past 3/4 of its life: fs.retarget supplies tokens.
    const ring = ringOf(meta);
    const dead = nodes[0]!;
    await dead.stop();
    const orig = meta.call.bind(meta);
    meta.call = async (method, body, opts) => {
      if (method === 'fs.view') clock.t += 50_000; // the refresh after the failure comes late
      return orig(method, body, opts);
    };
    let i = 0;
    // A file whose single chunk has the dead server among its ring targets.
    for (; i < 50; i++) {
      const before = client.counters.retargets;
      await client.put(`/d${i}`, [bytes(1000, 20 + i)]);
      if (client.counters.retargets > before) break;
    }
    expect(i).toBeLessThan(50);
    const id = meta.files.get(`/d${i}`)!.chunks[0]![0];
    expect(writeTargets(ring, id, 2, () => true)).toContain(dead.id);
    expect(meta.methods()).toContain('fs.retarget');
    expect(holdersOf(id)).toHaveLength(2);
    expect(holdersOf(id)).not.toContain(dead.id);
  });
});

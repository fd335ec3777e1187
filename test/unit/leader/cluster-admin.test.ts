/** Operator calls: drain, remove (refused while it would lose or thin out data), status, repair progress. */
import { describe, expect, it } from 'vitest';
import { SCAN_SLICE_KEYS } from '../../../src/leader/status-report.js';
import { CHUNK_PREFIX, chunkKey, encodeInode, encodeNumber, inodeKey } from '../../../src/meta/namespace-keys.js';
import { harness, settled } from './helpers.js';

const A = 'a1'.repeat(16);
const G = 'ee'.repeat(16);

describe('ClusterAdmin', () => {
  it('drains a known server through Raft; an unknown one is NotFound', async () => {
    const h = harness();
    await h.joinServers(['c1', 'c2']);
    expect((await h.refusal('cluster.drain', { id: 'c9' })).code).toBe('NotFound');
    expect(await h.call('cluster.drain', { id: 'c2' })).toEqual({});
    expect(h.raft.ring().server('c2')?.state).toBe('draining');
  });

  it('refuses to remove the only live copy even with force, and an under-replicated one unless forced', async () => {
    const h = harness({ replicas: 2 });
    // A is referenced: c1 alone holds it. G is garbage on c1 (nothing to keep).
    await h.joinServers(['c1', 'c2', 'c3'], { c1: [A, G] });
    await h.call('fs.commit', { path: '/f', size: 1, etag: 'e', chunks: [[A, 1, 0]], s: ['client-1', 1, 0] });
    const sole = await h.refusal('cluster.remove', { id: 'c1', force: true });
    expect(sole.code).toBe('PreconditionFailed');
    expect(sole.message).toContain('only live copy of 1 chunk(s)');
    await h.call('cs.update', { added: [A] }, { role: 'service', id: 'c2' });
    const short = await h.refusal('cluster.remove', { id: 'c1' });
    expect(short.message).toContain('1 chunk(s) on c1 have fewer than 2 live copies elsewhere');
    expect(await h.call('cluster.remove', { id: 'c1', force: true })).toEqual({});
    expect(h.raft.ring().server('c1')).toBeUndefined();
    expect(await h.call('fs.stat', { path: '/f' })).toMatchObject({ chunks: [{ replicas: ['c2'] }] });
    expect((await h.refusal('cluster.remove', { id: 'c1' })).code).toBe('NotFound');
  });

  it('status reports meta servers, chunk servers with their load and the chunk census', async () => {
    const h = harness({ replicas: 2 });
    await h.joinServers(['c1', 'c2'], { c1: [A] });
    await h.call('fs.commit', { path: '/f', size: 2, etag: 'e', chunks: [[A, 1, 0], [G, 1, 0]], s: ['client-1', 1, 0] });
    await h.call('cs.heartbeat', { usedBytes: 10, capacityBytes: 100, freeBytes: 90, chunks: 1, full: false }, { role: 'service', id: 'c1' });
    const st = (await h.call('cluster.status')) as Record<string, unknown>;
    expect(Object.keys(st)).toEqual(['health', 'leader', 'meta', 'chunkServers', 'chunks', 'raft', 'metaDetail', 'chunkServerDetail', 'totals', 'repair']);
    const { health, leader, meta, chunkServers, chunks } = st;
    expect({ health, leader, meta, chunkServers, chunks }).toEqual({
      health: 'degraded',
      leader: 'm1',
      meta: [
        { id: 'm1', addr: 'm1.meta:7000', role: 'leader' },
        { id: 'm2', addr: 'm2.meta:7000', role: 'follower' },
        { id: 'm3', addr: 'm3.meta:7000', role: 'follower' },
      ],
      chunkServers: [
        { id: 'c1', addr: 'c1.chunk:8000', state: 'alive', used: 10, capacity: 100, chunks: 1 },
        { id: 'c2', addr: 'c2.chunk:8000', state: 'alive', used: 0, capacity: 2 ** 40, chunks: 0 },
      ],
      chunks: { total: 2, underReplicated: 1, lost: 1 },
    });
    expect(st.raft).toEqual({ term: 1, commit: 3, applied: 3 });
    expect(st.chunkServerDetail).toEqual({ c1: { heartbeatAgeMs: 0, free: 90, disk: null }, c2: { heartbeatAgeMs: 0, free: 2 ** 40, disk: null } });
    expect(st.totals).toEqual({ files: 1, dirs: 0, bytes: 2, rawBytes: 10, capacity: 100 + 2 ** 40, free: 90 + 2 ** 40 });
    // Chunks are missing, but no copy is running yet: no rate, no ETA.
    expect(st.repair).toEqual({ copiesQueued: 0, copiesInFlight: 0, copyBytesPerSec: 0, etaSeconds: null });
    expect(await h.call('cluster.repair')).toMatchObject({ ready: true, reportsPending: [], chunks: 0, copiesScheduled: 0 });
    h.leader.tick();
    expect(await h.call('cluster.repair')).toMatchObject({ chunks: 2, underReplicated: 1, lost: 1 });
  });

  it('status counts a disk that several chunk servers share once, and a healthy cluster as healthy', async () => {
    const h = harness({ replicas: 1 });
    await h.joinServers(['c1', 'c2', 'c3'], {});
    await h.call('fs.mkdir', { path: '/d/e', parents: true, s: ['client-1', 1, 0] });
    const beat = (id: string, diskId: string, freeBytes: number): Promise<unknown> =>
      h.call('cs.heartbeat', { usedBytes: 5, capacityBytes: 1000, freeBytes, chunks: 0, full: false, diskId }, { role: 'service', id });
    await beat('c1', 'dev-1', 400);
    await beat('c2', 'dev-1', 400);
    await beat('c3', 'dev-2', 700);
    const st = (await h.call('cluster.status')) as Record<string, unknown>;
    expect(st.health).toBe('healthy');
    expect(st.totals).toEqual({ files: 0, dirs: 2, bytes: 0, rawBytes: 15, capacity: 2000, free: 1100 });
    expect((st.chunkServerDetail as Record<string, { disk: string }>).c2!.disk).toBe('dev-1');
    expect(st.repair).toMatchObject({ etaSeconds: 0 });
  });

  it('status counts a large namespace and chunk index in slices, letting the event loop run between them', async () => {
    const h = harness();
    const n = Math.floor(2.5 * SCAN_SLICE_KEYS);
    // Written straight into the state, as if committed long ago (a fuzzy count needs no namespace tree).
    await h.raft.store.applyBatch(1_000_000, (t) => {
      for (let i = 0; i < n; i++) {
        t.put(chunkKey(i.toString(16).padStart(32, '0')), encodeNumber(i + 2));
        t.put(inodeKey(i + 2), encodeInode({ type: 'file', mtime: 1, size: 3, etag: 'e', chunks: [] }).record);
      }
    });
    const answer = h.call('cluster.status') as Promise<{ chunks: unknown; totals: { files: number; bytes: number } }>;
    // The pass stops after each slice and goes on on a timer: the leader's other work runs in between.
    let yields = 0;
    while (!(await settled(answer))) {
      h.time.advance(0);
      yields++;
    }
    // Three slices of each pass (chunks, then inodes), two waits between them.
    expect(yields).toBe(2 * (Math.ceil(n / SCAN_SLICE_KEYS) - 1));
    const st = await answer;
    expect(st.chunks).toEqual({ total: n, underReplicated: 0, lost: n });
    expect(st.totals).toMatchObject({ files: n, bytes: 3 * n });
  });

  it('a chunk census stands for 4 × the time it took, is shared by the calls made while it runs, and is of its own term', async () => {
    const h = harness();
    const n = Math.floor(2.5 * SCAN_SLICE_KEYS);
    const put = (from: number, to: number, index: number): Promise<unknown> =>
      h.raft.store.applyBatch(index, (t) => {
        for (let i = from; i < to; i++) t.put(chunkKey(i.toString(16).padStart(32, '0')), encodeNumber(i + 2));
      });
    await put(0, n, 1_000_000);
    // Slices read from the chunk index, to tell one census from two.
    let chunkSlices = 0;
    const range = h.raft.store.range.bind(h.raft.store);
    h.raft.store.range = (start, end, limit) => {
      if (start?.startsWith(CHUNK_PREFIX) && limit === SCAN_SLICE_KEYS) chunkSlices++;
      return range(start, end, limit);
    };
    const status = (): Promise<{ chunks: { total: number } }> => h.call('cluster.status') as Promise<{ chunks: { total: number } }>;
    /** Waits until every call answered, 10 ms of (virtual) time per wait between slices; returns the waits. */
    const drive = async (...calls: Promise<unknown>[]): Promise<number> => {
      const all = Promise.all(calls);
      let waits = 0;
      while (!(await settled(all))) {
        h.time.advance(10);
        waits++;
      }
      return waits;
    };
    const totals = async (...calls: Promise<{ chunks: { total: number } }>[]): Promise<number[]> => (await Promise.all(calls)).map((st) => st.chunks.total);
    // Two calls at once: one census of three slices (two waits, 20 ms); no inodes, so the namespace count needs no wait.
    const a = status();
    const b = status();
    expect(await drive(a, b)).toBe(2);
    expect(await totals(a, b)).toEqual([n, n]);
    expect(chunkSlices).toBe(3);
    // A chunk committed now is counted by the next census, not in the answers of the next 4 × 20 ms.
    await put(n, n + 1, 1_000_001);
    const c = status();
    expect(await drive(c)).toBe(0);
    h.time.advance(79);
    const d = status();
    expect(await drive(d)).toBe(0);
    expect(await totals(c, d)).toEqual([n, n]);
    h.time.advance(1);
    const e = status();
    expect(await drive(e)).toBe(2);
    expect(await totals(e)).toEqual([n + 1]);
    expect(chunkSlices).toBe(6);
    // A new term has a registry of its own: its first status counts again.
    h.raft.elect();
    await put(n + 1, n + 2, 1_000_002);
    const f = status();
    expect(await drive(f)).toBe(2);
    expect(await totals(f)).toEqual([n + 2]);
  });
});

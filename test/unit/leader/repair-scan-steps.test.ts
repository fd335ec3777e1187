/**
 * Repair scans in steps: a chunk index larger than a slice is planned over several turns of the
 * event loop (a pass over a million chunks takes seconds, longer than a leader may go without
 * heartbeats), the plan is replaced only when the pass ends, and work handed out while it paused
 * is not queued a second time.
 */
import { describe, expect, it } from 'vitest';
import type { LeaderTerm } from '../../../src/leader/leader-term.js';
import { REPAIR_SCAN_SHARE_PERCENT_MAX } from '../../../src/config/defaults.js';
import { nextRepairScanMs, type RepairLoop } from '../../../src/leader/repair-loop.js';
import { REPAIR_SCAN_SLICE_CHUNKS, RepairScheduler, type ScanInput } from '../../../src/leader/repair-scheduler.js';
import { chunkKey, encodeNumber } from '../../../src/meta/namespace-keys.js';
import { preferenceList } from '../../../src/placement/index.js';
import { ring, view } from '../meta/repair-fixtures.js';
import { harness } from './helpers.js';

const idOf = (i: number): string => i.toString(16).padStart(32, '0');

/** A leader with three reported chunk servers and chunks [from, to) in its index that no server holds. */
async function leaderWithChunks(to: number) {
  const h = harness();
  await h.joinServers(['c1', 'c2', 'c3']);
  const addChunks = (from: number, upTo: number, index: number) =>
    h.raft.store.applyBatch(index, (t) => {
      for (let i = from; i < upTo; i++) t.put(chunkKey(idOf(i)), encodeNumber(i + 2));
    });
  await addChunks(0, to, 1_000_000);
  // White box: the leader's repair loop and its current term, whose scans are recorded (their nowMs).
  const inner = h.leader as unknown as { repair: RepairLoop; terms: { current(): LeaderTerm } };
  const t = inner.terms.current();
  const started: number[] = [];
  const steps = t.repair.scanSteps.bind(t.repair);
  t.repair.scanSteps = (input) => {
    started.push(input.nowMs);
    return steps(input);
  };
  return { h, loop: inner.repair, t, started, addChunks };
}

describe('RepairScheduler.scanSteps', () => {
  it('pauses after every slice, and does not queue again a copy handed out while it paused', () => {
    const r = ring(4);
    const n = Math.floor(2.5 * REPAIR_SCAN_SLICE_CHUNKS);
    const ids = Array.from({ length: n }, (_, i) => idOf(i));
    const where: Record<string, string[]> = {};
    for (const id of ids) where[id] = preferenceList(r, id).slice(0, 3);
    // The first chunk planned has lost a replica: one copy to make.
    const short = ids[0]!;
    const target = where[short]!.pop()!;
    const input = (nowMs: number): ScanInput => ({
      view: view(r, where),
      referenced: ids,
      isReferenced: (id) => id in where,
      located: Object.entries(where).map(([id, h]) => [id, new Set(h)] as [string, ReadonlySet<string>]),
      nowMs,
    });
    const s = new RepairScheduler({ missingGraceMs: 0 });
    s.scan(input(1));
    expect(s.stats).toMatchObject({ chunks: n, underReplicated: 1, copiesQueued: 1 });
    // A second pass: its first slice plans the short chunk again, then it pauses…
    const steps = s.scanSteps(input(2));
    expect(steps.next().done).toBe(false);
    // …and meanwhile the copy is handed out (from the first pass's plan).
    expect(s.take(target, 2)).toEqual([expect.objectContaining({ op: 'copy', id: short })]);
    let pauses = 1;
    while (!steps.next().done) pauses++;
    // Two pauses in the referenced chunks, two in the located ones.
    expect(pauses).toBe(2 * (Math.ceil(n / REPAIR_SCAN_SLICE_CHUNKS) - 1));
    expect(s.stats).toMatchObject({ chunks: n, underReplicated: 1, copiesQueued: 0, copiesInFlight: 1 });
    expect(s.take(target, 3)).toEqual([]);
  });
});

describe('RepairLoop', () => {
  it('runs a large scan over timer turns and replaces the plan when it ends', async () => {
    const n = Math.floor(2.5 * REPAIR_SCAN_SLICE_CHUNKS);
    // Referenced chunks no server holds: lost, as far as this leader knows.
    const { h } = await leaderWithChunks(n);
    const repair = async () => (await h.call('cluster.repair')) as { chunks: number; lost: number };
    const idle = h.time.pending();
    h.leader.tick();
    // The first slice ran; the rest waits for a timer, the last plan still stands.
    expect(h.time.pending()).toBe(idle + 1);
    expect((await repair()).chunks).toBe(0);
    h.time.advance(0);
    expect(await repair()).toMatchObject({ chunks: n, lost: n });
    expect(h.time.pending()).toBe(idle);
  });

  it('a scan asked for while one runs starts when it ends, not beside it; a term that ended stops its pass', async () => {
    const n = Math.floor(1.5 * REPAIR_SCAN_SLICE_CHUNKS);
    const { h, loop, t, started, addChunks } = await leaderWithChunks(n);
    loop.scan(t, 5);
    loop.scan(t, 6);
    loop.scan(t, 7);
    expect(started).toEqual([5]);
    h.time.advance(0);
    expect(started).toEqual([5, 7]); // one more pass, at the latest time asked
    expect(t.repairPass).toBeNull();
    await addChunks(n, n + 5, 1_000_001);
    loop.scan(t, 8);
    expect(t.repairPass).not.toBeNull();
    t.end();
    h.time.advance(0);
    expect(t.repairPass).toBeNull();
    expect(started).toEqual([5, 7, 8]);
    expect(t.repair.stats.chunks).toBe(n); // the pass at 7's: the one at 8 (n + 5) never finished
  });

  it('a long pass stretches the scan period so that passes take at most their share of the leader', async () => {
    const { h, t, started } = await leaderWithChunks(0);
    h.leader.tick();
    expect(started).toHaveLength(1);
    const at = started[0]!;
    t.lastRepairPassMs = 200; // as if that pass had taken 200 ms: the next one 200 / 5 % = 4 s after it
    expect(REPAIR_SCAN_SHARE_PERCENT_MAX).toBe(5);
    expect(nextRepairScanMs(at, 200, 1_000)).toBe(at + 4_000);
    expect(nextRepairScanMs(at, 20, 1_000)).toBe(at + 1_000); // a short pass: the period
    h.time.advance(1_500);
    h.leader.tick();
    expect(started).toHaveLength(1); // the 1 s period would have scanned again
    h.time.advance(2_400);
    h.leader.tick();
    expect(started).toHaveLength(1);
    h.time.advance(200);
    h.leader.tick();
    expect(started).toHaveLength(2);
  });
});

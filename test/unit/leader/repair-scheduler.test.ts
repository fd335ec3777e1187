/** RepairScheduler: the leader's repair queues over planChunk (meta/repair-planner.ts). */
import { describe, expect, it } from 'vitest';
import { RepairScheduler } from '../../../src/leader/repair-scheduler.js';
import { setState } from '../../../src/placement/index.js';
import { planChunk } from '../../../src/meta/repair-planner.js';
import { ID, ring, view } from '../meta/repair-fixtures.js';


describe('RepairScheduler', () => {
  it('hands copies out fewest-replicas first within the per-server limit, and collects garbage after the grace', () => {
    const r = ring(4);
    const a = 'aa'.repeat(16);
    const b = 'bb'.repeat(16);
    const g = 'cc'.repeat(16);
    const da = planChunk(view(r, {}), a).desired;
    const db = planChunk(view(r, {}), b).desired;
    // The target belongs to both chunks' desired sets and holds neither: both want a copy there,
    // and with room for one copy it must get a's (one replica) before b's (two).
    const target = da.find((s) => db.includes(s))!;
    const ha = da.filter((s) => s !== target).slice(0, 1);
    const hb = db.filter((s) => s !== target).slice(0, 2);
    const where: Record<string, string[]> = { [a]: ha, [b]: hb, [g]: ['c1'] };
    const s = new RepairScheduler({ copiesPerServerMax: 1, gcGraceMs: 1000, missingGraceMs: 0 });
    const input = (nowMs: number) => ({
      view: view(r, where),
      referenced: [a, b],
      isReferenced: (id: string) => id !== g,
      located: Object.entries(where).map(([id, h]) => [id, new Set(h)] as [string, ReadonlySet<string>]),
      nowMs,
    });
    s.scan(input(0));
    expect(s.stats).toMatchObject({ chunks: 2, underReplicated: 2, lost: 0, garbageChunks: 1, deletesQueued: 0 });
    const got = s.take(target, 0);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ op: 'copy', id: a }); // one replica beats two
    expect(s.take(target, 0)).toEqual([]); // limit reached
    s.confirm(target, got.map((t) => t.id));
    s.scan(input(2000));
    expect(s.stats.deletesQueued).toBe(1);
    expect(s.take('c1', 2000)).toContainEqual({ op: 'delete', id: g, why: 'garbage' });
  });

  it('spreads the copies of a dead server\'s chunks over their holders as sources, not the first holder by id', () => {
    const r = ring(4);
    const ids = Array.from({ length: 96 }, (_, i) => i.toString(16).padStart(2, '0').repeat(16));
    // Holders sorted by id, as the leader's registry lists them.
    const where = Object.fromEntries(ids.map((id) => [id, planChunk(view(r, {}), id).desired.sort()]));
    const s = new RepairScheduler({ copiesPerServerMax: 1000, missingGraceMs: 0 });
    s.scan({ view: view(r, where, ['c4']), referenced: ids, isReferenced: () => true, located: [], nowMs: 0 });
    const sent = new Map<string, number>();
    const work = new Map<string, number>();
    const add = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    let copies = 0;
    for (const c of ['c1', 'c2', 'c3']) {
      for (const t of s.take(c, 0)) {
        if (t.op !== 'copy') continue;
        copies++;
        expect(t.from).toHaveLength(2);
        expect(new Set(t.from)).toEqual(new Set(where[t.id]!.filter((h) => h !== 'c4')));
        add(sent, t.from[0]!);
        add(work, t.from[0]!);
        add(work, c);
      }
    }
    expect(copies).toBe(ids.filter((id) => where[id]!.includes('c4')).length);
    expect(copies).toBeGreaterThan(30);
    // Each survivor sends some, and no survivor does much more repair work (sent + received) than another.
    for (const c of ['c1', 'c2', 'c3']) expect(sent.get(c) ?? 0).toBeGreaterThan(copies / 6);
    const totals = ['c1', 'c2', 'c3'].map((c) => work.get(c) ?? 0);
    expect(Math.max(...totals) - Math.min(...totals)).toBeLessThanOrEqual(2);
  });

  it('moves a chunk with its full count of holders at once (drain): only a short chunk waits missingGraceMs', () => {
    const r = ring(4);
    const d = planChunk(view(r, {}), ID).desired;
    const drained = setState(r, d[0]!, 'draining');
    const s = new RepairScheduler({ missingGraceMs: 5000 });
    s.scan({ view: view(drained, { [ID]: d }), referenced: [ID], isReferenced: () => true, located: [], nowMs: 0 });
    const out = ['c1', 'c2', 'c3', 'c4'].flatMap((c) => s.take(c, 0).map((t) => ({ c, t })));
    const target = ['c1', 'c2', 'c3', 'c4'].find((c) => !d.includes(c))!;
    expect(out).toEqual([{ c: target, t: { op: 'copy', id: ID, from: expect.arrayContaining(d) } }]);
  });

  it('waits missingGraceMs before copying a chunk that is only short of reports, but not one that lost a replica to a dead server', () => {
    const r = ring(4);
    const fresh = 'dd'.repeat(16);
    const hurt = 'ee'.repeat(16);
    const df = planChunk(view(r, {}), fresh).desired;
    const dh = planChunk(view(r, {}), hurt).desired;
    // fresh: written a moment ago, one holder reported so far. hurt: one of its 3 holders is dead.
    const where: Record<string, string[]> = { [fresh]: [df[0]!], [hurt]: dh };
    const dead = [['c1', 'c2', 'c3', 'c4'].find((c) => c !== df[0] && dh.includes(c))!]; // fresh's reported holder stays alive
    const s = new RepairScheduler({ missingGraceMs: 5000 });
    const scan = (nowMs: number): void =>
      s.scan({ view: view(r, where, dead), referenced: [fresh, hurt], isReferenced: () => true, located: [], nowMs });
    const handed = (nowMs: number) => ['c1', 'c2', 'c3', 'c4'].flatMap((c) => s.take(c, nowMs)).map((t) => t.id);
    scan(0);
    expect(handed(0)).toEqual([hurt]);
    scan(3000);
    expect(handed(3000)).toEqual([]);
    // Short for the whole grace: a replica really is missing, so it is copied.
    scan(5000);
    expect(handed(5000)).toEqual([fresh, fresh]); // two replicas to make
    // Once whole, a chunk that turns short again waits a new grace.
    const other = 'ff'.repeat(16);
    const dO = planChunk(view(r, {}), other).desired;
    where[other] = [dO[0]!];
    const t = new RepairScheduler({ missingGraceMs: 5000 });
    const scanT = (nowMs: number): void => t.scan({ view: view(r, where), referenced: [other], isReferenced: () => true, located: [], nowMs });
    scanT(0);
    where[other] = dO;
    scanT(4000);
    where[other] = [dO[0]!];
    scanT(6000);
    expect(['c1', 'c2', 'c3', 'c4'].flatMap((c) => t.take(c, 6000))).toEqual([]);
    scanT(11_000);
    const out = ['c1', 'c2', 'c3', 'c4'].flatMap((c) => t.take(c, 11_000).map((x) => ({ c, id: x.id })));
    expect(out.map((x) => x.id)).toEqual([other, other]);
    // Handed out: not planned again while in flight; reported failed: planned again at the next scan.
    scanT(12_000);
    expect(['c1', 'c2', 'c3', 'c4'].flatMap((c) => t.take(c, 12_000))).toEqual([]);
    t.failed(out[0]!.c, [other]);
    expect(t.stats.copiesFailed).toBe(1);
    scanT(13_000);
    expect(t.take(out[0]!.c, 13_000)).toMatchObject([{ op: 'copy', id: other }]);
  });

  it('forgets the work handed to a server that restarted, and hands it out again at the next scan', () => {
    const r = ring(4);
    const d = planChunk(view(r, {}), ID).desired;
    const where = { [ID]: [d[0]!] };
    const s = new RepairScheduler({ missingGraceMs: 0, copiesPerServerMax: 1, copyTimeoutMs: 60_000 });
    const scan = (nowMs: number): void => s.scan({ view: view(r, where), referenced: [ID], isReferenced: () => true, located: [], nowMs });
    scan(0);
    const target = d[1]!;
    expect(s.take(target, 0)).toMatchObject([{ op: 'copy', id: ID }]);
    // In flight: not planned again, and it fills the target's room.
    scan(1000);
    expect(s.take(target, 1000)).toEqual([]);
    expect(s.stats.copiesInFlight).toBe(1);
    // The target's process died and came back (it registers again): its copy is gone with it.
    s.restarted(target);
    expect(s.stats).toMatchObject({ copiesInFlight: 0, copiesLost: 1 });
    scan(2000);
    expect(s.take(target, 2000)).toMatchObject([{ op: 'copy', id: ID }]);
  });

  it('forgets work handed to a server that says it is idle, once the answer had time to arrive', () => {
    const r = ring(4);
    const d = planChunk(view(r, {}), ID).desired;
    const where = { [ID]: [d[0]!] };
    const s = new RepairScheduler({ missingGraceMs: 0, copiesPerServerMax: 1, copyTimeoutMs: 60_000, idleGraceMs: 5000 });
    const scan = (nowMs: number): void => s.scan({ view: view(r, where), referenced: [ID], isReferenced: () => true, located: [], nowMs });
    scan(0);
    const target = d[1]!;
    expect(s.take(target, 0)).toMatchObject([{ op: 'copy', id: ID }]);
    // Idle right after the hand-out: the command may still be on its way, so it stays in flight.
    s.idle(target, 4000);
    scan(4000);
    expect(s.take(target, 4000)).toEqual([]);
    expect(s.stats).toMatchObject({ copiesInFlight: 1, copiesLost: 0 });
    // Still idle after the grace: the command never arrived; it is planned and handed out again.
    s.idle(target, 5000);
    expect(s.stats).toMatchObject({ copiesInFlight: 0, copiesLost: 1 });
    scan(5000);
    expect(s.take(target, 5000)).toMatchObject([{ op: 'copy', id: ID }]);
    // Another server's idleness does not touch it.
    s.idle(d[2]!, 20_000);
    expect(s.stats.copiesInFlight).toBe(1);
  });

  it('measures the repair copy rate from the servers\' cumulative copied-bytes counters', () => {
    const s = new RepairScheduler();
    const MiB = 2 ** 20;
    s.copyProgress('c1', 100 * MiB, 0); // first sight: a baseline, not progress
    s.copyProgress('c2', 0, 0);
    expect(s.stats).toMatchObject({ copyBytes: 0, copyBytesPerSec: 0 });
    s.copyProgress('c1', 110 * MiB, 1000);
    s.copyProgress('c2', 40 * MiB, 2000);
    expect(s.stats.copyBytes).toBe(50 * MiB);
    expect(s.stats.copyBytesPerSec).toBe(30 * MiB); // 10 MiB/s + 20 MiB/s
    // c1 restarted (its counter went down): a new baseline, no negative progress.
    s.copyProgress('c1', 1 * MiB, 3000);
    expect(s.stats.copyBytes).toBe(50 * MiB);
    expect(s.stats.copyBytesPerSec).toBe(20 * MiB);
    // c2 silent for longer than the stale bound: it no longer counts.
    s.copyProgress('c1', 9 * MiB, 8000);
    expect(s.stats.copyBytesPerSec).toBe(Math.round((8 * MiB * 1000) / 5000));
    expect(s.stats.copyBytes).toBe(58 * MiB);
  });
});

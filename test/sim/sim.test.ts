/**
 * The deterministic simulation under vitest: a few hundred seeds must pass, one seed must replay
 * exactly, and deliberately broken rules must be caught (the checkers can fail).
 * The long run is `npm run sim -- --seeds 10000`.
 */
import { describe, expect, it } from 'vitest';
import { Simulation, runSimulation, type SimBugs, type SimMachineKind, type SimParams } from './simulation.js';

const SEEDS = 1000;
const CHUNK = 100;
const NS_SEEDS = 300;

async function failuresIn(from: number, to: number, bugs?: SimBugs, params?: Partial<SimParams>, machine: SimMachineKind = 'kv'): Promise<string[]> {
  const out: string[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r = await runSimulation(bugs || params ? { seed, machine, ...(bugs ? { bugs } : {}), ...(params ? { params } : {}) } : { seed, machine });
    if (!r.ok) out.push(`SEED=${seed}: ${r.failure}`);
  }
  return out;
}

/** The first seed in [1, seedsMax] whose run fails with a failure matching `expected`. */
async function firstFailure(
  seedsMax: number,
  bugs: SimBugs,
  expected: RegExp,
  params?: Partial<SimParams>,
  machine: SimMachineKind = 'kv',
): Promise<{ seed: number; failure: string } | null> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = await runSimulation(params ? { seed, bugs, params, machine } : { seed, bugs, machine });
    if (!r.ok && expected.test(r.failure!)) return { seed, failure: r.failure! };
  }
  return null;
}

describe('simulation: seeds pass', () => {
  for (let from = 1; from <= SEEDS; from += CHUNK) {
    const to = from + CHUNK - 1;
    it(`seeds ${from}..${to}: safety invariants, liveness, linearizability`, async () => {
      expect(await failuresIn(from, to)).toEqual([]);
    });
  }

  // Seeds that long runs once failed on the simulator's own bookkeeping, kept as regressions:
  // 6107090, 47 unknown outcomes on one key (the search gave up before the log's hint);
  // 6121925, a deposed leader's second proposal of a removal (the removed node was never retired).
  it('seeds found by long runs', async () => {
    const out: string[] = [];
    for (const seed of [6107090, 6121925]) out.push(...(await failuresIn(seed, seed)));
    expect(out).toEqual([]);
  });
});

describe('simulation: determinism', () => {
  it('one seed replays exactly (same trace, same stats)', async () => {
    const a = await runSimulation({ seed: 7, trace: true });
    const b = await runSimulation({ seed: 7, trace: true });
    expect(a.trace.length).toBeGreaterThan(100);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
    // Tracing only records: it does not change the run.
    expect((await runSimulation({ seed: 7 })).stats).toEqual(a.stats);
  });

  it('exercises the features it claims (over the first seeds)', async () => {
    const totals = {
      crashes: 0,
      partitions: 0,
      transfers: 0,
      snapshotsSent: 0,
      snapshotPieces: 0,
      elections: 0,
      opsUnknown: 0,
      membership: 0,
      fiveNodes: 0,
      confChanges: 0,
      confPartitions: 0,
      tornWrites: 0,
      fsyncFailures: 0,
      minorityCrashes: 0,
      snapshotCuts: 0,
      appliedDuringWrite: 0,
      /** Seeds with several membership changes incl. a removal, without pre-vote. */
      changesWithoutPreVote: 0,
    };
    for (let seed = 1; seed <= 40; seed++) {
      const r = await runSimulation({ seed });
      for (const k of ['confChanges', 'confPartitions', 'tornWrites', 'fsyncFailures', 'minorityCrashes', 'snapshotCuts', 'appliedDuringWrite'] as const) totals[k] += r.stats[k];
      if (!r.params.preVote && r.stats.confChanges >= 3 && r.stats.membership.includes('removeNode')) totals.changesWithoutPreVote++;
      totals.crashes += r.stats.crashes;
      totals.partitions += r.stats.partitions;
      totals.transfers += r.stats.transfers;
      totals.snapshotsSent += r.stats.snapshotsSent;
      totals.snapshotPieces += r.stats.snapshotPieces;
      totals.elections += r.stats.elections;
      totals.opsUnknown += r.stats.opsUnknown;
      if (r.stats.membership.includes('removeNode')) totals.membership++;
      if (r.params.voters === 5) totals.fiveNodes++;
    }
    for (const [k, v] of Object.entries(totals)) expect(v, k).toBeGreaterThan(0);
  });

  it('every seed has a fault class: a calm network comes with crashes or disk faults', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const p = new Simulation({ seed }).params;
      const faults = [p.crashEvery, p.fsyncFailEvery, p.partitionEvery, p.dropRate, p.dupRate, p.reorderRate];
      expect(faults.some((x) => x > 0), `seed ${seed}`).toBe(true);
    }
  });
});

describe('simulation: broken rules are caught', () => {
  it('a driver that sends before its writes are synced breaks a safety invariant', async () => {
    // Slow fsyncs and frequent crashes make the window between ack and durability wide.
    // (It also strands followers whose acknowledged entries were lost: a convergence failure.)
    const safety = /^(election safety|log matching|leader completeness|state machine safety)/;
    const f = await firstFailure(50, { sendBeforeSync: true }, safety, { fsyncMin: 20, fsyncJitter: 30, crashEvery: 150, downMin: 5, downMax: 60 });
    expect(f, 'no seed broke a safety invariant').not.toBeNull();
  });

  it('a node that does not persist its vote lets two leaders win one term', async () => {
    const storm: Partial<SimParams> = { preVote: false, voters: 5, crashEvery: 60, downMin: 1, downMax: 15, dupRate: 0.2, reorderRate: 0.3 };
    const f = await firstFailure(100, { loseVotes: true }, /^election safety: two leaders in term \d+/, {
      ...storm,
      reorderDelayMax: 100,
      partitionEvery: 0,
      fsyncJitter: 3,
      netDelayJitter: 25,
    });
    expect(f, 'no seed had two leaders in a term').not.toBeNull();
  });

  it('serving reads locally without ReadIndex is not linearizable', async () => {
    // Clients that never give up leave no unknown outcomes, so the checker decides every key.
    const f = await firstFailure(50, { staleReads: true }, /^linearizability: key k\d+: no linearization/, { clientAttemptsMax: 1_000_000 });
    expect(f, 'no seed had a non-linearizable history').not.toBeNull();
  });

  it('applying early a committed entry this Ready rewrites breaks log matching (regression: runtime fix aa770d6)', async () => {
    // Seeds 904 and 959 found it (a follower applied its stale uncommitted entry before the write
    // replacing it); since the runs carry codec frames and streamed snapshots, and leaders batch
    // their commit broadcasts into the next Ready, and with the targeted schedules
    // (sim-targeted.ts, crash after voting and stale leader), seeds 475 and 510 showed it; with
    // disk faults, several membership changes and the narrow-window schedules, 178 and 534 did;
    // since committed entries also apply while a write is under way (Ready step 9), 188 and 274.
    for (const seed of [188, 274]) {
      const broken = await runSimulation({ seed, bugs: { applyRewritten: true } });
      expect(broken.ok, `seed ${seed} with the bug`).toBe(false);
      expect(broken.failure).toMatch(/^log matching: entry \d+\/\d+ follows term/);
      expect((await runSimulation({ seed })).ok, `seed ${seed} as the runtime does it`).toBe(true);
    }
  });
});

describe('simulation: the namespace state machine (src/meta) under Raft', () => {
  for (let from = 1; from <= NS_SEEDS; from += CHUNK) {
    const to = from + CHUNK - 1;
    it(`ns seeds ${from}..${to}: invariants, identical replicas, exactly-once, linearizable reads`, async () => {
      expect(await failuresIn(from, to, undefined, undefined, 'ns')).toEqual([]);
    });
  }

  it('a machine that applies retried requests again is caught by the exactly-once check', async () => {
    const f = await firstFailure(100, { ignoreSessions: true }, /^namespace history: exactly-once/, { dropRate: 0.15 }, 'ns');
    expect(f, 'no seed answered a retry with a second outcome').not.toBeNull();
  });

  it('serving stat/list locally without ReadIndex is caught by the read check', async () => {
    const f = await firstFailure(100, { staleReads: true }, /^namespace history: linearizable reads/, { clientAttemptsMax: 1_000_000 }, 'ns');
    expect(f, 'no seed had a stale namespace read').not.toBeNull();
  });
});

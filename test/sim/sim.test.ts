/**
 * The deterministic simulation under vitest: a few hundred seeds must pass, one seed must replay
 * exactly, and deliberately broken rules must be caught (the checkers can fail).
 * The long run is `npm run sim -- --seeds 10000`.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation, type SimBugs, type SimParams } from './simulation.js';

const SEEDS = 1000;
const CHUNK = 100;

function failuresIn(from: number, to: number, bugs?: SimBugs, params?: Partial<SimParams>): string[] {
  const out: string[] = [];
  for (let seed = from; seed <= to; seed++) {
    const r = runSimulation(bugs || params ? { seed, ...(bugs ? { bugs } : {}), ...(params ? { params } : {}) } : { seed });
    if (!r.ok) out.push(`SEED=${seed}: ${r.failure}`);
  }
  return out;
}

/** The first seed in [1, seedsMax] on which the run fails, with its failure. */
function firstFailure(seedsMax: number, bugs: SimBugs, params?: Partial<SimParams>): { seed: number; failure: string } | null {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = runSimulation(params ? { seed, bugs, params } : { seed, bugs });
    if (!r.ok) return { seed, failure: r.failure! };
  }
  return null;
}

describe('simulation: seeds pass', () => {
  for (let from = 1; from <= SEEDS; from += CHUNK) {
    const to = from + CHUNK - 1;
    it(`seeds ${from}..${to}: safety invariants, liveness, linearizability`, () => {
      expect(failuresIn(from, to)).toEqual([]);
    });
  }
});

describe('simulation: determinism', () => {
  it('one seed replays exactly (same trace, same stats)', () => {
    const a = runSimulation({ seed: 7, trace: true });
    const b = runSimulation({ seed: 7, trace: true });
    expect(a.trace.length).toBeGreaterThan(100);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
    // Tracing only records: it does not change the run.
    expect(runSimulation({ seed: 7 }).stats).toEqual(a.stats);
  });

  it('exercises the features it claims (over the first seeds)', () => {
    const totals = { crashes: 0, partitions: 0, transfers: 0, snapshotsSent: 0, elections: 0, opsUnknown: 0, membership: 0, fiveNodes: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const r = runSimulation({ seed });
      totals.crashes += r.stats.crashes;
      totals.partitions += r.stats.partitions;
      totals.transfers += r.stats.transfers;
      totals.snapshotsSent += r.stats.snapshotsSent;
      totals.elections += r.stats.elections;
      totals.opsUnknown += r.stats.opsUnknown;
      if (r.stats.membership.includes('removeNode')) totals.membership++;
      if (r.params.voters === 5) totals.fiveNodes++;
    }
    for (const [k, v] of Object.entries(totals)) expect(v, k).toBeGreaterThan(0);
  });
});

describe('simulation: broken rules are caught', () => {
  it('a driver that sends before its writes are synced breaks a safety invariant', () => {
    // Slow fsyncs and frequent crashes make the window between ack and durability wide.
    const f = firstFailure(50, { sendBeforeSync: true }, { fsyncMin: 20, fsyncJitter: 30, crashEvery: 150, downMin: 5, downMax: 60 });
    expect(f, 'no seed failed').not.toBeNull();
    expect(f!.failure).toMatch(/election safety|log matching|leader completeness|state machine safety|linearizability/);
  });

  it('a node that does not persist its vote lets two leaders win one term', () => {
    const storm: Partial<SimParams> = { preVote: false, voters: 5, crashEvery: 60, downMin: 1, downMax: 15, dupRate: 0.2, reorderRate: 0.3 };
    const f = firstFailure(100, { loseVotes: true }, { ...storm, reorderDelayMax: 100, partitionEvery: 0, fsyncJitter: 3, netDelayJitter: 25 });
    expect(f, 'no seed failed').not.toBeNull();
    expect(f!.failure).toMatch(/^election safety: two leaders in term \d+/);
  });

  it('serving reads locally without ReadIndex is not linearizable', () => {
    const f = firstFailure(50, { staleReads: true });
    expect(f, 'no seed failed').not.toBeNull();
    expect(f!.failure).toMatch(/^linearizability: key k\d+: no linearization/);
  });
});

/**
 * What a ring change moves: for each chunk, the replicas place() adds and drops between two
 * rings, and the ideal fraction a perfect placement would move. Repair uses the plan; tests and
 * operators use the fractions to judge a change before committing it.
 */
import { place } from './place.js';
import type { Ring } from './ring.js';

export interface ChunkMove {
  readonly chunkId: string;
  /** Servers that must receive a copy (in the new place() order). */
  readonly add: string[];
  /** Servers whose copy is no longer wanted (delete only after every `add` holds the chunk). */
  readonly drop: string[];
}

export interface MovePlan {
  readonly moves: ChunkMove[];
  /** Replicas that change server: Σ |add| over chunks. */
  readonly replicasMoved: number;
  /** Replicas in the new placement: Σ |place(newRing)|. */
  readonly replicasTotal: number;
}

/** Compares place() under both rings for each chunk id; cost O(chunks × lookup). */
export function movePlan(oldRing: Ring, newRing: Ring, chunkIds: Iterable<string>, replicas: number): MovePlan {
  const moves: ChunkMove[] = [];
  let replicasMoved = 0;
  let replicasTotal = 0;
  for (const chunkId of chunkIds) {
    const before = place(oldRing, chunkId, replicas);
    const after = place(newRing, chunkId, replicas);
    replicasTotal += after.length;
    const add = after.filter((s) => !before.includes(s));
    const drop = before.filter((s) => !after.includes(s));
    if (add.length > 0 || drop.length > 0) {
      moves.push({ chunkId, add, drop });
      replicasMoved += add.length;
    }
  }
  return { moves, replicasMoved, replicasTotal };
}

/** Each 'up' server's ideal share of replicas: weight / total up weight (ignores zone limits). */
export function idealShares(ring: Ring): Map<string, number> {
  const upServers = ring.servers.filter((s) => s.state === 'up');
  const total = upServers.reduce((a, s) => a + s.weight, 0);
  return new Map(upServers.map((s) => [s.id, s.weight / total]));
}

/**
 * The least fraction of replicas any placement must move to follow the change: the sum of the
 * positive gains in ideal share (adding one of N equal servers: 1/N; removing one of N: 1/N).
 */
export function idealMoveFraction(oldRing: Ring, newRing: Ring): number {
  const before = idealShares(oldRing);
  let gain = 0;
  for (const [id, share] of idealShares(newRing)) gain += Math.max(0, share - (before.get(id) ?? 0));
  return gain;
}

/**
 * Estimates the fraction of replicas a ring change moves without knowing the chunk ids, by
 * planning `samples` synthetic ids (deterministic: the same rings give the same estimate).
 * Sampling error is about sqrt(f / (samples × R)) for a true fraction f.
 */
export function estimateMoveFraction(oldRing: Ring, newRing: Ring, replicas: number, samples = 20_000): number {
  const ids = (function* (): Generator<string> {
    for (let i = 0; i < samples; i++) yield `move-sample-${i}`;
  })();
  const plan = movePlan(oldRing, newRing, ids, replicas);
  return plan.replicasTotal === 0 ? 0 : plan.replicasMoved / plan.replicasTotal;
}

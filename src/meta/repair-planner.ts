/**
 * What repair should do for one chunk, from the leader's soft view (pure; HDFS's
 * BlockManager/ReplicationMonitor decisions, placement by our ring):
 *
 *   desired  = the first R servers of the chunk's preference order (ring state 'up': dead and
 *              draining servers are skipped) that are alive and not full — where the chunk
 *              belongs now;
 *   holders  = alive servers holding a verified replica;
 *   copies   = desired − holders, each from a holder (desired holders first);
 *   excess   = holders − desired, removed ONLY once every desired server holds a verified
 *              copy (so a chunk never drops below its full set while it moves);
 *   lost     = no holder at all (nothing can be done until a holder comes back).
 *
 * A chunk referenced by no file is garbage: every holder deletes it, but only after the chunk
 * has been seen unreferenced for a grace period (uploads in progress write chunks before their
 * commit references them) — the caller tracks that time.
 */
import { preferenceList, type Ring } from '../placement/index.js';

export interface RepairView {
  ring: Ring;
  replicas: number;
  /** Heard from recently (heartbeats). */
  isAlive(server: string): boolean;
  /** Refuses new replicas (disk full). */
  isFull(server: string): boolean;
  /** Servers holding a verified replica of the chunk (any liveness). */
  locations(chunk: string): readonly string[];
}

export interface ChunkPlan {
  /** Alive servers holding a verified replica. */
  holders: string[];
  /** Where the chunk belongs now (at most R). */
  desired: string[];
  /** Copies to make: `to` a desired server, from any of `from` (best first). */
  copies: Array<{ to: string; from: string[] }>;
  /** Holders whose replica is excess (only when every desired server holds one). */
  excess: string[];
  lost: boolean;
}

export function planChunk(view: RepairView, chunk: string): ChunkPlan {
  const holders = view.locations(chunk).filter((s) => view.isAlive(s));
  const desired: string[] = [];
  for (const s of preferenceList(view.ring, chunk)) {
    if (desired.length >= view.replicas) break;
    if (!view.isAlive(s)) continue;
    // A full server keeps the replica it has, but takes no new one.
    if (view.isFull(s) && !holders.includes(s)) continue;
    desired.push(s);
  }
  const lost = holders.length === 0;
  const missing = desired.filter((s) => !holders.includes(s));
  const from = [...holders.filter((s) => desired.includes(s)), ...holders.filter((s) => !desired.includes(s))];
  const copies = lost ? [] : missing.map((to) => ({ to, from }));
  // With fewer desired servers than R (a small or degraded cluster) nothing is excess: every
  // holder may be needed.
  const excess = missing.length === 0 && desired.length >= view.replicas ? holders.filter((s) => !desired.includes(s)) : [];
  return { holders, desired, copies, excess, lost };
}

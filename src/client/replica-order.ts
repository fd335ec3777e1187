/**
 * The order a reader tries a chunk's replicas in. fs.open lists them best first (placement's
 * copies in ring order, then other verified copies; client/file-reader.ts). A whole-file read
 * takes that order as it is: ring order already spreads a file's chunks over the servers, and
 * one copy per chunk stays hot in its server's page cache. Range reads rotate the first choice
 * over the leading copies by `turn` (the chunk index plus the reader's slot among the range reads
 * open at once), so parallel readers of the same chunks — 8 Range GETs of one file — are served
 * by different replicas rather than all by the first, and the same reads repeated later by the
 * same replicas as before. The rest keep their order: every replica is still tried once.
 */

/** Copies a range read spreads over: the replication factor's usual value (the others are handoffs). */
export const SPREAD_REPLICAS_MAX = 3;

export function replicaOrder<T>(replicas: readonly T[], spread: boolean, turn: number): T[] {
  const k = Math.min(replicas.length, SPREAD_REPLICAS_MAX);
  if (!spread || k <= 1) return [...replicas];
  const first = ((turn % k) + k) % k;
  return [...replicas.slice(first, k), ...replicas.slice(0, first), ...replicas.slice(k)];
}

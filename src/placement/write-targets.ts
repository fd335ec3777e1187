/**
 * Where a NEW chunk is written: the one rule the metadata leader's allocator (fs.alloc,
 * fs.retarget) and the client's placement cache (the fast write path) both apply, so a client
 * holding the leader's view computes exactly the targets the leader would hand out.
 *
 *   writeTargets(ring, chunkId, R, writable, exclude) = the first R servers of
 *   preferenceList(ring, chunkId) (up servers, zones first, then ring order) that `writable`
 *   accepts and `exclude` does not name.
 *
 * `writable(id)` is the caller's liveness verdict: on the leader "registered, heard from within
 * deadAfterMs, not full"; on a client the `writable` flag of the leader's last view (the same
 * verdict, as of the view). Draining and dead servers are never targets (preferenceList skips
 * them). Fewer than R (possibly none) when too few servers qualify; the caller decides whether
 * that is an error.
 */
import type { Ring } from './ring.js';
import { preferenceList } from './place.js';

export function writeTargets(ring: Ring, chunkId: string, replicas: number, writable: (serverId: string) => boolean, exclude: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  if (replicas <= 0) return out;
  for (const s of preferenceList(ring, chunkId)) {
    if (exclude.has(s) || !writable(s)) continue;
    out.push(s);
    if (out.length >= replicas) break;
  }
  return out;
}

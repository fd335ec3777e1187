/**
 * Replica placement on a Ring: pure functions of (ring, chunkId, R), computed identically by the
 * metadata leader, chunk servers and clients.
 *
 * The preference order of a chunk is the walk clockwise from hash32(chunkId) over the vnodes,
 * keeping each server the first time it is met, in two passes (Dynamo's preference list with
 * Swift's zone dispersion):
 *   1. zone-first: the first server met in each zone not yet used, until R zones are used or
 *      no eligible zone is left;
 *   2. fill: the remaining eligible servers in clockwise order (those pass 1 passed over, then
 *      the rest of the walk).
 * So replicas land in min(R, zones) distinct zones, and the entries after the first R are the
 * handoffs ("the next server on the ring") in the order failover should try them.
 *
 *   place(ring, id, R)     the first R 'up' servers: where NEW replicas go and where repair
 *                          wants them (draining and dead servers are skipped).
 *   owners(ring, id, R)    the first R servers ignoring state: the set that would hold the chunk
 *                          if every server were up (where data still sits after a server failed
 *                          and before repair ran).
 *   preferenceList(...)    the whole order (or its first n), 'up' servers only or all.
 *   readOrder(ring, id, R) where a reader should look: place() then the non-dead rest of owners().
 * Every function returns fewer than asked when the ring has fewer eligible servers; callers
 * decide whether that is an error (e.g. NoSpace / Unavailable).
 *
 * Cost: O(log V) to find the start plus the walk, which stops once it has what it needs: a few
 * vnodes per replica when zones and servers have similar weights (no allocation for R ≤ 24).
 * The walk never exceeds V steps; it approaches V only for a zone or server with a tiny share
 * of the vnodes that the walk must reach (keep weights within a zone and zones similar).
 */
import { CairnError } from '../util/errors.js';
import { hash32 } from '../util/hash.js';
import { validateReplicas, type Ring } from './ring.js';

/** Bounds chunk-id length so a hostile id cannot make hashing expensive. */
export const CHUNK_ID_CHARS_MAX = 1024;

function checkKey(chunkId: string): void {
  if (typeof chunkId !== 'string' || chunkId.length === 0 || chunkId.length > CHUNK_ID_CHARS_MAX) {
    throw new CairnError('InvalidArgument', `chunk id must be a string of 1..${CHUNK_ID_CHARS_MAX} chars`);
  }
}

/** The ring position of a chunk id. Exported for tests and tools. */
export function chunkPoint(chunkId: string): number {
  return hash32(chunkId);
}

/** Up to this many servers met, a walk tracks them in a small array scanned linearly (no allocation per lookup). */
const SCAN_SET_MAX = 24;

/**
 * Server numbers (Ring.servers indices) of the first n entries of the preference order of
 * `chunkId`, restricted to 'up' servers when upOnly.
 */
function walk(ring: Ring, chunkId: string, n: number, upOnly: boolean): number[] {
  const eligible = upOnly ? ring.upCount : ring.servers.length;
  const want = Math.min(n, eligible);
  const out: number[] = [];
  if (want <= 0) return out;
  const zoneTarget = Math.min(want, upOnly ? ring.upZoneCount : ring.zoneCount);
  const { owner, zoneOf, up } = ring;
  const v = owner.length;
  // Eligible servers met so far: a short list while small, a bitmap beyond SCAN_SET_MAX.
  const met: number[] = [];
  let metMap: Uint8Array | null = null;
  const meet = (s: number): boolean => {
    if (metMap !== null) {
      if (metMap[s] === 1) return false;
      metMap[s] = 1;
      met.push(s);
      return true;
    }
    for (let k = 0; k < met.length; k++) if (met[k] === s) return false;
    met.push(s);
    if (met.length > SCAN_SET_MAX) {
      metMap = new Uint8Array(ring.servers.length);
      for (const m of met) metMap[m] = 1;
    }
    return true;
  };
  // Zones already holding a pick: scanned over `out` when few, a bitmap otherwise.
  const zoneMap = zoneTarget > SCAN_SET_MAX ? new Uint8Array(ring.zoneCount) : null;
  const zoneFree = (z: number): boolean => {
    if (zoneMap !== null) return zoneMap[z] === 0;
    for (let k = 0; k < out.length; k++) if (zoneOf[out[k]!] === z) return false;
    return true;
  };
  const passed: number[] = [];
  let i = ring.successor(chunkPoint(chunkId));
  let steps = 0;
  // Pass 1: first server of each new zone.
  while (out.length < zoneTarget && steps < v) {
    const s = owner[i]!;
    if ((!upOnly || up[s] === 1) && meet(s)) {
      const z = zoneOf[s]!;
      if (zoneFree(z)) {
        if (zoneMap !== null) zoneMap[z] = 1;
        out.push(s);
      } else {
        passed.push(s);
      }
    }
    if (++i === v) i = 0;
    steps++;
  }
  // Pass 2: those passed over (they come first clockwise), then continue the walk.
  for (let k = 0; k < passed.length && out.length < want; k++) out.push(passed[k]!);
  while (out.length < want && met.length < eligible && steps < v) {
    const s = owner[i]!;
    if ((!upOnly || up[s] === 1) && meet(s)) out.push(s);
    if (++i === v) i = 0;
    steps++;
  }
  return out;
}

function ids(ring: Ring, nums: number[]): string[] {
  return nums.map((s) => ring.servers[s]!.id);
}

/**
 * Where a chunk's R replicas belong: the first R 'up' servers of its preference order, in
 * min(R, zones with an up server) distinct zones. Throws InvalidArgument for a bad id or R.
 */
export function place(ring: Ring, chunkId: string, replicas: number): string[] {
  checkKey(chunkId);
  validateReplicas(replicas);
  return ids(ring, walk(ring, chunkId, replicas, true));
}

/** The first R servers of the preference order ignoring state (the all-up replica set). */
export function owners(ring: Ring, chunkId: string, replicas: number): string[] {
  checkKey(chunkId);
  validateReplicas(replicas);
  return ids(ring, walk(ring, chunkId, replicas, false));
}

/**
 * The preference order of a chunk: its first entries are place() (or owners() with
 * includeDown), the rest are handoffs in the order to try them. n defaults to every server.
 */
export function preferenceList(ring: Ring, chunkId: string, n = ring.servers.length, options: { includeDown?: boolean } = {}): string[] {
  checkKey(chunkId);
  if (!Number.isSafeInteger(n) || n < 0) throw new CairnError('InvalidArgument', 'preference list length must be an integer ≥ 0');
  return ids(ring, walk(ring, chunkId, n, options.includeDown !== true));
}

/**
 * Where to read a chunk from, best first: place() (where repair puts it), then the members of
 * owners() that are not dead (where it sat before servers drained or failed). The leader's
 * location map is the fallback when none of these has it (data still moving after ring changes).
 */
export function readOrder(ring: Ring, chunkId: string, replicas: number): string[] {
  const out = place(ring, chunkId, replicas);
  for (const id of owners(ring, chunkId, replicas)) {
    if (!out.includes(id) && ring.server(id)!.state !== 'dead') out.push(id);
  }
  return out;
}

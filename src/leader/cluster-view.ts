/**
 * The committed cluster map as the leader reads it on every call: the ring, rebuilt only when
 * its committed bytes change (building one costs milliseconds), and the server records by id,
 * re-read at most every serverCacheMs and whenever the ring changed (they change only on
 * registration, and placement asks for them on every write).
 */
import type { Clock } from '../env/clock.js';
import { listServers, readRing, RING_KEY, type ServerRecord } from '../meta/cluster-map.js';
import type { MetaReadView } from '../meta/namespace-keys.js';
import type { Ring } from '../placement/index.js';

export interface ClusterViewComponents {
  /** Committed state. */
  view: MetaReadView;
  /** Monotonic time for the server-record cache. */
  clock: Clock;
}

export interface ClusterViewOptions {
  /** How long server records are reused. @default 1000 */
  serverCacheMs?: number;
}

export class ClusterView {
  private readonly c: ClusterViewComponents;
  private readonly serverCacheMs: number;
  private ringCache: { bytes: Uint8Array | undefined; ring: Ring } | null = null;
  private serverCache: { ring: Ring; atMs: number; servers: Map<string, ServerRecord> } | null = null;

  constructor(c: ClusterViewComponents, o: ClusterViewOptions = {}) {
    this.c = c;
    this.serverCacheMs = o.serverCacheMs ?? 1000;
  }

  ring(): Ring {
    const bytes = this.c.view.get(RING_KEY);
    const cached = this.ringCache;
    if (cached && sameBytes(cached.bytes, bytes)) return cached.ring;
    const ring = readRing({ get: () => bytes });
    this.ringCache = { bytes, ring };
    return ring;
  }

  /** Server records by id (the map is shared: do not change it). */
  servers(): Map<string, ServerRecord> {
    const ring = this.ring();
    const now = this.c.clock.nowMs();
    const cached = this.serverCache;
    if (cached && cached.ring === ring && now - cached.atMs < this.serverCacheMs) return cached.servers;
    const servers = new Map(listServers(this.c.view).map((s) => [s.id, s]));
    this.serverCache = { ring, atMs: now, servers };
    return servers;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

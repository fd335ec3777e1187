/**
 * The client's copy of the cluster's placement view (fs.view, leader/allocator.ts): the ring,
 * which chunk servers take writes, the replica count and chunk size, and a write grant. With it
 * a writer names its chunks (grant prefix ‖ a counter) and computes their targets itself with
 * the leader's own rule (placement/write-targets.ts): no metadata call per file or per chunk.
 *
 * Why a call of its own and not part of MetaSession: the session is transport (leader
 * discovery, retries) and knows no answer shapes; the view is refreshed on its own schedule —
 * at half its grant's life, after StaleRing, after a refused target — independent of which
 * connection is open, and a client that only reads never asks for one.
 *
 * Contracts:
 * - current() returns a view fetched less than half its grant's life ago (fetching one if
 *   needed); refresh(seen) fetches a new one unless one newer than `seen` arrived meanwhile
 *   (refresh(null) always fetches). Concurrent callers share one fetch.
 * - Chunk ids from one view are distinct (a counter under the grant's prefix); prefixes are
 *   16 random hex digits drawn by the leader per view, so ids of different views never collide
 *   (2^-64), and every id is 32 lowercase hex digits.
 * - A grant is used for a chunk only while usable(grant) holds: until 3/4 of its life, measured
 *   on this client's monotonic clock from BEFORE the request (so never later than the leader's
 *   expiry, whatever the clocks' offsets; chunk servers also allow TOKEN_SKEW_MS_DEFAULT).
 */
import type { Clock } from '../env/clock.js';
import { Ring, ringLayoutFromValue, writeTargets } from '../placement/index.js';
import type { ViewAnswer, ViewServer, WriteTarget } from '../proto/meta-answers.js';

/** The write authority a chunk was named under. */
export interface Grant {
  prefix: string;
  token: string;
  /** Local monotonic ms until which the grant is used. */
  usableUntilMs: number;
}

export interface PlacementView {
  ringVersion: number;
  ring: Ring;
  servers: ReadonlyMap<string, ViewServer>;
  replicas: number;
  chunkSize: number;
  grant: Grant;
  /** Local monotonic ms after which current() fetches a new view. */
  refreshAtMs: number;
  /** Next chunk-id suffix under this view's grant. */
  next: number;
}

export interface PlacementCacheComponents {
  /** fs.view, decoded (retried by the caller's policy). */
  fetch(): Promise<ViewAnswer>;
  /** Monotonic time. */
  clock: Clock;
}

/** Hex digits of a client-made chunk id after the grant's prefix. */
const SUFFIX_HEX = 16;

/**
 * The last ring built in this process, by its wire form: rings are immutable values, and
 * building one costs milliseconds (≈10 ms for 4 servers × 1024 vnodes here), so the clients
 * of one process (a gateway, a batch job's workers) build each ring version once.
 */
let lastRing: { key: string; ring: Ring } | null = null;

/** Validates every rule of a ring layout (ProtocolError on anything malformed) and builds it. */
function ringOf(value: unknown[]): Ring {
  const key = JSON.stringify(value);
  if (lastRing?.key === key) return lastRing.ring;
  const ring = Ring.build(ringLayoutFromValue(value));
  lastRing = { key, ring };
  return ring;
}

export class PlacementCache {
  private readonly c: PlacementCacheComponents;
  private view: PlacementView | null = null;
  private fetching: Promise<PlacementView> | null = null;

  constructor(c: PlacementCacheComponents) {
    this.c = c;
  }

  /** A view young enough to name new chunks under. */
  async current(): Promise<PlacementView> {
    const v = this.view;
    if (v && this.c.clock.nowMs() < v.refreshAtMs) return v;
    return this.refresh(v);
  }

  /**
   * A view newer than `seen` (the caller found `seen` stale or wrong): the cached one if it
   * already replaced `seen`, else a fetch (shared with one in flight). `null`: always a fetch.
   */
  refresh(seen: PlacementView | null): Promise<PlacementView> {
    if (seen !== null && this.view !== null && this.view !== seen && this.c.clock.nowMs() < this.view.refreshAtMs) return Promise.resolve(this.view);
    this.fetching ??= this.fetchView().finally(() => {
      this.fetching = null;
    });
    return this.fetching;
  }

  /** A fresh chunk id under the view's grant. */
  newChunkId(view: PlacementView): string {
    return view.grant.prefix + (view.next++).toString(16).padStart(SUFFIX_HEX, '0');
  }

  usable(grant: Grant): boolean {
    return this.c.clock.nowMs() < grant.usableUntilMs;
  }

  /**
   * Where chunk `id` goes by `view`: writeTargets over the view's writable servers minus
   * `exclude`, each with `token` (the chunk's grant). Possibly fewer than R, or none.
   */
  targets(view: PlacementView, id: string, token: string, exclude: ReadonlySet<string> = new Set()): WriteTarget[] {
    const writable = (s: string): boolean => view.servers.get(s)?.writable === true;
    return writeTargets(view.ring, id, view.replicas, writable, exclude).map((s) => ({ id: s, addr: view.servers.get(s)!.addr, token }));
  }

  private async fetchView(): Promise<PlacementView> {
    const t0 = this.c.clock.nowMs();
    const a = await this.c.fetch();
    const ring = ringOf(a.ring);
    const view: PlacementView = {
      ringVersion: a.ringVersion,
      ring,
      servers: new Map(a.servers.map((s) => [s.id, s])),
      replicas: a.replicas,
      chunkSize: a.chunkSize,
      grant: { prefix: a.grant.prefix, token: a.grant.token, usableUntilMs: t0 + (a.grant.ttlMs * 3) / 4 },
      refreshAtMs: t0 + a.grant.ttlMs / 2,
      next: 0,
    };
    this.view = view;
    return view;
  }
}

/**
 * The cluster's health verdict (CONTRACT `cairn status`: `health`) and the operator's detail
 * that cluster.status carries beyond the contract's keys: Raft figures per metadata member,
 * heartbeat age, free space and disk per chunk server, cluster totals and the repair ETA.
 *
 * Verdict, in this order:
 *   unavailable  no metadata quorum (no leader answered, or the leader could not confirm it leads)
 *   degraded     any chunk under-replicated or lost, any chunk server dead, any metadata
 *                member unreachable
 *   healthy      otherwise
 * A draining chunk server is not a fault: the operator asked for it.
 *
 * `decodeStatusDetail` reads the detail of a cluster.status answer: every field optional (an
 * older leader sends none), a present one checked (ProtocolError naming it).
 */
import { CairnError } from '../util/errors.js';

export type Health = 'healthy' | 'degraded' | 'unavailable';

/** The fields of a status the verdict reads. */
export interface HealthInput {
  meta: ReadonlyArray<{ role: string }>;
  chunkServers: ReadonlyArray<{ state: string }>;
  chunks: { underReplicated: number; lost: number };
}

/** `quorum`: a leader answered for a quorum (cluster.status succeeded). */
export function clusterHealth(s: HealthInput, quorum: boolean): Health {
  if (!quorum) return 'unavailable';
  if (s.chunks.underReplicated > 0 || s.chunks.lost > 0) return 'degraded';
  if (s.chunkServers.some((c) => c.state === 'dead')) return 'degraded';
  if (s.meta.some((m) => m.role === 'unreachable')) return 'degraded';
  return 'healthy';
}

/** `status --check` exit status by verdict. */
export const HEALTH_EXIT_CODES: Readonly<Record<Health, number>> = { healthy: 0, degraded: 1, unavailable: 2 };

/** A metadata member's Raft figures, as the leader sees them (lag: entries behind the leader's last index). */
export interface MetaMemberDetail {
  term: number | null;
  commit: number | null;
  applied: number | null;
  /** Entries the member's log lags behind the leader's; null when unknown. */
  lag: number | null;
  /** Milliseconds since the member last heard from the leader (0 on the leader); null when unknown. */
  lastContactMs: number | null;
}

export interface ChunkServerDetail {
  /** Milliseconds since the leader last heard a heartbeat; null: never (this term). */
  heartbeatAgeMs: number | null;
  /** Free bytes on the server's disk. */
  free: number;
  /** Identifies the disk (file system device) the server stores on; null when not reported. */
  disk: string | null;
}

export interface StatusTotals {
  files: number;
  dirs: number;
  /** Logical bytes: the sum of file sizes. */
  bytes: number;
  /** Bytes the live chunk servers hold (every replica) plus inline bytes on every metadata voter. */
  rawBytes: number;
  /** Capacity and free space of the chunk servers' disks, each disk counted once. */
  capacity: number;
  free: number;
}

export interface StatusRepair {
  copiesQueued: number;
  copiesInFlight: number;
  copyBytesPerSec: number;
  /** Seconds until every under-replicated chunk has its copies at the current rate; null: unknown (no rate yet), 0: nothing to do. */
  etaSeconds: number | null;
}

/** What cluster.status carries beyond the contract's keys. */
export interface StatusDetail {
  raft?: { term: number; commit: number; applied: number };
  metaDetail?: Record<string, MetaMemberDetail>;
  chunkServerDetail?: Record<string, ChunkServerDetail>;
  totals?: StatusTotals;
  repair?: StatusRepair;
}

type Obj = Record<string, unknown>;

function fail(field: string, what: string): never {
  throw new CairnError('ProtocolError', `cluster.status answer: ${field} must be ${what}`);
}

function map(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(field, 'a map');
  return v as Obj;
}

function num(o: Obj, k: string, field: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${field}.${k}`, 'a non-negative number');
  return v;
}

function optNum(o: Obj, k: string, field: string): number | null {
  return o[k] === undefined || o[k] === null ? null : num(o, k, field);
}

function byId<T>(v: unknown, field: string, item: (o: Obj, at: string) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [id, x] of Object.entries(map(v, field))) out[id] = item(map(x, `${field}.${id}`), `${field}.${id}`);
  return out;
}

export function decodeStatusDetail(o: Obj): StatusDetail {
  const d: StatusDetail = {};
  if (o.raft !== undefined) {
    const r = map(o.raft, 'raft');
    d.raft = { term: num(r, 'term', 'raft'), commit: num(r, 'commit', 'raft'), applied: num(r, 'applied', 'raft') };
  }
  if (o.metaDetail !== undefined)
    d.metaDetail = byId(o.metaDetail, 'metaDetail', (m, f) => ({
      term: optNum(m, 'term', f),
      commit: optNum(m, 'commit', f),
      applied: optNum(m, 'applied', f),
      lag: optNum(m, 'lag', f),
      lastContactMs: optNum(m, 'lastContactMs', f),
    }));
  if (o.chunkServerDetail !== undefined)
    d.chunkServerDetail = byId(o.chunkServerDetail, 'chunkServerDetail', (c, f) => {
      const disk = c.disk;
      if (disk !== undefined && disk !== null && typeof disk !== 'string') fail(`${f}.disk`, 'a string or null');
      return { heartbeatAgeMs: optNum(c, 'heartbeatAgeMs', f), free: num(c, 'free', f), disk: disk ?? null };
    });
  if (o.totals !== undefined) {
    const t = map(o.totals, 'totals');
    const n = (k: string): number => num(t, k, 'totals');
    d.totals = { files: n('files'), dirs: n('dirs'), bytes: n('bytes'), rawBytes: n('rawBytes'), capacity: n('capacity'), free: n('free') };
  }
  if (o.repair !== undefined) {
    const r = map(o.repair, 'repair');
    d.repair = { copiesQueued: num(r, 'copiesQueued', 'repair'), copiesInFlight: num(r, 'copiesInFlight', 'repair'), copyBytesPerSec: num(r, 'copyBytesPerSec', 'repair'), etaSeconds: optNum(r, 'etaSeconds', 'repair') };
  }
  return d;
}

/**
 * The replicated cluster map: every chunk server ever registered (address, zone, capacity) and
 * the ring layout that places chunks (src/placement), with its version. Changes arrive as Raft
 * commands and apply deterministically inside the state store's transaction, next to the
 * namespace; liveness itself is soft state on the leader (leader/chunk-registry.ts), and only its
 * verdicts ("c3 is dead", "c3 is back") are committed here, as ring state changes, so every
 * metadata server and a new leader see the same ring.
 *
 * Keys: `m/ring` → ring layout (placement codec); `m/srv/<id>` → server record.
 * Results are plain data: operating errors are returned as { ok: false, code, message }.
 */
import { pack, unpack } from '../proto/msgpack.js';
import {
  addServer,
  decodeRingLayout,
  encodeRingLayout,
  removeServer,
  Ring,
  RING_LIMITS,
  setState,
  setWeight,
  validateServer,
  type ServerState,
} from '../placement/index.js';
import { CairnError, isCairnError, type ErrorCode } from '../util/errors.js';

export interface ServerRecord {
  id: string;
  /** host:port of the chunk server's data plane. */
  addr: string;
  zone: string;
  capacityBytes: number;
  /** Leader-stamped time of the first registration. */
  registeredMs: number;
}

export type ClusterCommand =
  | { op: 'register'; id: string; addr: string; zone: string; capacityBytes: number; nowMs: number }
  | { op: 'set-state'; id: string; state: ServerState; ifVersion?: number }
  | { op: 'set-weight'; id: string; weight: number }
  | { op: 'remove'; id: string };

export type ClusterResult = { ok: true; version: number; changed: boolean } | { ok: false; code: ErrorCode; message: string };

/** The transaction the map reads and writes through. */
export interface ClusterTxn {
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
}

export const RING_KEY = 'm/ring';
const SERVER_PREFIX = 'm/srv/';
const SERVER_END = 'm/srv0'; // '0' sorts right after '/'
/**
 * Weight = capacity / WEIGHT_UNIT_BYTES, at least 1 and at most WEIGHT_MAX: servers of up to 1 TiB
 * count as one standard server each (1024 vnodes, the count placement's balance bounds are
 * measured at), larger ones proportionally more, up to 64 TiB (65,536 vnodes, the per-server cap).
 * An operator can still set any weight with set-weight.
 */
export const WEIGHT_UNIT_BYTES = 2 ** 40;
const WEIGHT_MAX = 64;
const ADDR_CHARS_MAX = 300;
/** Vnodes per unit weight (placement's measured default). */
export const CLUSTER_VNODES_PER_WEIGHT = 1024;

/** Weight for a capacity (see WEIGHT_UNIT_BYTES). */
export function weightForCapacity(capacityBytes: number): number {
  const w = capacityBytes / WEIGHT_UNIT_BYTES;
  return Math.min(WEIGHT_MAX, RING_LIMITS.weightMax, Math.max(1, w));
}

/** The ring as committed (an empty ring before the first registration). */
export function readRing(txn: Pick<ClusterTxn, 'get'>): Ring {
  const bytes = txn.get(RING_KEY);
  if (!bytes) return Ring.build({ version: 0, vnodesPerWeight: CLUSTER_VNODES_PER_WEIGHT, servers: [] });
  return Ring.build(decodeRingLayout(bytes));
}

export function readServer(txn: Pick<ClusterTxn, 'get'>, id: string): ServerRecord | null {
  const bytes = txn.get(SERVER_PREFIX + id);
  return bytes ? decodeServer(bytes) : null;
}

export function listServers(txn: Pick<ClusterTxn, 'range'>): ServerRecord[] {
  const out: ServerRecord[] = [];
  for (const [, v] of txn.range(SERVER_PREFIX, SERVER_END, RING_LIMITS.serversMax)) out.push(decodeServer(v));
  return out;
}

export function applyClusterCommand(txn: ClusterTxn, cmd: ClusterCommand): ClusterResult {
  try {
    return apply(txn, cmd);
  } catch (err) {
    if (isCairnError(err)) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
}

function apply(txn: ClusterTxn, cmd: ClusterCommand): ClusterResult {
  const ring = readRing(txn);
  let next: Ring = ring;
  switch (cmd.op) {
    case 'register': {
      const old = readServer(txn, cmd.id);
      const inRing = ring.server(cmd.id);
      const weight = weightForCapacity(cmd.capacityBytes);
      if (inRing && inRing.zone !== cmd.zone) throw new CairnError('InvalidArgument', `server ${cmd.id} is registered in zone ${inRing.zone}; remove it before moving it to ${cmd.zone}`);
      if (!inRing) next = addServer(ring, { id: cmd.id, zone: cmd.zone, weight });
      else {
        // A server that registers again is alive: a dead one comes back; draining stays draining.
        if (inRing.state === 'dead') next = setState(next, cmd.id, 'up');
        if (inRing.weight !== weight) next = setWeight(next, cmd.id, weight);
      }
      const rec: ServerRecord = { id: cmd.id, addr: cmd.addr, zone: cmd.zone, capacityBytes: cmd.capacityBytes, registeredMs: old?.registeredMs ?? cmd.nowMs };
      const recChanged = !old || old.addr !== rec.addr || old.capacityBytes !== rec.capacityBytes || old.zone !== rec.zone;
      if (recChanged) txn.put(SERVER_PREFIX + cmd.id, encodeServer(rec));
      break;
    }
    case 'set-state': {
      const s = ring.server(cmd.id);
      if (!s) throw new CairnError('NotFound', `no chunk server ${cmd.id}`);
      // Liveness verdicts are conditional on the ring they were computed from, so a stale one
      // (the server re-registered meanwhile) does not undo a newer change.
      if (cmd.ifVersion !== undefined && cmd.ifVersion !== ring.version) throw new CairnError('PreconditionFailed', `ring is at version ${ring.version}, not ${cmd.ifVersion}`);
      if (s.state !== cmd.state) next = setState(ring, cmd.id, cmd.state);
      break;
    }
    case 'set-weight': {
      if (!ring.server(cmd.id)) throw new CairnError('NotFound', `no chunk server ${cmd.id}`);
      next = setWeight(ring, cmd.id, cmd.weight);
      break;
    }
    case 'remove': {
      if (!ring.server(cmd.id)) throw new CairnError('NotFound', `no chunk server ${cmd.id}`);
      next = removeServer(ring, cmd.id);
      txn.del(SERVER_PREFIX + cmd.id);
      break;
    }
  }
  if (next !== ring) txn.put(RING_KEY, encodeRingLayout(next));
  return { ok: true, version: next.version, changed: next !== ring };
}

// ---- codec --------------------------------------------------------------------------------

const OPS = { register: 1, 'set-state': 2, 'set-weight': 3, remove: 4 } as const;

export function clusterCommandToValue(cmd: ClusterCommand): unknown[] {
  switch (cmd.op) {
    case 'register':
      return [OPS.register, cmd.id, cmd.addr, cmd.zone, cmd.capacityBytes, cmd.nowMs];
    case 'set-state':
      return [OPS['set-state'], cmd.id, cmd.state, cmd.ifVersion ?? null];
    case 'set-weight':
      return [OPS['set-weight'], cmd.id, cmd.weight];
    case 'remove':
      return [OPS.remove, cmd.id];
  }
}

/** Validating decode of clusterCommandToValue's output; throws InvalidArgument. */
export function clusterCommandFromValue(v: unknown): ClusterCommand {
  const bad = (what: string): never => {
    throw new CairnError('InvalidArgument', `cluster command: ${what}`);
  };
  if (!Array.isArray(v) || v.length < 2) return bad('not an array');
  const id = v[1];
  if (typeof id !== 'string') return bad('bad id');
  const check = (extra: Partial<{ zone: string; weight: number }> = {}) => {
    try {
      validateServer({ id, zone: extra.zone ?? 'z', weight: extra.weight ?? 1, state: 'up' });
    } catch (err) {
      bad((err as Error).message);
    }
  };
  switch (v[0]) {
    case OPS.register: {
      const [, , addr, zone, capacityBytes, nowMs] = v as unknown[];
      if (v.length !== 6) bad('register: bad length');
      if (typeof addr !== 'string' || addr.length === 0 || addr.length > ADDR_CHARS_MAX) bad('register: bad addr');
      if (typeof zone !== 'string') bad('register: bad zone');
      if (typeof capacityBytes !== 'number' || !Number.isSafeInteger(capacityBytes) || capacityBytes < 0) bad('register: bad capacity');
      if (typeof nowMs !== 'number' || !Number.isSafeInteger(nowMs) || nowMs < 0) bad('register: bad time');
      check({ zone: zone as string });
      return { op: 'register', id, addr: addr as string, zone: zone as string, capacityBytes: capacityBytes as number, nowMs: nowMs as number };
    }
    case OPS['set-state']: {
      const [, , state, ifVersion] = v as unknown[];
      if (v.length !== 4) bad('set-state: bad length');
      if (state !== 'up' && state !== 'draining' && state !== 'dead') bad('set-state: bad state');
      if (ifVersion !== null && (typeof ifVersion !== 'number' || !Number.isSafeInteger(ifVersion) || ifVersion < 0)) bad('set-state: bad version');
      check();
      const cmd: ClusterCommand = { op: 'set-state', id, state: state as ServerState };
      if (ifVersion !== null) cmd.ifVersion = ifVersion as number;
      return cmd;
    }
    case OPS['set-weight']: {
      const [, , weight] = v as unknown[];
      if (v.length !== 3 || typeof weight !== 'number') bad('set-weight: bad weight');
      check({ weight: weight as number });
      return { op: 'set-weight', id, weight: weight as number };
    }
    case OPS.remove:
      if (v.length !== 2) bad('remove: bad length');
      check();
      return { op: 'remove', id };
    default:
      return bad('unknown op');
  }
}

function encodeServer(s: ServerRecord): Uint8Array {
  return pack([s.id, s.addr, s.zone, s.capacityBytes, s.registeredMs]);
}

function decodeServer(bytes: Uint8Array): ServerRecord {
  const v = unpack(bytes);
  if (!Array.isArray(v) || v.length !== 5) throw new CairnError('Corrupt', 'cluster map: malformed server record');
  const [id, addr, zone, capacityBytes, registeredMs] = v as [string, string, string, number, number];
  return { id, addr, zone, capacityBytes, registeredMs };
}

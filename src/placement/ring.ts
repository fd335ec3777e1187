/**
 * The consistent-hash ring (Dynamo; Swift's ring; Garage layouts): every chunk server owns
 * virtual nodes ("vnodes") on a 32-bit circle, as many as its capacity weight asks for, and a
 * chunk is placed on the first distinct servers clockwise from hash(chunkId) (see place.ts).
 *
 * A ring is built from a RingLayout, the small replicated description (Raft entries, RPC):
 * version, vnodesPerWeight and the servers. Building is deterministic: the same layout gives
 * the same ring whatever the order of `servers`, on every node and every client, because
 *   - each vnode's token is xxhash32(`${serverId}#${i}`) (util/hash.ts), i = 0..count-1;
 *   - a server's vnode count is max(1, round(weight × vnodesPerWeight)) and depends on its own
 *     weight only. That is why the layout carries vnodesPerWeight rather than a total budget:
 *     with a budget shared by all, adding one server would shrink every other server's vnode
 *     set and move about twice the ideal 1/N of replicas; with a per-weight count, adding or
 *     removing a server changes only that server's vnodes, so only replicas involving it move;
 *   - equal tokens (rare 32-bit collisions) are ordered by (server id, vnode index).
 * Build cost is O(V log V) for V vnodes; a Ring is immutable after build.
 *
 * Errors: Ring.build throws CairnError('InvalidArgument') on an invalid layout (codecs that
 * read a layout from the wire map this to 'ProtocolError'). Pure: imports only util.
 */
import { assert } from '../util/assert.js';
import { CairnError, type ErrorCode } from '../util/errors.js';
import { xxhash32 } from '../util/hash.js';

/** 'up' servers take new replicas; 'draining' ones keep serving what they hold while repair moves it away; 'dead' ones are gone. */
export type ServerState = 'up' | 'draining' | 'dead';
export const SERVER_STATES: readonly ServerState[] = ['up', 'draining', 'dead'];

export interface RingServer {
  /** Chunk-server id, [A-Za-z0-9._-]{1,64}, unique in the ring. */
  readonly id: string;
  /** Failure domain (rack, host, AZ), same syntax as ids. Replicas prefer distinct zones. */
  readonly zone: string;
  /** Relative capacity weight, finite, 0 < weight ≤ RING_LIMITS.weightMax. 1 = one standard server. */
  readonly weight: number;
  readonly state: ServerState;
}

/** The replicated description a Ring is built from. */
export interface RingLayout {
  /** Monotonic; every change (ring-edit.ts) returns version + 1. Integer ≥ 0. */
  readonly version: number;
  /** Vnodes per unit of weight; a server gets max(1, round(weight × vnodesPerWeight)) vnodes. */
  readonly vnodesPerWeight: number;
  readonly servers: readonly RingServer[];
}

export const RING_LIMITS = {
  idCharsMax: 64,
  serversMax: 4096,
  weightMax: 1e6,
  vnodesPerWeightMax: 1 << 16,
  vnodesPerServerMax: 1 << 16,
  /**
   * Bounds build time and memory (8 bytes per vnode kept, 20 while building) and keeps the
   * tie-break keys exact in a double (see TIE_BITS). At the default 1024 vnodes per weight this
   * is 2048 servers of weight 1; larger clusters lower vnodesPerWeight.
   */
  vnodesTotalMax: 1 << 21,
  /** Largest replication factor place() accepts. */
  replicasMax: 16,
} as const;

/**
 * Default vnodes per unit weight. Random tokens leave a server's share off by about
 * 1/sqrt(vnodes) (one standard deviation); with 1024 vnodes every server of 10-20 equal ones
 * stays within ±10% of the mean replica count (measured worst 2-7%), where 256 and 512 did
 * not in every layout tried, and the replicas moved when one server joins or leaves stay
 * within 1.2× the ideal 1/N. test/unit/placement/balance.test.ts states and checks the bounds.
 */
export const DEFAULT_VNODES_PER_WEIGHT = 1024;

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

function fail(code: ErrorCode, message: string): never {
  throw new CairnError(code, message);
}

/** Vnode count of one server; depends on its own weight only (see the header). */
export function vnodeCountOf(weight: number, vnodesPerWeight: number): number {
  return Math.max(1, Math.round(weight * vnodesPerWeight));
}

/** Checks one server entry; throws CairnError(code). */
export function validateServer(s: RingServer, code: ErrorCode = 'InvalidArgument'): void {
  if (typeof s !== 'object' || s === null) fail(code, 'ring server must be an object');
  if (typeof s.id !== 'string' || !NAME_RE.test(s.id)) fail(code, `ring server id must match [A-Za-z0-9._-]{1,64}: ${String(s.id).slice(0, 80)}`);
  if (typeof s.zone !== 'string' || !NAME_RE.test(s.zone)) fail(code, `zone of ${s.id} must match [A-Za-z0-9._-]{1,64}`);
  if (typeof s.weight !== 'number' || !Number.isFinite(s.weight) || s.weight <= 0 || s.weight > RING_LIMITS.weightMax) {
    fail(code, `weight of ${s.id} must be finite, > 0 and ≤ ${RING_LIMITS.weightMax}`);
  }
  if (!SERVER_STATES.includes(s.state)) fail(code, `state of ${s.id} must be one of ${SERVER_STATES.join(', ')}`);
}

/** Checks a whole layout (fields, unique ids, vnode limits); throws CairnError(code). */
export function validateLayout(layout: RingLayout, code: ErrorCode = 'InvalidArgument'): void {
  if (typeof layout !== 'object' || layout === null) fail(code, 'ring layout must be an object');
  if (!Number.isSafeInteger(layout.version) || layout.version < 0) fail(code, 'ring version must be an integer ≥ 0');
  const vpw = layout.vnodesPerWeight;
  if (typeof vpw !== 'number' || !Number.isFinite(vpw) || vpw <= 0 || vpw > RING_LIMITS.vnodesPerWeightMax) {
    fail(code, `vnodesPerWeight must be finite, > 0 and ≤ ${RING_LIMITS.vnodesPerWeightMax}`);
  }
  if (!Array.isArray(layout.servers)) fail(code, 'ring servers must be an array');
  if (layout.servers.length > RING_LIMITS.serversMax) fail(code, `a ring holds at most ${RING_LIMITS.serversMax} servers`);
  const ids = new Set<string>();
  let total = 0;
  for (const s of layout.servers) {
    validateServer(s, code);
    if (ids.has(s.id)) fail(code, `duplicate ring server id ${s.id}`);
    ids.add(s.id);
    const n = vnodeCountOf(s.weight, vpw);
    if (n > RING_LIMITS.vnodesPerServerMax) fail(code, `server ${s.id} would get ${n} vnodes (max ${RING_LIMITS.vnodesPerServerMax}); lower its weight or vnodesPerWeight`);
    total += n;
  }
  if (total > RING_LIMITS.vnodesTotalMax) fail(code, `ring would have ${total} vnodes (max ${RING_LIMITS.vnodesTotalMax}); lower weights or vnodesPerWeight`);
}

/** Validates R for place()/owners(): integer 1..RING_LIMITS.replicasMax. */
export function validateReplicas(r: number, code: ErrorCode = 'InvalidArgument'): void {
  if (!Number.isSafeInteger(r) || r < 1 || r > RING_LIMITS.replicasMax) fail(code, `replication factor must be an integer in [1, ${RING_LIMITS.replicasMax}]`);
}

/**
 * token(i) = hash32(`${id}#${i}`), computed over one reused byte buffer (the id's UTF-8 bytes,
 * '#', then the decimal digits of i) to avoid a string and an encoding per vnode.
 */
export function vnodeTokens(id: string): (i: number) => number {
  const idBytes = new TextEncoder().encode(id);
  const buf = new Uint8Array(idBytes.length + 1 + 16);
  buf.set(idBytes);
  buf[idBytes.length] = 0x23; // '#'
  const digits0 = idBytes.length + 1;
  return (i) => {
    let len = 1;
    for (let x = i; x >= 10; x = Math.floor(x / 10)) len++;
    for (let k = len - 1, x = i; k >= 0; k--, x = Math.floor(x / 10)) buf[digits0 + k] = 0x30 + (x % 10);
    return xxhash32(buf, 0, digits0 + len);
  };
}

const TIE_BITS = 2 ** 21; // ≥ vnodesTotalMax: token × TIE_BITS + rank ≤ 2^53 − 1, exact in a double

export class Ring {
  readonly version: number;
  readonly vnodesPerWeight: number;
  /** Servers sorted by id (canonical order); index = server number used below. */
  readonly servers: readonly RingServer[];
  /** Sorted vnode tokens on the 32-bit circle. */
  readonly tokens: Uint32Array;
  /** owner[i] = server number of the vnode with tokens[i]. */
  readonly owner: Uint32Array;
  /** zoneOf[server number] = zone number (zones numbered in order of sorted zone names). */
  readonly zoneOf: Uint32Array;
  readonly zoneCount: number;
  /** up[server number] = 1 when the server takes new replicas (state 'up'). */
  readonly up: Uint8Array;
  readonly upCount: number;
  /** Distinct zones that hold at least one 'up' server. */
  readonly upZoneCount: number;
  private readonly indexById: Map<string, number>;

  private constructor(layout: RingLayout) {
    this.version = layout.version;
    this.vnodesPerWeight = layout.vnodesPerWeight;
    const servers = [...layout.servers].map((s) => ({ id: s.id, zone: s.zone, weight: s.weight, state: s.state }));
    servers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.servers = Object.freeze(servers.map((s) => Object.freeze(s)));
    this.indexById = new Map(servers.map((s, i) => [s.id, i]));

    const zones = [...new Set(servers.map((s) => s.zone))].sort();
    const zoneIndex = new Map(zones.map((z, i) => [z, i]));
    this.zoneCount = zones.length;
    this.zoneOf = Uint32Array.from(servers, (s) => zoneIndex.get(s.zone)!);
    this.up = Uint8Array.from(servers, (s) => (s.state === 'up' ? 1 : 0));
    this.upCount = servers.filter((s) => s.state === 'up').length;
    this.upZoneCount = new Set(servers.filter((s) => s.state === 'up').map((s) => s.zone)).size;

    // Keys = token × 2^21 + rank, where rank numbers vnodes in (server id, vnode index) order:
    // sorting the doubles sorts by token with a deterministic tie-break, and rank finds the owner.
    const counts = servers.map((s) => vnodeCountOf(s.weight, layout.vnodesPerWeight));
    const total = counts.reduce((a, b) => a + b, 0);
    assert(total <= RING_LIMITS.vnodesTotalMax && RING_LIMITS.vnodesTotalMax <= TIE_BITS, 'vnode total checked by validateLayout');
    const keys = new Float64Array(total);
    const rankOwner = new Uint32Array(total);
    let rank = 0;
    for (let s = 0; s < servers.length; s++) {
      const tokenOf = vnodeTokens(servers[s]!.id);
      for (let i = 0; i < counts[s]!; i++) {
        keys[rank] = tokenOf(i) * TIE_BITS + rank;
        rankOwner[rank] = s;
        rank++;
      }
    }
    keys.sort();
    this.tokens = new Uint32Array(total);
    this.owner = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const k = keys[i]!;
      const r = k % TIE_BITS;
      this.tokens[i] = (k - r) / TIE_BITS;
      this.owner[i] = rankOwner[r]!;
    }
  }

  /** Builds a ring from a layout; throws CairnError('InvalidArgument') if it is invalid. O(V log V). */
  static build(layout: RingLayout): Ring {
    validateLayout(layout);
    return new Ring(layout);
  }

  /** The layout this ring was built from, servers in canonical (id) order. */
  layout(): RingLayout {
    return { version: this.version, vnodesPerWeight: this.vnodesPerWeight, servers: this.servers };
  }

  /** Server number in canonical order, or -1. */
  indexOf(id: string): number {
    return this.indexById.get(id) ?? -1;
  }

  server(id: string): RingServer | undefined {
    const i = this.indexById.get(id);
    return i === undefined ? undefined : this.servers[i];
  }

  /** Vnodes the server owns (0 if unknown). */
  vnodeCount(id: string): number {
    const s = this.server(id);
    return s ? vnodeCountOf(s.weight, this.vnodesPerWeight) : 0;
  }

  get vnodeTotal(): number {
    return this.tokens.length;
  }

  /** Index of the first vnode with token ≥ point, wrapping to 0 past the last (the clockwise successor). */
  successor(point: number): number {
    const t = this.tokens;
    let lo = 0;
    let hi = t.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t[mid]! < point) lo = mid + 1;
      else hi = mid;
    }
    return lo === t.length ? 0 : lo;
  }
}

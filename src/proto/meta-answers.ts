/**
 * Answers of the metadata RPC as the client reads them: one type and one decoder per method.
 * The shapes are the server's (src/leader);
 * a decoder checks every field the client uses and copies only those, so nothing unchecked
 * from the wire reaches the client's logic.
 *
 * Contract: decodeX(method-answer) returns the typed answer or throws CairnError('ProtocolError')
 * naming the method and the field, e.g. `fs.open answer: chunks[3].size must be a non-negative
 * integer`. Unknown extra fields are ignored (a newer server may add some), except in
 * cluster.repair, whose counters are passed through as they come (numbers only).
 */
import { At, type EntryType, type Map } from './answer-reader.js';
import type { FileAttrs } from './file-attrs.js';
import type { BackupAnswers } from './backup-requests.js';
import { clusterHealth, decodeStatusDetail, type Health, type StatusDetail } from './cluster-health.js';

export type { EntryType };

/** fs.stat */
export interface StatAnswer {
  path: string;
  type: EntryType;
  size: number;
  /** ms since the epoch */
  mtime: number;
  etag: string | null;
  /** `replicas`: chunk servers that hold a verified copy now (ids). */
  chunks: Array<{ id: string; size: number; crc: number; replicas: string[] }>;
  /** The file's attributes (proto/file-attrs.ts); absent when it has none and for a directory. */
  attrs?: FileAttrs;
  /** A file's whole CRC-32C, composed from its chunks' (util/crc32c-combine.ts); absent for a directory. */
  crc32c?: number;
}

export interface ListEntryAnswer {
  name: string;
  /** Absolute path. */
  path: string;
  type: EntryType;
  size: number;
  mtime: number;
}

/** fs.list and fs.walk */
export interface ListAnswer {
  entries: ListEntryAnswer[];
  /** Pass back for the next page; null on the last page. */
  cursor: string | null;
}

/** A chunk server to write to, with its write token. */
export interface WriteTarget {
  id: string;
  addr: string;
  token: string;
}

/** A chunk server as fs.view describes it: whether it takes new chunks now (alive, not full, up in the ring). */
export interface ViewServer {
  id: string;
  addr: string;
  writable: boolean;
}

/**
 * fs.view: the cluster's placement view and a write grant (leader/allocator.ts). `ring` is the
 * ring layout in placement/ring-codec.ts value form, checked here only as an array: the client
 * decodes and validates it with ringLayoutFromValue (proto does not import placement).
 */
export interface ViewAnswer {
  ringVersion: number;
  ring: unknown[];
  servers: ViewServer[];
  replicas: number;
  chunkSize: number;
  /** Write authority for chunk ids starting `prefix` (GRANT_PREFIX_BYTES × 2 hex digits) for ttlMs. */
  grant: { prefix: string; token: string; ttlMs: number };
}

/** fs.alloc */
export interface AllocAnswer {
  /** The cluster's chunk size for new files. */
  chunkSize: number;
  chunks: Array<{ id: string; targets: WriteTarget[] }>;
}

/** fs.retarget */
export interface RetargetAnswer {
  targets: WriteTarget[];
}

/** fs.commit */
export interface CommitAnswer {
  path: string;
  size: number;
  etag: string;
  mtime: number;
}

export interface OpenChunk {
  id: string;
  size: number;
  crc: number;
  /** Offset of the chunk's first byte in the file. */
  offset: number;
  /** Where to read it, best first. */
  replicas: Array<{ id: string; addr: string }>;
  /** A read token for this chunk. */
  token: string;
}

/**
 * fs.open: one page of the file's chunks, [first, first + chunks.length); for an inline file no
 * chunks (total 0) and `inline`, the whole file's bytes (exactly `size` of them) and CRC-32C.
 */
export interface OpenAnswer {
  size: number;
  etag: string | null;
  mtime: number;
  /** Chunks in the whole file. */
  total: number;
  chunks: OpenChunk[];
  inline?: { data: Uint8Array; crc: number };
  /** As fs.stat's. */
  attrs?: FileAttrs;
  /** The whole file's CRC-32C, in the answer for the page from chunk 0. */
  crc32c?: number;
}

/** cluster.status: the object of `cairn status --json` (CONTRACT), then the operator's detail (cluster-health.ts). */
export interface ClusterStatus extends StatusDetail {
  health: Health;
  leader: string | null;
  meta: Array<{ id: string; addr: string | null; role: 'leader' | 'follower' | 'learner' | 'unreachable' }>;
  chunkServers: Array<{ id: string; addr: string; state: 'alive' | 'dead' | 'draining'; used: number; capacity: number; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

/**
 * cluster.repair: the leader's repair counters (leader/repair-scheduler.ts RepairStats; every
 * number the server sends is kept, so new counters show up without a client change), whether
 * repair runs (`ready`) and which live servers' full reports it still waits for.
 * A type alias, not an interface: it must stay assignable to a string-keyed record (metrics).
 */
export type RepairStatus = {
  [counter: string]: number | boolean | string[];
  copiesQueued: number;
  copiesInFlight: number;
  copiesConfirmed: number;
  copyBytes: number;
  copyBytesPerSec: number;
  deletesQueued: number;
  deletesScheduled: number;
  garbageChunks: number;
  ready: boolean;
  reportsPending: string[];
};

export type ScrubState = 'running' | 'done' | 'failed';
export type ScrubServerState = 'waiting' | 'scrubbing' | 'done' | 'failed';

/**
 * cluster.scrub and cluster.scrubStatus: a scrub round (leader/scrub-rounds.ts). `checked`:
 * replicas verified; `corrupt`: those that failed; `missing`: replicas the leader counted on that
 * their server does not have; `repaired`: found ones whose chunk is back at its full count of
 * live verified replicas; `unrepairable`: found ones whose chunk has no verified copy left.
 * `state` is 'done' once every server finished and every found replica is repaired or
 * unrepairable (or its chunk is no longer referenced); 'failed' (with `error`) when a server
 * died or restarted twice during the round, or the round timed out.
 */
export interface ScrubRoundStatus {
  round: string;
  state: ScrubState;
  error: string | null;
  checked: number;
  corrupt: number;
  missing: number;
  repaired: number;
  unrepairable: number;
  /** `expected`: the replicas the leader believed the server held when the round began. */
  servers: Array<{ id: string; state: ScrubServerState; checked: number; corrupt: number; missing: number; expected: number }>;
}

/** raft.status (the fields a caller reads: who leads, terms and indexes, membership). */
export interface RaftStatusAnswer {
  id: string;
  term: number;
  role: 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner';
  leader: string | null;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: { voters: string[]; learners: string[] };
  addrs: Record<string, string>;
  /** Milliseconds since this member last heard from a leader (0 on the leader); null: not since it started. Absent from older servers. */
  leaderContactMs?: number | null;
  /** Leader only: each member's replicated log index. */
  progress?: Record<string, { match: number }> | null;
}

/** fs.statLocal */
export interface StatLocalAnswer {
  applied: number;
  types: Array<EntryType | null>;
}

/** The answer of every method that answers nothing but success. */
export type EmptyAnswer = Record<string, never>;

/**
 * Method → answer: the leader's handlers are typed by it (src/leader/dispatch-table.ts), so a
 * server that builds another shape does not compile; the decoders below hold the client to it.
 */
export interface MetaAnswers extends BackupAnswers {
  'fs.stat': StatAnswer;
  'fs.list': ListAnswer;
  'fs.walk': ListAnswer;
  'fs.mkdir': EmptyAnswer;
  'fs.rm': EmptyAnswer;
  'fs.mv': EmptyAnswer;
  'fs.copy': CommitAnswer;
  'fs.concat': CommitAnswer;
  'fs.view': ViewAnswer;
  'fs.alloc': AllocAnswer;
  'fs.retarget': RetargetAnswer;
  'fs.commit': CommitAnswer;
  'fs.put': CommitAnswer;
  'fs.open': OpenAnswer;
  'fs.bad': EmptyAnswer;
  'fs.statLocal': StatLocalAnswer;
  'cs.register': { ringVersion: number };
  'cs.heartbeat': HeartbeatAnswer;
  'cs.reportBegin': EmptyAnswer;
  'cs.reportPage': EmptyAnswer;
  'cs.reportEnd': { dropped: number };
  'cs.update': { commands: unknown[] };
  'cs.work': { commands: unknown[] };
  'cluster.status': ClusterStatus;
  'cluster.drain': EmptyAnswer;
  'cluster.remove': EmptyAnswer;
  'cluster.repair': RepairStatus;
  'cluster.scrub': ScrubRoundStatus;
  'cluster.scrubStatus': ScrubRoundStatus;
  /** `active`: false when the leader knows no such round running on the caller (stop it). */
  'cs.scrubReport': { active: boolean };
  'raft.status': RaftStatusAnswer;
  'meta.add': EmptyAnswer;
  'meta.remove': EmptyAnswer;
  /** The leader once the transfer is done. */
  'meta.transferLeader': { leader: string };
}

// ---- decoders -------------------------------------------------------------------------------

export function decodeStat(v: unknown): StatAnswer {
  const a: At = new At('fs.stat');
  const o = a.map(v);
  return {
    path: a.str(o, 'path'),
    type: a.entryType(o, 'type'),
    size: a.count(o, 'size'),
    mtime: a.count(o, 'mtime'),
    etag: a.optStr(o, 'etag'),
    chunks: a.array(o, 'chunks', (c, at) => ({ id: at.chunkId(c, 'id'), size: at.count(c, 'size'), crc: at.crc(c, 'crc'), replicas: at.strings(c, 'replicas') })),
    ...a.attrs(o, 'attrs'),
    ...a.optCrc(o, 'crc32c'),
  };
}

/** `method`: 'fs.list' or 'fs.walk' (same shape). */
export function decodeList(v: unknown, method: 'fs.list' | 'fs.walk' = 'fs.list'): ListAnswer {
  const a: At = new At(method);
  const o = a.map(v);
  return {
    entries: a.array(o, 'entries', (e, at) => ({ name: at.str(e, 'name'), path: at.str(e, 'path'), type: at.entryType(e, 'type'), size: at.count(e, 'size'), mtime: at.count(e, 'mtime') })),
    cursor: a.optStr(o, 'cursor'),
  };
}

const GRANT_PREFIX_RE = /^[0-9a-f]{16}$/;

export function decodeView(v: unknown): ViewAnswer {
  const a: At = new At('fs.view');
  const o = a.map(v);
  const replicas = a.count(o, 'replicas');
  if (replicas < 1) a.fail('replicas', 'a positive integer');
  const chunkSize = a.count(o, 'chunkSize');
  if (chunkSize < 1) a.fail('chunkSize', 'a positive integer');
  const [grant, g] = a.sub(o, 'grant');
  const prefix = g.str(grant, 'prefix');
  if (!GRANT_PREFIX_RE.test(prefix)) g.fail('prefix', '16 lowercase hex digits');
  const ttlMs = g.count(grant, 'ttlMs');
  if (ttlMs < 1) g.fail('ttlMs', 'a positive integer');
  return {
    ringVersion: a.count(o, 'ringVersion'),
    ring: a.list(o, 'ring'),
    servers: a.array(o, 'servers', (x, at) => ({ id: at.str(x, 'id'), addr: at.str(x, 'addr'), writable: at.bool(x, 'writable') })),
    replicas,
    chunkSize,
    grant: { prefix, token: g.str(grant, 'token'), ttlMs },
  };
}

export function decodeAlloc(v: unknown): AllocAnswer {
  const a: At = new At('fs.alloc');
  const o = a.map(v);
  const chunkSize = a.count(o, 'chunkSize');
  if (chunkSize < 1) a.fail('chunkSize', 'a positive integer');
  const chunks = a.array(o, 'chunks', (c, at) => ({ id: at.chunkId(c, 'id'), targets: at.array(c, 'targets', targetOf) }));
  if (chunks.length === 0) a.fail('chunks', 'a non-empty array');
  return { chunkSize, chunks };
}

export function decodeRetarget(v: unknown): RetargetAnswer {
  const a: At = new At('fs.retarget');
  return { targets: a.array(a.map(v), 'targets', targetOf) };
}

/** fs.commit, fs.put, fs.copy and fs.concat (same shape). */
export function decodeCommit(v: unknown, method: 'fs.commit' | 'fs.put' | 'fs.copy' | 'fs.concat' = 'fs.commit'): CommitAnswer {
  const a: At = new At(method);
  const o = a.map(v);
  return { path: a.str(o, 'path'), size: a.count(o, 'size'), etag: a.str(o, 'etag'), mtime: a.count(o, 'mtime') };
}

export function decodeOpen(v: unknown): OpenAnswer {
  const a: At = new At('fs.open');
  const o = a.map(v);
  const size = a.count(o, 'size');
  const out: OpenAnswer = {
    size,
    etag: a.optStr(o, 'etag'),
    mtime: a.count(o, 'mtime'),
    total: a.count(o, 'total'),
    chunks: a.array(o, 'chunks', (c, at) => ({
      id: at.chunkId(c, 'id'),
      size: at.count(c, 'size'),
      crc: at.crc(c, 'crc'),
      offset: at.count(c, 'offset'),
      replicas: at.array(c, 'replicas', (r, ra) => ({ id: ra.str(r, 'id'), addr: ra.str(r, 'addr') })),
      token: at.str(c, 'token'),
    })),
    ...a.attrs(o, 'attrs'),
    ...a.optCrc(o, 'crc32c'),
  };
  if (o.inline !== undefined && o.inline !== null) {
    const sub = a.sub(o, 'inline');
    const inline = sub[0];
    const i: At = sub[1];
    const data = inline.data;
    if (!(data instanceof Uint8Array) || data.length !== size) return i.fail('data', `bytes, exactly the file's ${size}`);
    if (out.total !== 0 || out.chunks.length !== 0) a.fail('total', '0 for an inline file');
    out.inline = { data, crc: i.crc(inline, 'crc') };
  }
  return out;
}

/** Methods that answer `{}` (fs.mkdir, fs.rm, fs.mv, fs.bad, cluster.drain, cluster.remove): a map. */
export function decodeEmpty(v: unknown, method: string): void {
  new At(method).map(v);
}

/** meta.transferLeader */
export function decodeTransferLeader(v: unknown): { leader: string } {
  const a: At = new At('meta.transferLeader');
  return { leader: a.str(a.map(v), 'leader') };
}

const META_ROLES = ['leader', 'follower', 'learner', 'unreachable'] as const;
const SERVER_STATES = ['alive', 'dead', 'draining'] as const;

export function decodeClusterStatus(v: unknown): ClusterStatus {
  const a: At = new At('cluster.status');
  const o = a.map(v);
  const [chunks, c] = a.sub(o, 'chunks');
  const s: Omit<ClusterStatus, 'health'> = {
    leader: a.optStr(o, 'leader'),
    meta: a.array(o, 'meta', (m, at) => ({ id: at.str(m, 'id'), addr: at.optStr(m, 'addr'), role: at.oneOf(m, 'role', META_ROLES) })),
    chunkServers: a.array(o, 'chunkServers', (c, at) => ({
      id: at.str(c, 'id'),
      addr: at.str(c, 'addr'),
      state: at.oneOf(c, 'state', SERVER_STATES),
      used: at.count(c, 'used'),
      capacity: at.count(c, 'capacity'),
      chunks: at.count(c, 'chunks'),
    })),
    chunks: { total: c.count(chunks, 'total'), underReplicated: c.count(chunks, 'underReplicated'), lost: c.count(chunks, 'lost') },
  };
  // A leader answered, so there is a quorum; an older leader sends no verdict: judged here.
  const health = o.health === undefined ? clusterHealth(s, true) : a.oneOf(o, 'health', HEALTHS);
  return { health, ...s, ...decodeStatusDetail(o) };
}

const HEALTHS = ['healthy', 'degraded', 'unavailable'] as const;

const REPAIR_COUNTERS = ['copiesQueued', 'copiesInFlight', 'copiesConfirmed', 'copyBytes', 'copyBytesPerSec', 'deletesQueued', 'deletesScheduled', 'garbageChunks'] as const;

export function decodeRepairStatus(v: unknown): RepairStatus {
  const a: At = new At('cluster.repair');
  const o = a.map(v);
  const out: Record<string, number | boolean | string[]> = {};
  for (const [k, x] of Object.entries(o)) {
    if (k === 'ready' || k === 'reportsPending') continue;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) a.fail(k, 'a non-negative number');
    out[k] = x;
  }
  for (const k of REPAIR_COUNTERS) if (!(k in out)) a.fail(k, 'a non-negative number');
  out.ready = a.bool(o, 'ready');
  out.reportsPending = a.strings(o, 'reportsPending');
  return out as RepairStatus;
}

const SCRUB_STATES = ['running', 'done', 'failed'] as const;
const SCRUB_SERVER_STATES = ['waiting', 'scrubbing', 'done', 'failed'] as const;

/** `method`: 'cluster.scrub' or 'cluster.scrubStatus' (same shape). */
export function decodeScrubRound(v: unknown, method: 'cluster.scrub' | 'cluster.scrubStatus' = 'cluster.scrubStatus'): ScrubRoundStatus {
  const a: At = new At(method);
  const o = a.map(v);
  return {
    round: a.str(o, 'round'),
    state: a.oneOf(o, 'state', SCRUB_STATES),
    error: a.optStr(o, 'error'),
    checked: a.count(o, 'checked'),
    corrupt: a.count(o, 'corrupt'),
    missing: a.count(o, 'missing'),
    repaired: a.count(o, 'repaired'),
    unrepairable: a.count(o, 'unrepairable'),
    servers: a.array(o, 'servers', (x, at) => ({
      id: at.str(x, 'id'),
      state: at.oneOf(x, 'state', SCRUB_SERVER_STATES),
      checked: at.count(x, 'checked'),
      corrupt: at.count(x, 'corrupt'),
      missing: at.count(x, 'missing'),
      expected: at.count(x, 'expected'),
    })),
  };
}

/** cs.scrubReport */
export function decodeScrubReport(v: unknown): { active: boolean } {
  const a: At = new At('cs.scrubReport');
  return { active: a.bool(a.map(v), 'active') };
}

const RAFT_ROLES = ['follower', 'pre-candidate', 'candidate', 'leader', 'learner'] as const;

export function decodeRaftStatus(v: unknown): RaftStatusAnswer {
  const a: At = new At('raft.status');
  const o = a.map(v);
  const [conf, c] = a.sub(o, 'conf');
  const [addrs, ad] = a.sub(o, 'addrs');
  const addrMap: Record<string, string> = {};
  for (const k of Object.keys(addrs)) addrMap[k] = ad.str(addrs, k);
  return {
    id: a.str(o, 'id'),
    term: a.count(o, 'term'),
    role: a.oneOf(o, 'role', RAFT_ROLES),
    leader: a.optStr(o, 'leader'),
    commit: a.count(o, 'commit'),
    applied: a.count(o, 'applied'),
    lastIndex: a.count(o, 'lastIndex'),
    conf: { voters: c.strings(conf, 'voters'), learners: c.strings(conf, 'learners') },
    addrs: addrMap,
    leaderContactMs: o.leaderContactMs === undefined || o.leaderContactMs === null ? null : a.count(o, 'leaderContactMs'),
    progress: decodeProgress(o, a),
  };
}

function decodeProgress(o: Map, a: At): Record<string, { match: number }> | null {
  if (o.progress === undefined || o.progress === null) return null;
  const [p, at] = a.sub(o, 'progress');
  const out: Record<string, { match: number }> = {};
  for (const id of Object.keys(p)) {
    const [m, mat] = at.sub(p, id);
    out[id] = { match: mat.count(m, 'match') };
  }
  return out;
}

export function decodeStatLocal(v: unknown): StatLocalAnswer {
  const a: At = new At('fs.statLocal');
  const o = a.map(v);
  const types = o.types;
  if (!Array.isArray(types)) a.fail('types', 'an array');
  return {
    applied: a.count(o, 'applied'),
    types: types.map((t: unknown, i) => {
      if (t !== null && t !== 'file' && t !== 'dir') a.fail(`types[${i}]`, "'file', 'dir' or null");
      return t;
    }),
  };
}

// ---- chunk-server (service) methods ------------------------------------------------------------

/**
 * cs.heartbeat. `commands` are repair work items, each checked by the chunk server's
 * replicator (chunk/replicator.ts parseReplicaCommand), which drops a malformed one alone
 * instead of failing the whole answer.
 */
export interface HeartbeatAnswer {
  needReport: boolean;
  registered: boolean;
  commands: unknown[];
}

export function decodeHeartbeat(v: unknown): HeartbeatAnswer {
  const a: At = new At('cs.heartbeat');
  const o = a.map(v);
  return { needReport: a.bool(o, 'needReport'), registered: a.bool(o, 'registered'), commands: a.list(o, 'commands') };
}

/** cs.update and cs.work: repair work for the caller (see HeartbeatAnswer.commands). */
export function decodeCommands(v: unknown, method: 'cs.update' | 'cs.work'): { commands: unknown[] } {
  const a: At = new At(method);
  return { commands: a.list(a.map(v), 'commands') };
}

/** cs.register */
export function decodeRegister(v: unknown): { ringVersion: number } {
  const a: At = new At('cs.register');
  return { ringVersion: a.count(a.map(v), 'ringVersion') };
}

/** cs.reportEnd: chunks of the report the leader dropped (ids it does not know). */
export function decodeReportEnd(v: unknown): { dropped: number } {
  const a: At = new At('cs.reportEnd');
  return { dropped: a.count(a.map(v), 'dropped') };
}

function targetOf(t: Record<string, unknown>, at: At): WriteTarget {
  return { id: at.str(t, 'id'), addr: at.str(t, 'addr'), token: at.str(t, 'token') };
}

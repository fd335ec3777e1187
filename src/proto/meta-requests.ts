/**
 * Metadata RPC requests: the method names, what each method's body holds, and its decoder.
 * The server decodes every body here before acting on it, so no unchecked value reaches a
 * handler or the state machine; senders may import the types to build bodies.
 *
 * A decoder takes the raw msgpack value (a map, or null/undefined for "no fields") and returns
 * the typed request with the defaults of absent optional fields filled in. A malformed body is
 * CairnError('InvalidArgument') naming the field and its bound — except a malformed path, which
 * is CairnError('InvalidPath') as everywhere else. Unknown fields are ignored.
 *
 * Answers are declared apart (meta-answers.ts).
 */
import { ETAG_BYTES_MAX, FILE_CHUNKS_MAX, INLINE_FILE_BYTES_MAX, type ChunkRef, type SessionHeader } from './meta-fields.js';
import { PATH_BYTES_MAX } from './path.js';
import { isChunkId } from '../util/chunk-id.js';
import { CairnError } from '../util/errors.js';
import { body, bool, bytes, int, optAttrs, optInt, optStr, path, session, str, strArray, type Body } from './fields.js';
import type { FileAttrs } from './file-attrs.js';
import { decodeConcatRequest, type ConcatRequest } from './concat-request.js';

export { CONCAT_SOURCES_MAX, type ConcatRequest } from './concat-request.js';
import { BACKUP_METHODS, BACKUP_REQUEST_DECODERS, type BackupRequests } from './backup-requests.js';
import * as admin from './meta-admin-requests.js';
import type { DrainRequest, MetaAddRequest, MetaRemoveRequest, MetaTransferRequest, RemoveRequest } from './meta-admin-requests.js';
export type { DrainRequest, MetaAddRequest, MetaRemoveRequest, MetaTransferRequest, RemoveRequest } from './meta-admin-requests.js';

export const META_METHODS = [
  'fs.stat',
  'fs.list',
  'fs.walk',
  'fs.mkdir',
  'fs.rm',
  'fs.mv',
  'fs.copy',
  'fs.concat',
  'fs.view',
  'fs.alloc',
  'fs.retarget',
  'fs.commit',
  'fs.put',
  'fs.open',
  'fs.bad',
  'cluster.status',
  'fs.statLocal',
  'cs.register',
  'cs.heartbeat',
  'cs.reportBegin',
  'cs.reportPage',
  'cs.reportEnd',
  'cs.update',
  'cs.work',
  'raft.status',
  'cluster.drain',
  'cluster.remove',
  'cluster.repair',
  'cluster.scrub',
  'cluster.scrubStatus',
  'cs.scrubReport', ...BACKUP_METHODS,
  'meta.add',
  'meta.remove',
  'meta.transferLeader',
] as const;

export type MetaMethod = (typeof META_METHODS)[number];

/** Chunks placed by one fs.alloc. */
export const ALLOC_CHUNKS_MAX = 64;
/** Servers one fs.alloc or fs.retarget may exclude, and the length of each id. */
export const EXCLUDE_SERVERS_MAX = 256;
export const SERVER_ID_CHARS_MAX = 64;
/** Chunks one fs.open describes (its default count). */
export const OPEN_CHUNKS_MAX = 10_000;
/** Entries one fs.list or fs.walk page holds. */
export const LIST_LIMIT_MAX = 10_000;
/** Longest fs.list/fs.walk cursor (a relative path). */
export const LIST_CURSOR_CHARS_MAX = 16 * PATH_BYTES_MAX;
export const STAT_LOCAL_PATHS_MAX = 10_000;
/** Chunk ids in one report page or incremental update. */
export const REPORT_PAGE_IDS_MAX = 10_000;
/** Chunk ids in one heartbeat's copyFailed. */
export const COPY_FAILED_IDS_MAX = 1000;
export const ADDR_CHARS_MAX = 300;
export const DISK_ID_CHARS_MAX = 128;
export const ZONE_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const CAPACITY_BYTES_MAX = 2 ** 53 - 1;
/** Longest a cs.work poll is held. */
export const WORK_WAIT_MS_MAX = 30_000;
/** Longest a scrub round may run before the leader gives it up (cluster.scrub timeoutMs). */
export const SCRUB_TIMEOUT_MS_MAX = 7 * 24 * 3_600_000;
/** Longest scrub round id. */
export const SCRUB_ROUND_CHARS_MAX = 64;

// ---- client methods ----------------------------------------------------------------------------

/** fs.stat */
export interface StatRequest {
  path: string;
}

/** fs.list and fs.walk: one page of entries. */
export interface ListRequest {
  path: string;
  /** 1..LIST_LIMIT_MAX; absent: the namespace's default page. */
  limit?: number;
  /** The previous page's cursor; absent: the first page. */
  cursor?: string;
}

/** fs.mkdir */
export interface MkdirRequest {
  path: string;
  /** Create missing parents. Optional on the wire, default false. */
  parents: boolean;
  s: SessionHeader;
}

/** fs.rm */
export interface RmRequest {
  path: string;
  /** Optional on the wire, default false. */
  recursive: boolean;
  s: SessionHeader;
}

/** fs.mv */
export interface MvRequest {
  from: string;
  to: string;
  s: SessionHeader;
}

/**
 * fs.copy: a server-side copy of the file `from` at `to`, sharing its chunks (no bytes move);
 * answered like fs.commit. Destination rules as fs.commit's.
 */
export interface CopyRequest {
  from: string;
  to: string;
  /** Optional on the wire, default false. */
  overwrite: boolean;
  /** Create missing parents. Optional on the wire, default true. */
  parents: boolean;
  s: SessionHeader;
}

/** fs.alloc: place `count` new chunks. */
export interface AllocRequest {
  count: number;
  /** Chunk servers not to use. Optional on the wire, default []. */
  exclude: string[];
}

/** fs.retarget: replacements for the failed targets of one chunk. */
export interface RetargetRequest {
  id: string;
  exclude: string[];
}

/** fs.commit: make a file of chunks already written visible. */
export interface CommitRequest {
  path: string;
  size: number;
  etag: string;
  /** On the wire: [[id, size, crc], …]. */
  chunks: ChunkRef[];
  /** Optional on the wire, default false. */
  overwrite: boolean;
  /** Create missing parents. Optional on the wire, default true. */
  parents: boolean;
  s: SessionHeader;
  /**
   * The ring version the client placed the chunks with (fs.view's ringVersion); the leader
   * answers StaleRing when its ring is newer. Absent (chunks placed by fs.alloc): not checked.
   */
  ringVersion?: number;
  /** The file's attributes (proto/file-attrs.ts), a map on the wire. Optional, default none. */
  attrs?: FileAttrs;
}

/**
 * fs.put: a whole small file, stored inline with its namespace entry (one Raft entry, no chunk
 * servers); answered like fs.commit, with etag = inlineEtag(data) (util/inline-etag.ts). InlineRefused (detail
 * `inlineBytesMax`: the cluster's threshold) when the file is over the cluster's inline threshold
 * or the cluster's inline bytes would pass their cap: the client then stores it in chunks.
 */
export interface PutRequest {
  path: string;
  /** The file's bytes, at most INLINE_FILE_BYTES_MAX. */
  data: Uint8Array;
  /** CRC-32C of `data`; a mismatch is Corrupt (nothing stored). */
  crc: number;
  /** Optional on the wire, default false. */
  overwrite: boolean;
  /** Create missing parents. Optional on the wire, default true. */
  parents: boolean;
  s: SessionHeader;
  /** As fs.commit's. */
  attrs?: FileAttrs;
}

/** fs.open: a file's chunks from index `first`, at most `count` of them. */
export interface OpenRequest {
  path: string;
  /** Optional on the wire, default 0. */
  first: number;
  /** 1..OPEN_CHUNKS_MAX. Optional on the wire, default OPEN_CHUNKS_MAX. */
  count: number;
}

/** fs.bad: a reader found `server`'s replica of chunk `id` corrupt or missing. */
export interface BadRequest {
  id: string;
  server: string;
}

/** fs.statLocal: the types of `paths` in the answering server's own committed state. */
export interface StatLocalRequest {
  paths: string[];
}

/** fs.view, cluster.status, cluster.repair, raft.status: no fields. */
export type EmptyRequest = Record<string, never>;

/** cluster.scrub: verify every replica (or one server's) now. */
export interface ScrubRequest {
  /** Only this chunk server; absent: every live one. */
  server?: string;
  /** Read rate per server while verifying, bytes/s; 0 (the default): full disk speed. */
  bytesPerSecMax: number;
  /** The leader gives the round up (failed) after this long. Optional on the wire. */
  timeoutMs?: number;
}

/** cluster.scrubStatus: a round's progress and results. */
export interface ScrubStatusRequest {
  /** Absent: the running round, else the latest one (NotFound when this leader ran none). */
  round?: string;
}

// ---- chunk-server methods (the caller's id is the chunk server id) ------------------------------

/** cs.register */
export interface RegisterRequest {
  addr: string;
  zone: string;
  capacityBytes: number;
}

/** cs.heartbeat */
export interface HeartbeatRequest {
  usedBytes: number;
  capacityBytes: number;
  freeBytes: number;
  chunks: number;
  full: boolean;
  /** Repair copies that failed from every source; absent: none to report. */
  copyFailed?: string[];
  /** Cumulative bytes of repair copies finished; absent: not reported. */
  copiedBytes?: number;
  /** Nothing queued or running on the server. Optional on the wire, default false. */
  repairIdle: boolean;
  /** Identifies the server's disk (servers sharing one report the same id); absent: not reported. */
  diskId?: string;
}

/** cs.reportBegin and cs.reportEnd */
export interface ReportRequest {
  report: number;
}

/** cs.reportPage */
export interface ReportPageRequest {
  report: number;
  ids: string[];
}

/** cs.update: an incremental report. */
export interface UpdateRequest {
  /** Optional on the wire, default []. */
  added: string[];
  /** Optional on the wire, default []. */
  removed: string[];
}

/** cs.work: a long poll for repair work. */
export interface WorkRequest {
  /** 0..WORK_WAIT_MS_MAX */
  waitMs: number;
}

/**
 * cs.scrubReport: progress of a scrub round on the calling server. `verified`: replicas that
 * passed since the last report; `corrupt`: replicas that failed (the server deletes them);
 * `done`: its whole listing has been verified.
 */
export interface ScrubReportRequest {
  round: string;
  /** 1, 2, … per server process and round: a page sent again (a retried call) is applied once. */
  page: number;
  /** Optional on the wire, default []. */
  verified: string[];
  /** Optional on the wire, default []. */
  corrupt: string[];
  /** Optional on the wire, default false. */
  done: boolean;
}

export interface MetaRequests extends BackupRequests {
  'fs.stat': StatRequest;
  'fs.list': ListRequest;
  'fs.walk': ListRequest;
  'fs.mkdir': MkdirRequest;
  'fs.rm': RmRequest;
  'fs.mv': MvRequest;
  'fs.copy': CopyRequest;
  'fs.concat': ConcatRequest;
  'fs.view': EmptyRequest;
  'fs.alloc': AllocRequest;
  'fs.retarget': RetargetRequest;
  'fs.commit': CommitRequest;
  'fs.put': PutRequest;
  'fs.open': OpenRequest;
  'fs.bad': BadRequest;
  'cluster.status': EmptyRequest;
  'fs.statLocal': StatLocalRequest;
  'cs.register': RegisterRequest;
  'cs.heartbeat': HeartbeatRequest;
  'cs.reportBegin': ReportRequest;
  'cs.reportPage': ReportPageRequest;
  'cs.reportEnd': ReportRequest;
  'cs.update': UpdateRequest;
  'cs.work': WorkRequest;
  'raft.status': EmptyRequest;
  'cluster.drain': DrainRequest;
  'cluster.remove': RemoveRequest;
  'cluster.repair': EmptyRequest;
  'cluster.scrub': ScrubRequest;
  'cluster.scrubStatus': ScrubStatusRequest;
  'cs.scrubReport': ScrubReportRequest;
  'meta.add': MetaAddRequest;
  'meta.remove': MetaRemoveRequest;
  'meta.transferLeader': MetaTransferRequest;
}

export type MetaRequestDecoder<M extends MetaMethod> = (raw: unknown) => MetaRequests[M];

// ---- decoders -----------------------------------------------------------------------------------

export function decodeEmptyRequest(raw: unknown): EmptyRequest {
  body(raw);
  return {};
}

export function decodeStatRequest(raw: unknown): StatRequest {
  return { path: path(body(raw), 'path') };
}

export function decodeListRequest(raw: unknown): ListRequest {
  const b = body(raw);
  const out: ListRequest = { path: path(b, 'path') };
  const limit = optInt(b, 'limit', 1, LIST_LIMIT_MAX);
  const cursor = optStr(b, 'cursor', LIST_CURSOR_CHARS_MAX);
  if (limit !== undefined) out.limit = limit;
  if (cursor !== undefined) out.cursor = cursor;
  return out;
}

export function decodeMkdirRequest(raw: unknown): MkdirRequest {
  const b = body(raw);
  return { path: path(b, 'path'), parents: bool(b, 'parents'), s: session(b) };
}

export function decodeRmRequest(raw: unknown): RmRequest {
  const b = body(raw);
  return { path: path(b, 'path'), recursive: bool(b, 'recursive'), s: session(b) };
}

export function decodeMvRequest(raw: unknown): MvRequest {
  const b = body(raw);
  return { from: path(b, 'from'), to: path(b, 'to'), s: session(b) };
}

export function decodeCopyRequest(raw: unknown): CopyRequest {
  const b = body(raw);
  return { from: path(b, 'from'), to: path(b, 'to'), overwrite: bool(b, 'overwrite'), parents: bool(b, 'parents', true), s: session(b) };
}

export function decodeAllocRequest(raw: unknown): AllocRequest {
  const b = body(raw);
  return { count: int(b, 'count', 1, ALLOC_CHUNKS_MAX), exclude: excludeList(b) };
}

export function decodeRetargetRequest(raw: unknown): RetargetRequest {
  const b = body(raw);
  return { id: chunkId(b, 'id'), exclude: excludeList(b) };
}

export function decodeCommitRequest(raw: unknown): CommitRequest {
  const b = body(raw);
  const p = path(b, 'path');
  const size = int(b, 'size');
  const etag = str(b, 'etag', ETAG_BYTES_MAX);
  const list = b.chunks;
  if (!Array.isArray(list) || list.length > FILE_CHUNKS_MAX) throw new CairnError('InvalidArgument', `chunks must be an array of at most ${FILE_CHUNKS_MAX}`);
  const chunks: ChunkRef[] = list.map((c: unknown, i) => {
    if (!Array.isArray(c) || c.length !== 3) throw new CairnError('InvalidArgument', `chunks[${i}] must be [id, size, crc]`);
    const [id, sz, crc] = c as unknown[];
    if (!isChunkId(id)) throw new CairnError('InvalidArgument', `chunks[${i}] id must be a chunk id (32 lowercase hex digits)`);
    if (typeof sz !== 'number' || !Number.isSafeInteger(sz) || sz < 0) throw new CairnError('InvalidArgument', `chunks[${i}] size must be a non-negative integer`);
    if (typeof crc !== 'number' || !Number.isSafeInteger(crc) || crc < 0 || crc > 0xffffffff) throw new CairnError('InvalidArgument', `chunks[${i}] crc must be an integer in [0, 2^32-1]`);
    return { id, size: sz, crc };
  });
  const out: CommitRequest = { path: p, size, etag, chunks, overwrite: bool(b, 'overwrite'), parents: bool(b, 'parents', true), s: session(b) };
  const ringVersion = optInt(b, 'ringVersion');
  if (ringVersion !== undefined) out.ringVersion = ringVersion;
  const attrs = optAttrs(b);
  if (attrs !== undefined) out.attrs = attrs;
  return out;
}

export function decodePutRequest(raw: unknown): PutRequest {
  const b = body(raw);
  const out: PutRequest = {
    path: path(b, 'path'),
    data: bytes(b, 'data', INLINE_FILE_BYTES_MAX),
    crc: int(b, 'crc', 0, 0xffffffff),
    overwrite: bool(b, 'overwrite'),
    parents: bool(b, 'parents', true),
    s: session(b),
  };
  const attrs = optAttrs(b);
  if (attrs !== undefined) out.attrs = attrs;
  return out;
}

export function decodeOpenRequest(raw: unknown): OpenRequest {
  const b = body(raw);
  return { path: path(b, 'path'), first: optInt(b, 'first') ?? 0, count: optInt(b, 'count', 1, OPEN_CHUNKS_MAX) ?? OPEN_CHUNKS_MAX };
}

export function decodeBadRequest(raw: unknown): BadRequest {
  const b = body(raw);
  return { id: chunkId(b, 'id'), server: str(b, 'server', SERVER_ID_CHARS_MAX) };
}

export function decodeStatLocalRequest(raw: unknown): StatLocalRequest {
  return { paths: strArray(body(raw), 'paths', STAT_LOCAL_PATHS_MAX, (s) => s.length > 0 && s.length <= PATH_BYTES_MAX) };
}

export function decodeRegisterRequest(raw: unknown): RegisterRequest {
  const b = body(raw);
  const addr = str(b, 'addr', ADDR_CHARS_MAX);
  const zone = str(b, 'zone', 64);
  if (!ZONE_RE.test(zone)) throw new CairnError('InvalidArgument', 'zone must match [A-Za-z0-9._-]{1,64}');
  return { addr, zone, capacityBytes: int(b, 'capacityBytes', 0, CAPACITY_BYTES_MAX) };
}

export function decodeHeartbeatRequest(raw: unknown): HeartbeatRequest {
  const b = body(raw);
  const out: HeartbeatRequest = {
    usedBytes: int(b, 'usedBytes'),
    capacityBytes: int(b, 'capacityBytes'),
    freeBytes: int(b, 'freeBytes'),
    chunks: int(b, 'chunks'),
    full: bool(b, 'full'),
    repairIdle: bool(b, 'repairIdle'),
  };
  if (b.copyFailed !== undefined) out.copyFailed = strArray(b, 'copyFailed', COPY_FAILED_IDS_MAX, isChunkId);
  if (b.copiedBytes !== undefined) out.copiedBytes = int(b, 'copiedBytes');
  if (b.diskId !== undefined) out.diskId = str(b, 'diskId', DISK_ID_CHARS_MAX);
  return out;
}

export function decodeReportRequest(raw: unknown): ReportRequest {
  return { report: int(body(raw), 'report') };
}

export function decodeReportPageRequest(raw: unknown): ReportPageRequest {
  const b = body(raw);
  return { report: int(b, 'report'), ids: strArray(b, 'ids', REPORT_PAGE_IDS_MAX, isChunkId) };
}

export function decodeUpdateRequest(raw: unknown): UpdateRequest {
  const b = body(raw);
  return { added: strArray(b, 'added', REPORT_PAGE_IDS_MAX, isChunkId), removed: strArray(b, 'removed', REPORT_PAGE_IDS_MAX, isChunkId) };
}

export function decodeWorkRequest(raw: unknown): WorkRequest {
  return { waitMs: int(body(raw), 'waitMs', 0, WORK_WAIT_MS_MAX) };
}

export function decodeScrubRequest(raw: unknown): ScrubRequest {
  const b = body(raw);
  const out: ScrubRequest = { bytesPerSecMax: optInt(b, 'bytesPerSecMax') ?? 0 };
  const server = optStr(b, 'server', SERVER_ID_CHARS_MAX);
  const timeoutMs = optInt(b, 'timeoutMs', 1, SCRUB_TIMEOUT_MS_MAX);
  if (server !== undefined) out.server = server;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

export function decodeScrubStatusRequest(raw: unknown): ScrubStatusRequest {
  const round = optStr(body(raw), 'round', SCRUB_ROUND_CHARS_MAX);
  return round === undefined ? {} : { round };
}

export function decodeScrubReportRequest(raw: unknown): ScrubReportRequest {
  const b = body(raw);
  return {
    round: str(b, 'round', SCRUB_ROUND_CHARS_MAX),
    page: int(b, 'page', 1),
    verified: strArray(b, 'verified', REPORT_PAGE_IDS_MAX, isChunkId),
    corrupt: strArray(b, 'corrupt', REPORT_PAGE_IDS_MAX, isChunkId),
    done: bool(b, 'done'),
  };
}

/** Every method's decoder. */
export const META_REQUEST_DECODERS: { readonly [M in MetaMethod]: MetaRequestDecoder<M> } = {
  'fs.stat': decodeStatRequest,
  'fs.list': decodeListRequest,
  'fs.walk': decodeListRequest,
  'fs.mkdir': decodeMkdirRequest,
  'fs.rm': decodeRmRequest,
  'fs.mv': decodeMvRequest,
  'fs.copy': decodeCopyRequest,
  'fs.concat': decodeConcatRequest,
  'fs.view': decodeEmptyRequest,
  'fs.alloc': decodeAllocRequest,
  'fs.retarget': decodeRetargetRequest,
  'fs.commit': decodeCommitRequest,
  'fs.put': decodePutRequest,
  'fs.open': decodeOpenRequest,
  'fs.bad': decodeBadRequest,
  'cluster.status': decodeEmptyRequest,
  'fs.statLocal': decodeStatLocalRequest,
  'cs.register': decodeRegisterRequest,
  'cs.heartbeat': decodeHeartbeatRequest,
  'cs.reportBegin': decodeReportRequest,
  'cs.reportPage': decodeReportPageRequest,
  'cs.reportEnd': decodeReportRequest,
  'cs.update': decodeUpdateRequest,
  'cs.work': decodeWorkRequest,
  'raft.status': decodeEmptyRequest,
  'cluster.drain': admin.decodeDrainRequest,
  'cluster.remove': admin.decodeRemoveRequest,
  'cluster.repair': decodeEmptyRequest,
  'cluster.scrub': decodeScrubRequest,
  'cluster.scrubStatus': decodeScrubStatusRequest,
  'cs.scrubReport': decodeScrubReportRequest, ...BACKUP_REQUEST_DECODERS,
  'meta.add': admin.decodeMetaAddRequest,
  'meta.remove': admin.decodeMetaRemoveRequest,
  'meta.transferLeader': admin.decodeMetaTransferRequest,
};

export function isMetaMethod(method: string): method is MetaMethod {
  return Object.hasOwn(META_REQUEST_DECODERS, method);
}

// ---- field helpers ------------------------------------------------------------------------------

function chunkId(b: Body, field: string): string {
  const v = b[field];
  if (!isChunkId(v)) throw new CairnError('InvalidArgument', `${field} must be a chunk id (32 lowercase hex digits)`);
  return v;
}

function excludeList(b: Body): string[] {
  return strArray(b, 'exclude', EXCLUDE_SERVERS_MAX, (s) => s.length <= SERVER_ID_CHARS_MAX);
}

/**
 * Operator requests (client token), served by the leader: chunk-server decommissioning
 * (leader/cluster-admin.ts: cluster.drain {id}, cluster.remove {id, force?}) and the
 * metadata group's membership (leader/meta-membership.ts):
 *
 *   meta.add {id, addr}     → {}  add a metadata server as a learner; the leader promotes it to
 *                                 voter once its log is within learnerCatchUpEntriesMax entries
 *   meta.remove {id}        → {}  remove a metadata server (voter or learner)
 *   meta.transferLeader {id?} → {leader}  hand leadership to `id` (absent: the most caught-up
 *                                 voter); resolves once the new leader is known
 */
import { parseHostPort, parseNodeId, formatHostPort } from './addr.js';
import { body, bool, optStr, str } from './fields.js';
import { CairnError } from '../util/errors.js';

/** Longest chunk-server id (as meta-requests' SERVER_ID_CHARS_MAX). */
const SERVER_ID_CHARS_MAX = 64;
const MEMBER_ID_CHARS_MAX = 64;
const MEMBER_ADDR_CHARS_MAX = 300;

/** cluster.drain */
export interface DrainRequest {
  id: string;
}

/** cluster.remove */
export interface RemoveRequest {
  id: string;
  /** Optional on the wire, default false. */
  force: boolean;
}

export interface MetaAddRequest {
  id: string;
  /** host:port, normalised. */
  addr: string;
}

export interface MetaRemoveRequest {
  id: string;
}

export interface MetaTransferRequest {
  /** Absent: the most caught-up voter. */
  id?: string;
}

export function decodeDrainRequest(raw: unknown): DrainRequest {
  return { id: str(body(raw), 'id', SERVER_ID_CHARS_MAX) };
}

export function decodeRemoveRequest(raw: unknown): RemoveRequest {
  const b = body(raw);
  return { id: str(b, 'id', SERVER_ID_CHARS_MAX), force: bool(b, 'force') };
}

export function decodeMetaAddRequest(raw: unknown): MetaAddRequest {
  const b = body(raw);
  const addr = str(b, 'addr', MEMBER_ADDR_CHARS_MAX);
  let hp;
  try {
    hp = parseHostPort(addr);
  } catch {
    throw new CairnError('InvalidArgument', `addr must be host:port: ${JSON.stringify(addr)}`);
  }
  return { id: memberId(str(b, 'id', MEMBER_ID_CHARS_MAX)), addr: formatHostPort(hp) };
}

export function decodeMetaRemoveRequest(raw: unknown): MetaRemoveRequest {
  return { id: memberId(str(body(raw), 'id', MEMBER_ID_CHARS_MAX)) };
}

export function decodeMetaTransferRequest(raw: unknown): MetaTransferRequest {
  const id = optStr(body(raw), 'id', MEMBER_ID_CHARS_MAX);
  return id === undefined ? {} : { id: memberId(id) };
}

function memberId(s: string): string {
  return parseNodeId(s, 'id');
}

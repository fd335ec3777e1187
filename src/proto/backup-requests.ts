/**
 * The backup RPC (`cairn backup`): the leader opens a consistent read view of the whole
 * metadata state (namespace, cluster map, sessions) at one applied index and hands it out in
 * pieces, so neither side ever holds the whole state in memory.
 *
 *   cluster.backupOpen  {}                → {cursor, clusterId, index, term, members}
 *   cluster.backupNext  {cursor, seq}     → {piece: bytes | null}   null: the image is complete
 *   cluster.backupClose {cursor}          → {}
 *
 * `seq` numbers the pieces from 1: asking for the last piece's seq again returns that piece
 * again (an answer lost on the way is asked again), seq + 1 returns the next one, anything
 * else is InvalidArgument. A cursor unknown to the server (expired, closed, another leader) is
 * NotFound. A piece is the msgpack array of [key, value] pairs of consensus/kv-snapshot.ts.
 *
 * Request types and decoders, then answer types and decoders (the client's side).
 */
import { At } from './answer-reader.js';
import { body, int, str } from './fields.js';

export const BACKUP_METHODS = ['cluster.backupOpen', 'cluster.backupNext', 'cluster.backupClose'] as const;

/** Longest backup cursor. */
export const BACKUP_CURSOR_CHARS_MAX = 64;

export interface BackupNextRequest {
  cursor: string;
  seq: number;
}

export interface BackupCloseRequest {
  cursor: string;
}

export interface BackupRequests {
  'cluster.backupOpen': Record<string, never>;
  'cluster.backupNext': BackupNextRequest;
  'cluster.backupClose': BackupCloseRequest;
}

export const BACKUP_REQUEST_DECODERS = {
  'cluster.backupOpen': (raw: unknown): Record<string, never> => {
    body(raw);
    return {};
  },
  'cluster.backupNext': (raw: unknown): BackupNextRequest => {
    const b = body(raw);
    return { cursor: str(b, 'cursor', BACKUP_CURSOR_CHARS_MAX), seq: int(b, 'seq', 1) };
  },
  'cluster.backupClose': (raw: unknown): BackupCloseRequest => ({ cursor: str(body(raw), 'cursor', BACKUP_CURSOR_CHARS_MAX) }),
};

/** What a backup file's header records about the image. */
export interface BackupImageInfo {
  /** Identifies the cluster the image comes from (derived from its cluster secret, not secret itself). */
  clusterId: string;
  /** The applied index the image is the state at. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** The metadata group's voters at `index` (ids). */
  members: string[];
}

export interface BackupOpenAnswer extends BackupImageInfo {
  cursor: string;
}

export interface BackupAnswers {
  'cluster.backupOpen': BackupOpenAnswer;
  'cluster.backupNext': { piece: Uint8Array | null };
  'cluster.backupClose': Record<string, never>;
}

export function decodeBackupOpen(v: unknown): BackupOpenAnswer {
  const a = new At('cluster.backupOpen');
  const o = a.map(v);
  const members = o.members;
  if (!Array.isArray(members) || members.some((m) => typeof m !== 'string')) a.fail('members', 'an array of ids');
  return { cursor: a.str(o, 'cursor'), clusterId: a.str(o, 'clusterId'), index: a.count(o, 'index'), term: a.count(o, 'term'), members: members as string[] };
}

export function decodeBackupNext(v: unknown): { piece: Uint8Array | null } {
  const a = new At('cluster.backupNext');
  const p = a.map(v).piece;
  if (p === null || p === undefined) return { piece: null };
  if (!(p instanceof Uint8Array)) return a.fail('piece', 'bytes or null');
  return { piece: p };
}

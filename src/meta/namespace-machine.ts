/**
 * The metadata state machine's apply step for one decoded command: exactly-once by
 * (client, seq) (session.ts), then the namespace operation; or a cluster-map change
 * (cluster-map.ts, no session). Pure and deterministic: the same commands in the same order
 * give the same state and outcomes on every replica.
 *
 * Outcomes are plain data: { ok: true } or { ok: false, code, message }; only programmer errors
 * and a corrupt store throw (which aborts the whole batch).
 */
import { isCairnError } from '../util/errors.js';
import { applyClusterCommand } from './cluster-map.js';
import type { MetaCommand, SessionCommand } from './meta-command.js';
import type { MetaTxn } from './namespace-keys.js';
import { commitFile, mkdir, remove, removeFileInode, rename, type Outcome } from './namespace.js';
import { purgeTrash } from './namespace-trash.js';
import { copyFile } from './namespace-copy.js';
import { concatFiles } from './namespace-concat.js';
import { parsePath } from '../proto/path.js';
import { SESSIONS_MAX_DEFAULT, SESSION_WINDOW_MAX_DEFAULT, applyOnce, type SessionLimits } from './session.js';

export type MetaResult = Outcome;

export const DEFAULT_SESSION_LIMITS: SessionLimits = { windowMax: SESSION_WINDOW_MAX_DEFAULT, sessionsMax: SESSIONS_MAX_DEFAULT };

export function applyMetaCommand(txn: MetaTxn, cmd: MetaCommand, limits: SessionLimits = DEFAULT_SESSION_LIMITS): MetaResult {
  if (cmd.op === 'cluster') return applyClusterCommand(txn, cmd.cluster);
  if (cmd.op === 'purgeTrash') {
    purgeTrash(txn, cmd.entries, removeFileInode);
    return { ok: true };
  }
  return applyOnce(txn, cmd.session, cmd.nowMs, limits, (): MetaResult => {
    // Paths were validated by the decoder; parsing again is cheap and keeps this callable directly.
    try {
      return dispatch(txn, cmd);
    } catch (err) {
      if (isCairnError(err, 'InvalidPath')) return { ok: false, code: err.code, message: err.message };
      throw err;
    }
  });
}

function dispatch(txn: MetaTxn, cmd: SessionCommand): MetaResult {
  switch (cmd.op) {
    case 'mkdir':
      return mkdir(txn, parsePath(cmd.path), cmd.parents, cmd.nowMs);
    case 'commitFile':
      // A client claims only chunks no other file holds (copies share theirs on purpose).
      return commitFile(txn, parsePath(cmd.path), cmd.file, cmd.overwrite, cmd.createParents, cmd.nowMs, undefined, true);
    case 'putInline': {
      const file = { size: cmd.data.length, etag: cmd.etag, chunks: [], inline: { data: cmd.data, crc: cmd.crc }, ...(cmd.attrs ? { attrs: cmd.attrs } : {}) };
      return commitFile(txn, parsePath(cmd.path), file, cmd.overwrite, cmd.createParents, cmd.nowMs, cmd.inlineTotalBytesMax);
    }
    case 'copyFile':
      return copyFile(txn, parsePath(cmd.from), parsePath(cmd.to), cmd.overwrite, cmd.createParents, cmd.nowMs, cmd.inlineTotalBytesMax);
    case 'concatFiles': {
      const o = { etag: cmd.etag, overwrite: cmd.overwrite, createParents: cmd.createParents, mtime: cmd.nowMs, ...(cmd.attrs ? { attrs: cmd.attrs } : {}) };
      return concatFiles(txn, parsePath(cmd.dir), cmd.sources, parsePath(cmd.to), o);
    }
    case 'delete':
      return remove(txn, parsePath(cmd.path), cmd.recursive, cmd.nowMs);
    case 'rename':
      return rename(txn, parsePath(cmd.from), parsePath(cmd.to), cmd.nowMs);
  }
}

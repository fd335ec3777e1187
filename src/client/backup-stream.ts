/**
 * The client's side of `cairn backup` (proto/backup-requests.ts): open an image on the leader,
 * read it piece by piece into `sink` (which may take its time: the next piece is asked for only
 * after the sink is done with the last), and close it whatever happens. Each call is a read
 * (retried): a repeated piece request is answered with the same piece.
 */
import { decodeBackupNext, decodeBackupOpen, type BackupImageInfo } from '../proto/backup-requests.js';
import { decodeEmpty } from '../proto/meta-answers.js';
import type { ClientCore } from './client-core.js';

export interface BackupSink {
  /** The image's identity, before any piece. */
  info(info: BackupImageInfo): Promise<void>;
  piece(piece: Uint8Array): Promise<void>;
}

export async function streamBackup(core: Pick<ClientCore, 'read'>, sink: BackupSink): Promise<BackupImageInfo> {
  const { cursor, ...info } = await core.read('cluster.backupOpen', {}, decodeBackupOpen);
  try {
    await sink.info(info);
    for (let seq = 1; ; seq++) {
      const { piece } = await core.read('cluster.backupNext', { cursor, seq }, decodeBackupNext);
      if (piece === null) break;
      await sink.piece(piece);
    }
  } finally {
    await core.read('cluster.backupClose', { cursor }, (a) => decodeEmpty(a, 'cluster.backupClose')).catch(() => undefined);
  }
  return info;
}

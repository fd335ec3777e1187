/**
 * Images for `cairn backup` (leader/backup-calls.ts): the state machine's consistent read view
 * with what a restore needs to know about it — the term of the entry at its index and the
 * group's voters then (from the Raft log) — and the cluster's id.
 */
import { createHmac } from 'node:crypto';
import type { RaftLogStore } from '../raft/types.js';
import type { BackupImageInfo } from '../proto/backup-requests.js';
import { confAt } from './snapshot-streams.js';
import type { SnapshotReader } from './snapshot-transfer.js';

export interface BackupSourceComponents {
  stateMachine: { openSnapshot(): Promise<SnapshotReader> };
  storage: RaftLogStore;
  /** The current term: stands in for the image's entry term when the log no longer holds it. */
  currentTerm(): number;
}

/**
 * A stable, public name for the cluster: derived from its secret (every server of one cluster
 * computes the same), revealing nothing about the secret.
 */
export function clusterIdOf(clusterSecret: Uint8Array): string {
  return createHmac('sha256', clusterSecret).update('cairn cluster id').digest('hex').slice(0, 16);
}

export function backupSource(c: BackupSourceComponents, o: { clusterId: string }) {
  return {
    async open(): Promise<{ reader: SnapshotReader; info: BackupImageInfo }> {
      const reader = await c.stateMachine.openSnapshot();
      try {
        const index = reader.index;
        let term: number;
        try {
          term = c.storage.term(index);
        } catch {
          // Compacted past the image since it was taken: any term at least as new serves a restore.
          term = c.currentTerm();
        }
        return { reader, info: { clusterId: o.clusterId, index, term, members: confAt(c.storage, index).voters } };
      } catch (err) {
        reader.close();
        throw err;
      }
    },
  };
}

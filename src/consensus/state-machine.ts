/**
 * The contract between the Raft runtime (raft-runtime.ts) and a replicated state machine: the
 * namespace machine (meta-state-machine.ts over store-state-machine.ts) in production, small
 * key-value machines in tests. The runtime applies committed entries through it in order, asks it
 * to flush before compacting the log, and moves snapshots in and out of it.
 */
import type { Entry, NodeId } from '../raft/types.js';
import type { SnapshotReader, SnapshotWriter } from './snapshot-transfer.js';

/** A replicated state machine. Its state and applied index change together, atomically. */
export interface StateMachine {
  /** Index of the last entry applied (durably, or re-applied from the log after a crash). */
  appliedIndex(): number;
  /**
   * Apply committed entries, in index order, each exactly once. Leader no-ops (empty Normal
   * entries) and ConfChange entries carry no command but still advance the applied index.
   * Resolves with one result per entry (undefined for entries without a command).
   */
  apply(entries: Entry[]): Promise<unknown[]>;
  /** Resolve once everything applied so far is durable (the log is compacted behind it next). */
  flush(): Promise<void>;
  /** A consistent read view of the whole state at its applied index (sent to lagging followers). */
  openSnapshot(): Promise<SnapshotReader>;
  /** Start receiving an image into staging; a newer writer supersedes an older one. */
  beginSnapshotWrite(): SnapshotWriter;
  /** Index of an image finished in staging and not yet installed, or 0. */
  stagedSnapshotIndex(): number;
  /** Atomically replace the live state by the staged image finished at `index` (durable on return). */
  installSnapshot(index: number): Promise<void>;
  /** Member addresses the state remembers (from applied ConfChanges: they outlive compaction); optional. */
  memberAddrs?(): Map<NodeId, string>;
}

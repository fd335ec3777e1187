/**
 * The part every state machine kept in a key-value state store shares: a batch of committed
 * entries applies in ONE store transaction that also records the applied index (so after any
 * crash the state and its applied index agree and the runtime resumes exactly there), and
 * snapshots are the store itself — flushed before compaction, read from a consistent view and
 * streamed in pieces, received into staging and swapped in atomically (kv-snapshot.ts).
 * Subclasses say how one command applies.
 */
import { EntryType, type Entry } from '../raft/types.js';
import { pairSnapshotReader, pairSnapshotWriter, type SnapshotStore } from './kv-snapshot.js';
import type { StateMachine } from './state-machine.js';
import type { SnapshotReader, SnapshotWriter } from './snapshot-transfer.js';

export interface BatchStore<Txn> extends SnapshotStore {
  appliedIndex(): number;
  /** Run `fn` in one write transaction that also sets the applied index to `index`. */
  applyBatch(index: number, fn: (txn: Txn) => void): Promise<void>;
}

export abstract class StoreStateMachine<Txn> implements StateMachine {
  constructor(protected readonly store: BatchStore<Txn>) {}

  /**
   * Decode and apply one command inside the batch's transaction; returns its result. A command
   * that fails to decode must still apply deterministically (as a no-op with an error result).
   */
  protected abstract applyCommand(txn: Txn, data: Uint8Array): unknown;

  /** Record what an applied ConfChange entry (`data`: its encoding) means for the state; by default nothing. */
  protected applyConfChange(_txn: Txn, _data: Uint8Array): void {}

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  /** One result per entry: the command's result, undefined for leader no-ops and ConfChanges. */
  async apply(entries: Entry[]): Promise<unknown[]> {
    const results: unknown[] = new Array<unknown>(entries.length).fill(undefined);
    const last = entries[entries.length - 1]!.index;
    await this.store.applyBatch(last, (txn) => {
      entries.forEach((e, i) => {
        if (e.type === EntryType.ConfChange) return this.applyConfChange(txn, e.data);
        if (e.type !== EntryType.Normal || e.data.byteLength === 0) return;
        results[i] = this.applyCommand(txn, e.data);
      });
    });
    return results;
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  async openSnapshot(): Promise<SnapshotReader> {
    return pairSnapshotReader(await this.store.readSnapshot());
  }

  beginSnapshotWrite(): SnapshotWriter {
    return pairSnapshotWriter(this.store.beginStaging());
  }

  stagedSnapshotIndex(): number {
    return this.store.stagedIndex();
  }

  installSnapshot(index: number): Promise<void> {
    return this.store.installStaged(index);
  }
}

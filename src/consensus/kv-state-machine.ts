/**
 * The key-value state machine (src/meta/kv-machine.ts) bound to a durable store: every batch of
 * committed entries is applied in ONE store transaction that also records the applied index, so
 * after any crash the state and its applied index agree and the runtime resumes exactly there.
 */
import { applyKvCommand, decodeKvCommand, readKv, type KvResult, type KvTxn } from '../meta/kv-machine.js';
import { EntryType, type Entry } from '../raft/types.js';
import { isCairnError } from '../util/errors.js';
import { pairSnapshotReader, pairSnapshotWriter, type SnapshotStore } from './kv-snapshot.js';
import type { StateMachine } from './raft-runtime.js';
import type { SnapshotReader, SnapshotWriter } from './snapshot-transfer.js';

/** What the machine needs from durable storage (storage/LmdbStateStore provides it). */
export interface KvStore extends SnapshotStore {
  appliedIndex(): number;
  /** Run `fn` in one write transaction that also sets the applied index to `index`. */
  applyBatch(index: number, fn: (txn: KvTxn) => void): Promise<void>;
  /** Read committed state. */
  get(key: string): Uint8Array | undefined;
}

export class KvStateMachine implements StateMachine {
  constructor(private readonly store: KvStore) {}

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  async apply(entries: Entry[]): Promise<unknown[]> {
    const results: unknown[] = new Array(entries.length).fill(undefined);
    const last = entries[entries.length - 1]!.index;
    await this.store.applyBatch(last, (txn) => {
      entries.forEach((e, i) => {
        if (e.type !== EntryType.Normal || e.data.byteLength === 0) return;
        let cmd;
        try {
          cmd = decodeKvCommand(e.data);
        } catch (err) {
          // Validated before proposing; a bad entry is still applied deterministically as a no-op.
          results[i] = { ok: false, code: isCairnError(err) ? err.code : 'InvalidArgument' };
          return;
        }
        results[i] = applyKvCommand(txn, cmd) satisfies KvResult;
      });
    });
    return results;
  }

  read(key: string): Uint8Array | null {
    return readKv({ get: (k) => this.store.get(k) }, key);
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

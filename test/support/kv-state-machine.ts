/**
 * The key-value state machine (kv-machine.ts) bound to a durable store (the runtime's
 * own test service): batches, applied index and snapshots as in store-state-machine.ts.
 */
import { applyKvCommand, decodeKvCommand, readKv, type KvResult, type KvTxn } from './kv-machine.js';
import { isCairnError } from '../../src/util/errors.js';
import { StoreStateMachine, type BatchStore } from '../../src/consensus/store-state-machine.js';

/** What the machine needs from durable storage (storage/LmdbStateStore and MemoryKvStore provide it). */
export interface KvStore extends BatchStore<KvTxn> {
  /** Read committed state. */
  get(key: string): Uint8Array | undefined;
}

export class KvStateMachine extends StoreStateMachine<KvTxn> {
  constructor(protected override readonly store: KvStore) {
    super(store);
  }

  protected applyCommand(txn: KvTxn, data: Uint8Array): KvResult | { ok: false; code: string } {
    let cmd;
    try {
      cmd = decodeKvCommand(data);
    } catch (err) {
      // Validated before proposing; a bad entry is still applied deterministically as a no-op.
      return { ok: false, code: isCairnError(err) ? err.code : 'InvalidArgument' };
    }
    return applyKvCommand(txn, cmd);
  }

  read(key: string): Uint8Array | null {
    return readKv({ get: (k) => this.store.get(k) }, key);
  }
}

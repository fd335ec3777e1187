/**
 * The metadata state machine (src/meta: namespace + exactly-once sessions) bound to a durable
 * ordered key-value store: every batch of committed entries is applied in ONE store transaction
 * that also records the applied index, so after any crash the state and its applied index agree
 * and the runtime resumes exactly there. A snapshot is a consistent read view of that store,
 * streamed in pieces (kv-snapshot.ts) and installed atomically on the follower.
 *
 * Reads (stat, list, walk) see committed state; the caller makes them linearizable (ReadIndex)
 * before asking.
 */
import { decodeMetaCommand } from '../meta/meta-command.js';
import type { MetaReadView, MetaTxn } from '../meta/namespace-keys.js';
import { DEFAULT_SESSION_LIMITS, applyMetaCommand, type MetaResult } from '../meta/namespace-machine.js';
import { list, stat, walk, type ListEntry, type Outcome, type PageOptions, type StatInfo, type WalkEntry } from '../meta/namespace.js';
import { parsePath } from '../meta/path.js';
import type { SessionLimits } from '../meta/session.js';
import { EntryType, type Entry } from '../raft/types.js';
import { isCairnError } from '../util/errors.js';
import { pairSnapshotReader, pairSnapshotWriter, type SnapshotStore } from './kv-snapshot.js';
import type { StateMachine } from './raft-runtime.js';
import type { SnapshotReader, SnapshotWriter } from './snapshot-transfer.js';

/** What the machine needs from durable storage (storage/LmdbStateStore and MemoryKvStore provide it). */
export interface MetaStore extends SnapshotStore, MetaReadView {
  appliedIndex(): number;
  /** Run `fn` in one write transaction (with ordered range reads) that also sets the applied index to `index`. */
  applyBatch(index: number, fn: (txn: MetaTxn) => void): Promise<void>;
}

export class MetaStateMachine implements StateMachine {
  private readonly limits: SessionLimits;
  private readonly view: MetaReadView;

  /** `limits` must be the same on every replica (they decide outcomes). */
  constructor(
    private readonly store: MetaStore,
    limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {
    this.limits = limits;
    this.view = { get: (k) => store.get(k), range: (s, e, l) => store.range(s, e, l) };
  }

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  /** One result per entry: a MetaResult for each command entry, undefined for no-ops and ConfChanges. */
  async apply(entries: Entry[]): Promise<unknown[]> {
    const results: Array<MetaResult | undefined> = new Array<MetaResult | undefined>(entries.length).fill(undefined);
    const last = entries[entries.length - 1]!.index;
    await this.store.applyBatch(last, (txn) => {
      entries.forEach((e, i) => {
        if (e.type !== EntryType.Normal || e.data.byteLength === 0) return;
        let cmd;
        try {
          cmd = decodeMetaCommand(e.data);
        } catch (err) {
          // The leader validates before proposing; a bad entry is still applied deterministically as a no-op.
          results[i] = isCairnError(err)
            ? { ok: false, code: err.code, message: err.message }
            : { ok: false, code: 'InvalidArgument', message: 'meta command: undecodable' };
          return;
        }
        results[i] = applyMetaCommand(txn, cmd, this.limits);
      });
    });
    return results;
  }

  stat(path: string): Outcome<{ stat: StatInfo }> {
    return withPath(path, (segs) => stat(this.view, segs));
  }

  list(path: string, options: PageOptions = {}): Outcome<{ entries: ListEntry[]; cursor: string | null }> {
    return withPath(path, (segs) => list(this.view, segs, options));
  }

  walk(path: string, options: PageOptions = {}): Outcome<{ entries: WalkEntry[]; cursor: string | null }> {
    return withPath(path, (segs) => walk(this.view, segs, options));
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

function withPath<T extends object>(path: string, fn: (segs: string[]) => Outcome<T>): Outcome<T> {
  let segs: string[];
  try {
    segs = parsePath(path);
  } catch (err) {
    if (isCairnError(err)) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
  return fn(segs);
}

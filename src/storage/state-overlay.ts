/**
 * The writes of applied batches on their way to LMDB (storage/lmdb-state-store.ts, whose file
 * comment gives the durability argument). Each batch's writes are laid over the committed state
 * at once ("unsettled": reads look here first) and merged into the pending group, which goes to
 * LMDB as ONE transaction (its applied index the last merged batch's) once no transaction of ours
 * is under way and the linger has passed: at least `lingerMs` since the last one started.
 *
 * Each LMDB transaction costs the same hand-off to lmdb-js's write thread, the same commit and
 * fsync, and rewrites every page it touches however many commands it carries: the hot pages (a
 * directory's newest entries, the inode counter, session records) are written once per
 * transaction, not once per command. Nothing waits for the linger but LMDB: the writes are
 * visible through the overlay at once, and the Raft log holds them durably. A group past
 * GROUP_KEYS_MAX / GROUP_BYTES_MAX, or any caller that needs LMDB to hold everything
 * (allCommitted), cuts the linger short. A key leaves the overlay once the group that wrote it
 * last has committed.
 */
import type { Clock, Timers } from '../env/clock.js';
import { compareKeys, lowerBound, mergeStaged } from './ordered-keys.js';

/**
 * Bounds on the overlay: past either, the store hands what is pending to LMDB at once and waits
 * until it has committed (mustWait). Batches share transactions, so these bound memory, not the
 * transactions.
 */
const UNSETTLED_BATCHES_MAX = 4096;
const UNSETTLED_BYTES_MAX = 64 * 1024 * 1024;
/** A pending group this large goes to LMDB without waiting out the linger. */
const GROUP_KEYS_MAX = 4096;
const GROUP_BYTES_MAX = 8 * 1024 * 1024;

/** One LMDB transaction: write or delete (null) each key, record `index` as applied. */
export type CommitGroup = (writes: Map<string, Uint8Array | null>, index: number) => Promise<unknown>;

/** Applied batches' writes merged into one LMDB transaction. */
interface WriteGroup {
  /** The newest write per key (null: delete). */
  writes: Map<string, Uint8Array | null>;
  /** Applied index the group records: its last batch's. */
  index: number;
  /** Tags the group's keys in the unsettled overlay. */
  seq: number;
  /** Bytes of the group's keys and values (as staged; a key written twice counts twice). */
  bytes: number;
  committed: Promise<void>;
  done: () => void;
}

export class StateOverlay {
  /**
   * Writes of batches not yet committed in LMDB (a null is a delete), the newest per key, with
   * the group that wrote each. Keys sorted on demand.
   */
  private readonly unsettled = new Map<string, Uint8Array | null>();
  private readonly unsettledSeq = new Map<string, number>();
  private unsettledKeys: string[] | null = null;
  private groupSeq = 0;
  private unsettledBatches = 0;
  /** Bytes of the batches counted in unsettledBatches. */
  private unsettledBytes = 0;
  /** When the last LMDB transaction of ours started (clock ms). */
  private lastStartMs = Number.NEGATIVE_INFINITY;
  /** The pending group waits out the linger on this timer. */
  private lingerTimer: { cancel(): void } | null = null;
  /** Callers waiting for every queued batch to commit: while any wait, nothing lingers. */
  private hurry = 0;
  /** Writes of applied batches not yet handed to LMDB. */
  private pending: WriteGroup | null = null;
  /** A transaction of ours is under way (queued to lmdb-js, not yet committed). */
  private writing = false;
  /** Settles once every batch queued so far has committed (or failed: see error). */
  private inflight: Promise<void> = Promise.resolve();
  /** A group failed to commit: every later write fails with this (the server must stop). */
  error: Error | null = null;
  /** How many LMDB transactions applied batches went to (tests check they share them). */
  transactions = 0;

  constructor(
    private readonly commit: CommitGroup,
    private readonly lingerMs: number,
    private readonly clock: Clock,
    private readonly timers: Timers,
  ) {}

  /** The unsettled write of `key`: bytes, null (deleted), or undefined (not in the overlay). */
  lookup(key: string): Uint8Array | null | undefined {
    return this.unsettled.get(key);
  }

  get empty(): boolean {
    return this.unsettled.size === 0;
  }

  /** Past its bounds: the next batch waits for allCommitted() (LMDB fell behind). */
  mustWait(): boolean {
    return this.unsettledBatches >= UNSETTLED_BATCHES_MAX || this.unsettledBytes >= UNSETTLED_BYTES_MAX;
  }

  /** `committed` (LMDB pairs in [start, end), key order) with the unsettled writes laid over it. */
  over(committed: IterableIterator<[string, Uint8Array]>, start?: string, end?: string): IterableIterator<[string, Uint8Array]> {
    if (this.unsettled.size === 0) return committed;
    if (this.unsettledKeys === null) this.unsettledKeys = [...this.unsettled.keys()].sort(compareKeys);
    const keys = this.unsettledKeys;
    const lo = start === undefined ? 0 : lowerBound(keys, start);
    const hi = end === undefined ? keys.length : lowerBound(keys, end);
    // A copy of the map: a batch settling while the reader iterates must not change what it sees.
    const over = new Map<string, Uint8Array | null>();
    for (let i = lo; i < hi; i++) over.set(keys[i]!, this.unsettled.get(keys[i]!)!);
    return mergeStaged(committed, over.keys(), over, Number.POSITIVE_INFINITY);
  }

  /** Lay one applied batch's writes over the committed state and queue them (see the file comment). */
  queue(staged: Map<string, Uint8Array | null>, index: number): void {
    let bytes = 0;
    for (const [k, v] of staged) bytes += k.length + (v === null ? 0 : v.length);
    let g = this.pending;
    if (g === null) {
      let done!: () => void;
      const committed = new Promise<void>((resolve) => (done = resolve));
      g = this.pending = { writes: new Map(), index, seq: ++this.groupSeq, bytes: 0, committed, done };
    }
    g.bytes += bytes;
    for (const [k, v] of staged) {
      g.writes.set(k, v);
      this.unsettled.set(k, v);
      this.unsettledSeq.set(k, g.seq);
    }
    if (staged.size > 0) this.unsettledKeys = null;
    g.index = index;
    this.unsettledBatches++;
    this.unsettledBytes += bytes;
    const settled = g.committed.then(() => {
      this.unsettledBatches--;
      this.unsettledBytes -= bytes;
    });
    this.inflight = this.inflight.then(() => settled);
    this.scheduleWrite();
  }

  /** Resolves once every batch queued so far has committed in LMDB (or failed), lingering for none. */
  async allCommitted(): Promise<void> {
    this.hurry++;
    try {
      this.scheduleWrite();
      await this.inflight;
    } finally {
      this.hurry--;
    }
  }

  /** Start the pending group's transaction now, or once the linger has passed. */
  private scheduleWrite(): void {
    const g = this.pending;
    if (g === null || this.writing) return;
    const wait = this.lastStartMs + this.lingerMs - this.clock.nowMs();
    if (wait <= 0 || this.hurry > 0 || g.writes.size >= GROUP_KEYS_MAX || g.bytes >= GROUP_BYTES_MAX) {
      this.writeGroup();
      return;
    }
    this.lingerTimer ??= this.timers.setTimeout(() => {
      this.lingerTimer = null;
      this.scheduleWrite();
    }, wait);
  }

  /** Hand the pending group to LMDB as one transaction; the next group follows once it has committed. */
  private writeGroup(): void {
    const g = this.pending;
    if (g === null) return;
    this.pending = null;
    this.lingerTimer?.cancel();
    this.lingerTimer = null;
    if (this.error) return g.done();
    this.writing = true;
    this.lastStartMs = this.clock.nowMs();
    this.transactions++;
    // A throw (not a rejection) fails the group the same way: from the linger's timer it would
    // otherwise crash the process, and `writing` would stay set with every waiter hung.
    let committed: Promise<unknown>;
    try {
      committed = this.commit(g.writes, g.index);
    } catch (err) {
      committed = Promise.reject(err);
    }
    committed.then(
      () => {
        for (const k of g.writes.keys()) {
          if (this.unsettledSeq.get(k) !== g.seq) continue;
          this.unsettled.delete(k);
          this.unsettledSeq.delete(k);
          this.unsettledKeys = null;
        }
        this.groupDone(g);
      },
      (err: unknown) => {
        this.error ??= err instanceof Error ? err : new Error(String(err));
        this.groupDone(g);
      },
    );
  }

  private groupDone(g: WriteGroup): void {
    this.writing = false;
    g.done();
    this.scheduleWrite();
  }
}

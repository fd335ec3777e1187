/**
 * The leader's view of one follower's log (etcd-io/raft tracker.Progress), plus the Inflights
 * ring that bounds pipelining.
 *
 * States:
 *  - probe:     we do not know where the follower's log matches ours; send at most one MsgApp
 *               and wait for its answer (or a heartbeat response) before sending another.
 *  - replicate: the follower is known to match up to `match`; stream MsgApp optimistically
 *               (next = last sent + 1), at most inflightMsgsMax unacknowledged at a time.
 *  - snapshot:  the entries it needs were compacted; a snapshot is on its way. Send nothing
 *               until it is acknowledged (app-resp at or past pendingSnapshot) or reported.
 */
import { assert } from '../util/assert.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Fixed-capacity FIFO of the last indexes of in-flight MsgApp, in increasing order. */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(capacity >= 1, 'inflights capacity must be >= 1');
    this.buf = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  /** Record a MsgApp whose last entry is `index` (must exceed every index already recorded). */
  add(index: number): void {
    assert(!this.full(), 'inflights full');
    this.buf[(this.start + this.count) % this.capacity] = index;
    this.count++;
  }

  /** Forget every in-flight message whose last index is <= index (they were acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.buf[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Snapshot index being sent while in snapshot state. */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state without an answer (the leader retries after a while). */
  snapshotTicks = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Probe state: a MsgApp was sent and not yet answered. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(next: number, inflightMsgsMax: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightMsgsMax);
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower is known to have at least the snapshot.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapIndex;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** An app-resp accepted up to n. Returns true if match moved forward. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected a MsgApp at `rejected`; `hint` is the highest index at which our logs
   * may match (already mapped through the leader's findConflictByTerm). Returns false when the
   * rejection is stale (answers a message sent before a later change of `next`).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending MsgApp to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Record that a MsgApp with entries up to lastIndex (or none, when lastIndex is null) was sent. */
  sentEntries(lastIndex: number | null): void {
    if (this.state === 'replicate') {
      if (lastIndex !== null) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}

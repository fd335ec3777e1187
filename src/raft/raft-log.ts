/**
 * The node's log: the driver's durable storage (read-only here) plus the in-memory unstable part
 * not yet acknowledged as durable (etcd-io/raft raftLog + unstable).
 *
 * Layout, in index order:
 *   storage: [storage.firstIndex(), offset)   durable (storage may still hold a stale suffix
 *                                             at >= offset that the next save overwrites)
 *   unstable.snapshot (optional)              received from the leader, not yet installed
 *   unstable.entries: [offset, lastIndex]     appended, not yet durable
 *
 * `offsetInProgress` / `snapshotInProgress` mark what was already handed to the driver in a
 * Ready and must not be handed out twice; stableTo/stableSnapTo (from advance) drop them.
 */
import { assert } from '../util/assert.js';
import { RaftCompactedError, RaftUnavailableError, type Entry, type RaftStorage, type Snapshot } from './types.js';

export function entryBytes(e: Entry): number {
  return e.data.byteLength;
}

/** Keep entries while their total data size stays within maxBytes; always keep the first. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entryBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export class RaftLog {
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed to the driver in Ready.committedEntries (or covered by a snapshot handed out). */
  applying: number;
  /** Highest index the driver acknowledged as applied (advance). */
  applied: number;

  private offset: number;
  private entries: Entry[] = [];
  private offsetInProgress: number;
  private snapshot: Snapshot | null = null;
  private snapshotInProgress = false;

  constructor(
    readonly storage: RaftStorage,
    committed: number,
    applied: number,
  ) {
    this.offset = storage.lastIndex() + 1;
    this.offsetInProgress = this.offset;
    this.committed = committed;
    this.applied = applied;
    this.applying = applied;
  }

  firstIndex(): number {
    if (this.snapshot) return this.snapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot) return this.snapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Last index that is durable AND part of this log (what a leader may count for itself). */
  stableLastIndex(): number {
    if (this.snapshot) return 0;
    if (this.entries.length > 0) return this.offset - 1;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /**
   * Term of the entry at i, or null when unknown (compacted below firstIndex()-1, or past the
   * end). Index 0 has term 0.
   */
  term(i: number): number | null {
    if (i === 0) return 0;
    if (i >= this.offset) {
      const e = this.entries[i - this.offset];
      return e ? e.term : null;
    }
    if (this.snapshot) {
      return i === this.snapshot.meta.index ? this.snapshot.meta.term : null;
    }
    if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return null;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof RaftCompactedError || e instanceof RaftUnavailableError) return null;
      throw e;
    }
  }

  matchTerm(i: number, term: number): boolean {
    const t = this.term(i);
    return t !== null && t === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours — last term first, then index. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) limited to maxBytes (at least one when lo < hi). Throws RaftCompactedError
   * if lo < firstIndex(). hi is clamped to lastIndex()+1.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    hi = Math.min(hi, this.lastIndex() + 1);
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new RaftCompactedError(`index ${lo} compacted (first ${this.firstIndex()})`);
    let out: Entry[] = [];
    if (lo < this.offset) {
      const storageHi = Math.min(hi, this.offset);
      out = this.storage.entries(lo, storageHi, maxBytes);
      if (out.length < storageHi - lo) return limitSize(out, maxBytes);
    }
    if (hi > this.offset) {
      const from = Math.max(lo, this.offset);
      const part = this.entries.slice(from - this.offset, hi - this.offset);
      out = out.length > 0 ? out.concat(part) : part;
    }
    return limitSize(out, maxBytes);
  }

  /**
   * Largest index <= index whose term is <= term, with that term (etcd findConflictByTerm):
   * where two logs may agree, for fast backtracking. [0, 0] if none; [i, 0] if i is compacted.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      if (t === null) return [i, 0];
      if (t <= term) return [i, t];
    }
    return [0, 0];
  }

  /** Index of the first entry of ents that is not in our log with the same term, or 0 if all are. */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Follower side of AppendEntries (Raft §5.3). Returns the index of the last new entry and the
   * entries really appended (after a possible truncation), or null when the log does not contain
   * prevIndex with prevTerm. Does not move the commit index (the caller does, to see it move).
   */
  maybeAppend(prevIndex: number, prevTerm: number, ents: Entry[]): { lastNew: number; appended: Entry[] } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    let appended: Entry[] = [];
    if (ci !== 0) {
      // Entries at or below commit never conflict with a legitimate leader (Raft §5.4 Leader Completeness).
      assert(ci > this.committed, `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      appended = ents.slice(ci - prevIndex - 1);
      this.append(appended);
    }
    return { lastNew, appended };
  }

  /** Append (truncating any conflicting suffix from ents[0].index on). Returns the new last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index;
    assert(after > this.committed, `append at ${after} below commit ${this.committed}`);
    assert(after <= this.lastIndex() + 1, `append at ${after} leaves a gap after ${this.lastIndex()}`);
    if (after === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable, and also a (stale) durable suffix the next save overwrites.
      this.offset = after;
      this.entries = ents.slice();
      this.offsetInProgress = this.offset;
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
      this.offsetInProgress = Math.min(this.offsetInProgress, after);
    }
    return this.lastIndex();
  }

  commitTo(i: number): boolean {
    if (i <= this.committed) return false;
    assert(i <= this.lastIndex(), `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
    return true;
  }

  /** Replace the log by a snapshot from the leader (Raft §7). */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.offset = s.meta.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  // --- Ready bookkeeping -------------------------------------------------------------------

  hasNextUnstableEntries(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length;
  }

  nextUnstableEntries(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  hasNextUnstableSnapshot(): boolean {
    return this.snapshot !== null && !this.snapshotInProgress;
  }

  nextUnstableSnapshot(): Snapshot | null {
    return this.snapshotInProgress ? null : this.snapshot;
  }

  hasPendingSnapshot(): boolean {
    return this.snapshot !== null;
  }

  /** The Ready just built hands out these entries / this snapshot: never hand them out again. */
  acceptUnstable(): void {
    this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  hasNextCommittedEntries(): boolean {
    return !this.snapshot && this.committed > this.applying;
  }

  /**
   * Committed entries not yet handed out, limited to maxBytes. `durableOnly`: only those durable
   * here AND part of this log (at most stableLastIndex(): never one in a write still under way,
   * nor a stale durable entry a newer unstable one replaces). Empty while a snapshot is pending.
   */
  nextCommittedEntries(maxBytes: number, durableOnly = false): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const hi = durableOnly ? Math.min(this.committed, this.stableLastIndex()) : this.committed;
    return hi > this.applying ? this.slice(this.applying + 1, hi + 1, maxBytes) : [];
  }

  /** Entries up to (index, term) are durable. Ignored if that entry was replaced meanwhile (etcd stableTo). */
  stableTo(index: number, term: number): void {
    if (index < this.offset) return;
    const e = this.entries[index - this.offset];
    if (!e || e.term !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.meta.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /** Latest snapshot: the unstable one, else storage's. */
  latestSnapshot(): Snapshot {
    return this.snapshot ?? this.storage.snapshot();
  }
}

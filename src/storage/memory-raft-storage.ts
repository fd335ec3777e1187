/**
 * In-memory twin of the LMDB Raft log storage (like etcd MemoryStorage). Pure: no node:*.
 * Every promise resolves at once; a write is "durable" when its method returns. clone() copies
 * the durable state, so a simulator can model "what survived the crash".
 *
 * Layout: ents[0] is a dummy entry at the compaction point (index = firstIndex()-1) carrying
 * that entry's term, so term(firstIndex()-1) is always answerable; real entries follow.
 */
import {
  RaftCompactedError,
  RaftUnavailableError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftLogStore,
  type Snapshot,
} from '../raft/types.js';
import { assert } from '../util/assert.js';

const EMPTY = new Uint8Array(0);

function copyConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

export class MemoryRaftStorage implements RaftLogStore {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: EMPTY };
  /** ents[0] is the dummy at the compaction point; entries are treated as immutable and shared. */
  private ents: Entry[] = [{ index: 0, term: 0, type: 0, data: EMPTY }];
  private bootstrapped = false;
  private closed = false;

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConf(this.snap.meta.conf) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftCompactedError(`entry ${lo} is compacted (first index ${offset + 1})`);
    if (hi > this.lastIndex() + 1) throw new RaftUnavailableError(`entry ${hi - 1} is past the last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset]!;
      size += e.data.byteLength;
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new RaftCompactedError(`entry ${index} is compacted (first index ${offset + 1})`);
    if (index > this.lastIndex()) throw new RaftUnavailableError(`entry ${index} is past the last index ${this.lastIndex()}`);
    return this.ents[index - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  save(hardState: HardState | null, entries: Entry[], _sync: boolean): Promise<void> {
    this.checkOpen();
    if (entries.length > 0) {
      for (let i = 1; i < entries.length; i++) assert(entries[i]!.index === entries[i - 1]!.index + 1, 'entries must be contiguous');
      const first = entries[0]!.index;
      assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
      const offset = this.ents[0]!.index;
      // Entries at or below the compaction point are already in the snapshot: skip them.
      const fresh = first <= offset ? entries.slice(offset + 1 - first) : entries;
      if (fresh.length > 0) {
        const keep = fresh[0]!.index - offset; // replace everything from fresh[0].index on
        this.ents = this.ents.slice(0, keep).concat(fresh);
      }
    }
    if (hardState) this.hardState = { ...hardState };
    return Promise.resolve();
  }

  applySnapshot(snap: Snapshot): Promise<void> {
    this.checkOpen();
    const { index, term } = snap.meta;
    assert(index >= this.snap.meta.index, `snapshot ${index} is older than the stored one (${this.snap.meta.index})`);
    const offset = this.ents[0]!.index;
    const dummy: Entry = { index, term, type: 0, data: EMPTY };
    if (index >= offset && index <= this.lastIndex() && this.ents[index - offset]!.term === term) {
      this.ents = [dummy, ...this.ents.slice(index - offset + 1)];
    } else {
      this.ents = [dummy];
    }
    this.snap = { meta: { index, term, conf: copyConf(snap.meta.conf) }, data: snap.data };
    if (this.hardState.commit < index) this.hardState = { ...this.hardState, commit: index };
    this.bootstrapped = true;
    return Promise.resolve();
  }

  createSnapshot(snap: Snapshot, compactIndex: number): Promise<void> {
    this.checkOpen();
    const { index } = snap.meta;
    assert(index <= this.lastIndex(), `snapshot ${index} past the last index ${this.lastIndex()}`);
    assert(compactIndex <= index, `compact index ${compactIndex} past the snapshot ${index}`);
    if (index > this.snap.meta.index) {
      this.snap = { meta: { index, term: snap.meta.term, conf: copyConf(snap.meta.conf) }, data: snap.data };
    }
    const offset = this.ents[0]!.index;
    if (compactIndex > offset) {
      const e = this.ents[compactIndex - offset]!;
      this.ents = [{ index: e.index, term: e.term, type: 0, data: EMPTY }, ...this.ents.slice(compactIndex - offset + 1)];
    }
    return Promise.resolve();
  }

  bootstrap(conf: ConfState): Promise<void> {
    this.checkOpen();
    if (this.bootstrapped) return Promise.resolve();
    this.snap = { meta: { index: 0, term: 0, conf: copyConf(conf) }, data: EMPTY };
    this.bootstrapped = true;
    return Promise.resolve();
  }

  isBootstrapped(): boolean {
    return this.bootstrapped;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** An independent copy of everything durable (for crash simulation). The copy is open. */
  clone(): MemoryRaftStorage {
    const c = new MemoryRaftStorage();
    c.hardState = { ...this.hardState };
    c.snap = { meta: { ...this.snap.meta, conf: copyConf(this.snap.meta.conf) }, data: this.snap.data };
    c.ents = this.ents.slice();
    c.bootstrapped = this.bootstrapped;
    return c;
  }

  private checkOpen(): void {
    assert(!this.closed, 'storage is closed');
  }
}

/**
 * Raft safety invariants (Raft paper Figure 3), checked as the simulation runs:
 *
 *  - Election Safety: at most one leader per term, ever (across crashes and restarts).
 *  - Log Matching: two logs holding an entry with the same index and term hold the same entry and
 *    the same prefix. Checked inductively over every entry any node ever persisted: the pair
 *    (index, term) must always come with the same data and the same term at index - 1.
 *  - Leader Completeness: an entry committed in term c is in the log of every leader of a term
 *    > c. The commit term of index i is taken as the term of the first node seen persisting a
 *    commit index >= i (that is the committing leader's term, or a later one: never too early).
 *    Each leader's durable log is recorded when it persists its term-start no-op; every recorded
 *    log is checked against every committed entry at the end (and on record).
 *  - State Machine Safety: no two nodes apply different entries at one index.
 *  - Leader commit rule (§5.4.2, the cause of Figure 8's lost commit): a leader advances its
 *    commit index only to an entry of its own term.
 *
 * The first violation is kept; the simulation stops at it and reports the seed.
 */
import type { Entry, NodeId, RaftStorage } from '../../src/raft/types.js';

interface RegEntry {
  data: Uint8Array;
  /** Term at index - 1 in the log that held this entry (undefined: compacted away there). */
  prevTerm: number | undefined;
}

interface LeaderLog {
  node: NodeId;
  term: number;
  /** terms[k] is the term at index base + k. */
  base: number;
  terms: number[];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function termOrUndefined(s: RaftStorage, index: number): number | undefined {
  if (index < s.firstIndex() - 1 || index > s.lastIndex()) return undefined;
  return s.term(index);
}

export class Invariants {
  violation: string | null = null;
  private readonly leaders = new Map<number, NodeId>();
  private readonly registry = new Map<string, RegEntry>();
  /** Applied (hence committed) entries by index: the first node's copy. */
  private readonly applied = new Map<number, { term: number; type: Entry['type']; data: Uint8Array; node: NodeId }>();
  private readonly leaderLogs: LeaderLog[] = [];
  /** commitTerm[i]: the term in which index i was first seen committed. */
  private readonly commitTerm: number[] = [];
  private readonly recorded = new Set<string>();
  elections = 0;

  /** Record a violation found elsewhere (e.g. by a client). */
  report(msg: string): void {
    this.fail(msg);
  }

  private fail(msg: string): void {
    if (this.violation === null) this.violation = msg;
  }

  /** A node is leader of `term` right now. */
  onLeader(node: NodeId, term: number): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, node);
      this.elections++;
    } else if (prev !== node) {
      this.fail(`election safety: two leaders in term ${term}: ${prev} and ${node}`);
    }
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }

  /** `entries` were just written to `node`'s log storage `s` (already holding them). */
  onPersisted(node: NodeId, s: RaftStorage, entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index < s.firstIndex()) continue; // already inside the snapshot: skipped by storage
      const key = `${e.index}:${e.term}`;
      const prevTerm = termOrUndefined(s, e.index - 1);
      const reg = this.registry.get(key);
      if (!reg) {
        this.registry.set(key, { data: e.data, prevTerm });
        continue;
      }
      if (!sameBytes(reg.data, e.data)) this.fail(`log matching: ${node} holds a different entry at index ${e.index} term ${e.term}`);
      if (reg.prevTerm === undefined) reg.prevTerm = prevTerm;
      else if (prevTerm !== undefined && prevTerm !== reg.prevTerm) {
        this.fail(`log matching: entry ${e.index}/${e.term} follows term ${prevTerm} on ${node} but term ${reg.prevTerm} elsewhere`);
      }
    }
    if (entries.length > 0) {
      // The leader of a term persisting its no-op: record its log (everything before the no-op).
      for (const e of entries) {
        if (e.data.byteLength !== 0 || e.type !== 0 || this.leaders.get(e.term) !== node) continue;
        const k = `${node}:${e.term}`;
        if (this.recorded.has(k)) continue;
        this.recorded.add(k);
        const base = s.firstIndex() - 1;
        const terms: number[] = [];
        for (let i = base; i < e.index; i++) terms.push(s.term(i));
        const log: LeaderLog = { node, term: e.term, base, terms };
        this.leaderLogs.push(log);
        for (const [index, c] of this.applied) this.checkLeaderHas(log, index, c.term);
        if (this.violation !== null) return;
      }
    }
  }

  /** A node persisted hard state with this commit index in this term. */
  onCommit(commit: number, term: number): void {
    for (let i = this.commitTerm.length; i <= commit; i++) this.commitTerm.push(term);
  }

  /**
   * A leader of `term`, already leading at its previous write, persisted a higher commit index
   * whose entry is of `entryTerm`. Raft §5.4.2: a leader commits by counting replicas only an
   * entry of its own term (earlier ones are committed with it); otherwise Figure 8's overwrite
   * of a committed entry becomes possible.
   */
  onLeaderCommit(node: NodeId, term: number, commit: number, entryTerm: number): void {
    if (entryTerm !== term) {
      this.fail(`leader commit rule: ${node}, leader of term ${term}, advanced its commit index to ${commit}, an entry of term ${entryTerm}`);
    }
  }

  /** `node` applied committed entry `e` to its state machine. */
  onApplied(node: NodeId, e: Entry): void {
    const prev = this.applied.get(e.index);
    if (!prev) {
      this.applied.set(e.index, { term: e.term, type: e.type, data: e.data, node });
      return;
    }
    if (prev.term !== e.term || !sameBytes(prev.data, e.data)) {
      this.fail(`state machine safety: at index ${e.index} ${prev.node} applied term ${prev.term}, ${node} applied term ${e.term}`);
    }
  }

  private checkLeaderHas(log: LeaderLog, index: number, term: number): void {
    const committedIn = this.commitTerm[index];
    if (committedIn === undefined || committedIn >= log.term) return;
    if (index < log.base) return; // compacted there: inside its snapshot
    const have = log.terms[index - log.base];
    if (have !== term) {
      this.fail(
        `leader completeness: entry ${index} (term ${term}) committed in term ${committedIn} is missing from the log of ${log.node}, leader of term ${log.term} (has ${have ?? 'nothing'})`,
      );
    }
  }

  /** Check every recorded leader log against every committed entry. */
  checkLeaderCompleteness(): void {
    for (const log of this.leaderLogs) {
      for (const [index, c] of this.applied) {
        this.checkLeaderHas(log, index, c.term);
        if (this.violation !== null) return;
      }
    }
  }

  /** Every applied (hence committed) entry, by index. */
  appliedLog(): Entry[] {
    return [...this.applied]
      .sort((a, b) => a[0] - b[0])
      .map(([index, c]) => ({ index, term: c.term, type: c.type, data: c.data }));
  }

  get committedCount(): number {
    return this.applied.size;
  }
}

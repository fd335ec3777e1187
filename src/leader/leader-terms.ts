/**
 * Which leader term this server is serving, and that term's soft state. Every call that uses
 * soft state asks current() — after its awaits, never before them — so a call that waited on a
 * read or a proposal while leadership was lost fails NotLeader instead of using a dead term's
 * state. A term that ended (leadership lost, or a newer term) is dropped whole.
 */
import type { LeaderRaft } from './leader-raft.js';
import { LeaderTerm, type LeaderTermComponents, type LeaderTermOptions } from './leader-term.js';

export interface LeaderTermsComponents extends LeaderTermComponents {
  raft: Pick<LeaderRaft, 'status' | 'isLeader' | 'notLeader'>;
}

export class LeaderTerms {
  private readonly c: LeaderTermsComponents;
  private readonly o: LeaderTermOptions;
  private held: LeaderTerm | null = null;

  constructor(c: LeaderTermsComponents, o: LeaderTermOptions) {
    this.c = c;
    this.o = o;
  }

  /** This leadership's soft state (a new term starts an empty one); NotLeader on a follower. */
  current(): LeaderTerm {
    const st = this.c.raft.status();
    if (st.role !== 'leader') {
      this.end();
      throw this.c.raft.notLeader();
    }
    if (!this.held || this.held.term !== st.term) {
      this.held?.end();
      this.held = new LeaderTerm(this.c, { ...this.o, term: st.term });
    }
    return this.held;
  }

  /** NotLeader unless this server leads (soft state untouched). */
  requireLeader(): void {
    if (!this.c.raft.isLeader()) throw this.c.raft.notLeader();
  }

  /** Drop the held term, if any. */
  end(): void {
    const t = this.held;
    this.held = null;
    t?.end();
  }
}

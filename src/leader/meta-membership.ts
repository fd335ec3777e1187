/**
 * The metadata group's membership, changed at runtime through the leader (operator calls,
 * client token; requests in proto/meta-admin-requests.ts):
 *
 *   meta.add {id, addr}        → {}  the server joins as a learner (it votes in nothing and counts
 *                                    in no quorum); promote() makes it a voter once its log is
 *                                    within promoteLagEntriesMax entries of the leader's
 *   meta.remove {id}           → {}  the server leaves the group (the leader hands its leadership
 *                                    over first when asked to remove itself: NotLeader, retry)
 *   meta.transferLeader {id?}  → {leader}  leadership moves to `id`, or to the most caught-up voter
 *
 * add and remove are idempotent (adding a member again at the same address, or removing a
 * non-member, answers {}), so clients retry them like reads. One membership change is in flight
 * at a time (the Raft core refuses a second with ConfChangeInProgress).
 *
 * A removal that would leave fewer recently active voters than a quorum of the new group is
 * refused (PreconditionFailed): removing a live voter while another is down would stop the group.
 *
 * handOff() is what a stopping leader does first (SIGTERM): transfer leadership to the most
 * caught-up active voter and wait (bounded) for it to take over, so clients see one quick
 * NotLeader hop instead of an election timeout.
 */
import type { Clock, Timers } from '../env/clock.js';
import type { MetaAddRequest, MetaRemoveRequest, MetaTransferRequest } from '../proto/meta-admin-requests.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { LEADER_HANDOFF_WAIT_MS_DEFAULT, LEADER_TRANSFER_WAIT_MS_DEFAULT, LEARNER_PROMOTE_LAG_ENTRIES_DEFAULT, VOTER_ACTIVE_WINDOW_MS_DEFAULT } from '../config/defaults.js';

/** What membership needs from the Raft group (consensus/RaftRuntime provides it). */
export interface MembershipRaft {
  isLeader(): boolean;
  notLeader(): CairnError;
  status(): {
    id: string;
    leader: string | null;
    lastIndex: number;
    conf: { voters: string[]; learners: string[] };
    progress: Record<string, { match: number; recentActive: boolean }> | null;
  };
  addrOf(id: string): string | undefined;
  /** Resolves once the change is applied here. */
  changeMembership(type: 'addLearner' | 'addVoter' | 'removeNode', node: string, addr?: string): Promise<unknown>;
  transferLeadership(to: string): void;
}

export interface MetaMembershipComponents {
  raft: MembershipRaft;
  clock: Clock;
  timers: Timers;
  logger: Logger;
}

export interface MetaMembershipOptions {
  /** A learner this close to the leader's last index is promoted. @default LEARNER_PROMOTE_LAG_ENTRIES_DEFAULT */
  promoteLagEntriesMax?: number;
  /** How long transferLeader waits for the new leader. @default LEADER_TRANSFER_WAIT_MS_DEFAULT */
  transferWaitMs?: number;
  /** How long a removal looks for the remaining voters to answer the leader. @default VOTER_ACTIVE_WINDOW_MS_DEFAULT */
  activeWindowMs?: number;
}

/** How often a wait for a leadership change looks again. */
const LEADERSHIP_POLL_MS = 20;

export class MetaMembership {
  private readonly c: MetaMembershipComponents;
  private readonly promoteLagEntriesMax: number;
  private readonly transferWaitMs: number;
  private readonly activeWindowMs: number;
  /** A promotion proposed and not yet applied (or failed). */
  private promoting: string | null = null;

  constructor(c: MetaMembershipComponents, o: MetaMembershipOptions = {}) {
    this.c = c;
    this.promoteLagEntriesMax = o.promoteLagEntriesMax ?? LEARNER_PROMOTE_LAG_ENTRIES_DEFAULT;
    this.transferWaitMs = o.transferWaitMs ?? LEADER_TRANSFER_WAIT_MS_DEFAULT;
    this.activeWindowMs = o.activeWindowMs ?? VOTER_ACTIVE_WINDOW_MS_DEFAULT;
  }

  async add(req: MetaAddRequest): Promise<A['meta.add']> {
    const st = this.leaderStatus();
    if (isMember(st.conf, req.id)) {
      const at = this.c.raft.addrOf(req.id);
      if (at === req.addr) return {};
      throw new CairnError('PreconditionFailed', `${req.id} is already a member at ${at ?? 'an unknown address'}; remove it first`);
    }
    await this.c.raft.changeMembership('addLearner', req.id, req.addr);
    this.c.logger.info('metadata server added as a learner', { id: req.id, addr: req.addr });
    return {};
  }

  async remove(req: MetaRemoveRequest): Promise<A['meta.remove']> {
    const st = this.leaderStatus();
    if (!isMember(st.conf, req.id)) return {};
    const voters = st.conf.voters.filter((v) => v !== req.id);
    if (st.conf.voters.includes(req.id)) {
      if (voters.length === 0) throw new CairnError('PreconditionFailed', `${req.id} is the only voter; add another metadata server first`);
      const active = await this.activeVoters(voters);
      if (active < Math.floor(voters.length / 2) + 1)
        throw new CairnError('PreconditionFailed', `removing ${req.id} would leave ${active} of ${voters.length} voters active, fewer than a quorum; bring the others back first`);
    }
    if (req.id === st.id) {
      // A leader does not remove itself: it hands over, and the client retries at the new leader.
      await this.handOff(this.transferWaitMs);
      throw this.c.raft.notLeader();
    }
    await this.c.raft.changeMembership('removeNode', req.id);
    this.c.logger.info('metadata server removed', { id: req.id });
    return {};
  }

  async transferLeader(req: MetaTransferRequest): Promise<A['meta.transferLeader']> {
    const st = this.leaderStatus();
    const to = req.id ?? (await this.bestVoterWithin(this.activeWindowMs));
    if (to === null) throw new CairnError('PreconditionFailed', 'no other active voter to hand leadership to');
    if (to === st.id) return { leader: st.id };
    if (!st.conf.voters.includes(to)) throw new CairnError('InvalidArgument', `${to} is not a voter of the metadata group`);
    const leader = await this.transferTo(to, this.transferWaitMs);
    if (leader !== to) throw new CairnError('Timeout', `${to} did not take over within ${this.transferWaitMs} ms (leader now: ${leader ?? 'none'})`);
    return { leader };
  }

  /**
   * On the leader, step down in favour of the most caught-up active voter and wait up to
   * `waitMs` for leadership to move. Returns the leader known at the end (null: none yet).
   * A no-op off the leader or without another active voter.
   */
  async handOff(waitMs: number = LEADER_HANDOFF_WAIT_MS_DEFAULT): Promise<string | null> {
    if (!this.c.raft.isLeader()) return this.c.raft.status().leader;
    const to = await this.bestVoterWithin(this.activeWindowMs);
    if (to === null || !this.c.raft.isLeader()) return this.c.raft.status().leader;
    this.c.logger.info('handing leadership over', { to });
    return this.transferTo(to, waitMs);
  }

  /**
   * Leader housekeeping: propose promoting a learner whose log is within promoteLagEntriesMax
   * of the leader's (one at a time; a refusal is tried again on a later tick).
   */
  promote(): void {
    if (this.promoting !== null || !this.c.raft.isLeader()) return;
    const st = this.c.raft.status();
    const ready = st.conf.learners.find((l) => {
      const pr = st.progress?.[l];
      // match > 0: it has answered with its log (a new learner's progress starts active, at 0).
      return pr !== undefined && pr.recentActive && pr.match > 0 && st.lastIndex - pr.match <= this.promoteLagEntriesMax;
    });
    if (ready === undefined) return;
    this.promoting = ready;
    this.c.raft.changeMembership('addVoter', ready).then(
      () => {
        this.promoting = null;
        this.c.logger.info('learner promoted to voter', { id: ready });
      },
      (err: unknown) => {
        this.promoting = null;
        const expected = isCairnError(err) && ['NotLeader', 'ConfChangeInProgress', 'LearnerNotCaughtUp', 'ProposalDropped', 'Timeout', 'Unavailable'].includes(err.code);
        if (!expected) this.c.logger.warn('promoting a learner failed', { id: ready, err: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  /**
   * How many of `voters` (this server counts) answered the leader lately. The core clears every
   * recentActive flag each election timeout and a live follower sets its own again within a
   * heartbeat, so a voter counts if any sample over activeWindowMs saw it active.
   */
  private async activeVoters(voters: string[]): Promise<number> {
    const seen = new Set<string>();
    const deadline = this.c.clock.nowMs() + this.activeWindowMs;
    for (;;) {
      const st = this.c.raft.status();
      for (const v of voters) if (v === st.id || st.progress?.[v]?.recentActive === true) seen.add(v);
      if (seen.size === voters.length || this.c.clock.nowMs() >= deadline) return seen.size;
      await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, LEADERSHIP_POLL_MS));
    }
  }

  private leaderStatus(): ReturnType<MembershipRaft['status']> {
    if (!this.c.raft.isLeader()) throw this.c.raft.notLeader();
    return this.c.raft.status();
  }

  /**
   * bestVoter(), looking again until `windowMs` has passed: a leader elected a moment ago (or
   * right after the core cleared the flags) has heard from nobody yet.
   */
  private async bestVoterWithin(windowMs: number): Promise<string | null> {
    const deadline = this.c.clock.nowMs() + windowMs;
    for (;;) {
      const to = this.bestVoter();
      if (to !== null || this.c.clock.nowMs() >= deadline || !this.c.raft.isLeader()) return to;
      await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, LEADERSHIP_POLL_MS));
    }
  }

  /** The active voter (not this server) with the longest log, or null. */
  private bestVoter(): string | null {
    const st = this.c.raft.status();
    let best: string | null = null;
    let bestMatch = -1;
    for (const v of st.conf.voters) {
      const pr = st.progress?.[v];
      if (v === st.id || pr === undefined || !pr.recentActive) continue;
      if (pr.match > bestMatch) {
        best = v;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  private async transferTo(to: string, waitMs: number): Promise<string | null> {
    try {
      this.c.raft.transferLeadership(to);
    } catch (err) {
      if (!isCairnError(err) || err.code !== 'NotLeader') throw err;
    }
    const deadline = this.c.clock.nowMs() + waitMs;
    for (;;) {
      const leader = this.c.raft.status().leader;
      if (!this.c.raft.isLeader() && leader !== null) return leader;
      if (this.c.clock.nowMs() >= deadline) return this.c.raft.isLeader() ? this.c.raft.status().id : leader;
      await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, LEADERSHIP_POLL_MS));
    }
  }
}

function isMember(conf: { voters: string[]; learners: string[] }, id: string): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

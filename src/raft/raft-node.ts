/**
 * RaftNode: the pure Raft state machine (modelled on etcd-io/raft). It performs no I/O: the
 * driver feeds it ticks, messages and proposals, and carries out what ready() returns — persist,
 * then send, then apply — acknowledging each Ready with advance(). See types.ts for the loop.
 *
 * Contracts:
 *  - step() never throws for anything a peer can send: stale, duplicate, misdirected or
 *    nonsensical messages are ignored. Assertions guard only broken invariants.
 *  - Every vote granted and every entry acknowledged is in the same Ready as the hardState /
 *    entries it depends on, so "persist before send" makes them durable first.
 *  - Membership changes take effect on every node when their entry is COMMITTED, one at a time.
 *  - The leader counts its own log toward a quorum only up to what advance() reported durable.
 */
import type { Rng } from '../env/rng.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import { decodeConfChange, encodeConfChange } from './conf-change.js';
import { Progress } from './progress.js';
import { RaftLog, entryBytes } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import {
  EntryType,
  RaftCompactedError,
  type ConfChange,
  type Entry,
  type HardState,
  type Message,
  type MsgApp,
  type MsgAppResp,
  type MsgHeartbeat,
  type MsgHeartbeatResp,
  type MsgSnap,
  type MsgVote,
  type NodeId,
  type RaftConfig,
  type RaftStatus,
  type RaftStorage,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.js';

type State = 'follower' | 'pre-candidate' | 'candidate' | 'leader';
type VoteResult = 'won' | 'lost' | 'pending';

/** Message without the fields send() fills in. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never) : never;

const EMPTY = new Uint8Array(0);

export class RaftNode {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  private readonly rng: Rng;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  private state: State = 'follower';
  private lead: NodeId | null = null;

  private readonly voters = new Set<NodeId>();
  private readonly learners = new Set<NodeId>();
  /** Leader only (kept, but meaningless, elsewhere): replication progress of every member incl. self. */
  private prs = new Map<NodeId, Progress>();
  /** Indexes of ConfChange entries in the log above the commit index (not yet in effect), ascending. */
  private confIndexes: number[] = [];

  private readonly votes = new Map<NodeId, boolean>();
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readonly readOnly = new ReadOnly();
  /** ReadIndex requests held until the leader has committed an entry of its own term. */
  private heldReads: Uint8Array[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  private uncommittedBytes = 0;
  /** Leader: proposals were appended or the commit index advanced since the last broadcast (sent, batched, at the next ready()). */
  private pendingBcast = false;

  private prevHard: HardState;
  private prevSoft: SoftState;

  constructor(config: RaftConfig, storage: RaftStorage, rng: Rng) {
    assert(config.heartbeatTicks >= 1, 'heartbeatTicks must be >= 1');
    assert(config.electionTicks > config.heartbeatTicks, 'electionTicks must exceed heartbeatTicks');
    assert(config.inflightMsgsMax >= 1, 'inflightMsgsMax must be >= 1');
    assert(config.maxMsgBytes >= 1, 'maxMsgBytes must be >= 1');
    this.id = config.id;
    this.cfg = config;
    this.rng = rng;

    const { hardState, confState } = storage.initialState();
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    // Entries at or below the snapshot are applied (they are inside the state machine image).
    const applied = Math.max(config.applied, first - 1);
    assert(applied <= last, `applied ${applied} beyond last index ${last}`);
    // Anything applied was committed, even if the hard state's commit was not persisted yet.
    const committed = Math.max(hardState.commit, applied);
    assert(committed <= last, `commit ${committed} beyond last index ${last}`);
    this.log = new RaftLog(storage, committed, applied);

    // Membership: the snapshot's, plus committed ConfChange entries in the log (replaying an
    // entry already inside the snapshot's membership is idempotent); later ones are pending.
    for (const v of confState.voters) this.voters.add(v);
    for (const l of confState.learners) if (!this.voters.has(l)) this.learners.add(l);
    for (let lo = first; lo <= last; ) {
      const batch = storage.entries(lo, last + 1, 8 << 20);
      assert(batch.length > 0, 'storage returned no entries');
      for (const e of batch) {
        if (e.type !== EntryType.ConfChange) continue;
        if (e.index <= committed) this.applyConfChangeData(e.data);
        else this.confIndexes.push(e.index);
      }
      lo += batch.length;
    }

    this.term = hardState.term;
    this.vote = hardState.vote;
    this.becomeFollower(this.term, null);
    this.prevHard = { ...hardState };
    this.prevSoft = { leader: null, role: 'follower' };
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id || !Number.isSafeInteger(m.term) || m.term < 0) return;

    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        // Leader stickiness (thesis §4.2.3): while we hear from a live leader, ignore
        // candidates, unless the leader itself asked for this election (transfer).
        const inLease = this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.cfg.electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === 'pre-vote') {
        // A pre-vote never changes our term (thesis §9.6).
      } else if (m.type === 'pre-vote-resp' && !m.reject) {
        // A granted pre-vote carries the term the candidate will use; ours rises when it campaigns.
      } else {
        const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
        const elapsed = this.electionElapsed;
        this.becomeFollower(m.term, fromLeader ? m.from : null); // Raft §5.1
        // Raft Figure 2: only a current leader's message or a vote we GRANT restarts the election
        // timer (handleVoteRequest restarts it on a grant). A vote request that only raises our
        // term must not: otherwise candidates that cannot win (a stale log, a membership that
        // missed a removal's commit) keep restarting the timers of the nodes that could, and
        // elections livelock without pre-vote (seeds 12137, 13875, and 374 with pre-vote off).
        if (m.type === 'vote') this.electionElapsed = elapsed;
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // A stale leader (e.g. back from a partition) would otherwise never learn the new term:
        // with pre-vote / check-quorum nobody else will raise it. This response does.
        this.send({ type: 'app-resp', to: m.from, reject: false, index: 0, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'pre-vote') {
        this.send({ type: 'pre-vote-resp', to: m.from, reject: true });
      }
      return; // Raft §5.1: stale messages are ignored
    }

    switch (m.type) {
      case 'vote':
      case 'pre-vote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  /** Start an election now (pre-vote first when enabled). No-op on a leader or a non-voter. */
  campaign(): void {
    this.hup(false);
  }

  propose(data: Uint8Array): { index: number; term: number } {
    this.requireLeader();
    if (this.leadTransferee !== null) throw new CairnError('ProposalDropped', `leadership is being transferred to ${this.leadTransferee}`);
    return this.appendProposal(EntryType.Normal, data);
  }

  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    this.requireLeader();
    if (this.leadTransferee !== null) throw new CairnError('ProposalDropped', `leadership is being transferred to ${this.leadTransferee}`);
    if (this.confIndexes.length > 0) {
      throw new CairnError('ConfChangeInProgress', `membership change at index ${this.confIndexes[0]} is not committed yet`);
    }
    // A new leader must commit an entry of its term before changing membership (Ongaro,
    // raft-dev 2015: otherwise two single-server changes from different terms can both commit).
    if (this.log.term(this.log.committed) !== this.term) {
      throw new CairnError('ConfChangeInProgress', 'the leader has not yet committed an entry of its term');
    }
    if (typeof cc.node !== 'string' || cc.node.length === 0) throw new CairnError('InvalidArgument', 'conf change needs a node id');
    switch (cc.type) {
      case 'addLearner':
        if (this.voters.has(cc.node)) throw new CairnError('InvalidArgument', `${cc.node} is already a voter`);
        break;
      case 'addVoter': {
        if (this.voters.has(cc.node)) throw new CairnError('InvalidArgument', `${cc.node} is already a voter`);
        if (!this.learners.has(cc.node)) throw new CairnError('InvalidArgument', `${cc.node} is not a learner: add it as a learner first`);
        const pr = this.prs.get(cc.node);
        const behind = this.log.lastIndex() - (pr?.match ?? 0);
        if (behind > this.cfg.learnerCatchUpEntriesMax) {
          throw new CairnError('LearnerNotCaughtUp', `${cc.node} is ${behind} entries behind (max ${this.cfg.learnerCatchUpEntriesMax})`, {
            behind,
          });
        }
        break;
      }
      case 'removeNode':
        if (!this.voters.has(cc.node) && !this.learners.has(cc.node)) throw new CairnError('InvalidArgument', `${cc.node} is not a member`);
        if (this.voters.has(cc.node) && this.voters.size === 1) throw new CairnError('InvalidArgument', 'cannot remove the last voter');
        break;
      default:
        throw new CairnError('InvalidArgument', `unknown conf change type ${String((cc as { type: unknown }).type)}`);
    }
    return this.appendProposal(EntryType.ConfChange, encodeConfChange(cc));
  }

  /** ReadIndex (thesis §6.4). The answer arrives in a later Ready.readStates with the same ctx. */
  readIndex(ctx: Uint8Array): void {
    this.requireLeader();
    if (this.log.term(this.log.committed) !== this.term) {
      // Until an entry of this term commits, the leader's commit index may be stale (§6.4 step 1).
      this.heldReads.push(ctx);
      return;
    }
    this.processRead(ctx);
  }

  /** Leadership transfer (thesis §3.10). Proposals are refused until it ends or times out. */
  transferLeadership(to: NodeId): void {
    this.requireLeader();
    if (to === this.id) return;
    if (!this.voters.has(to)) throw new CairnError('InvalidArgument', `${to} is not a voter`);
    if (this.leadTransferee !== null) {
      if (this.leadTransferee === to) return;
      this.leadTransferee = null;
    }
    // The transfer must finish within one election timeout (abort in tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
  }

  hasReady(): boolean {
    if (this.pendingBcast && this.state === 'leader') return true;
    if (this.msgs.length > 0 || this.readStates.length > 0) return true;
    const ss = this.softState();
    if (ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role) return true;
    if (this.term !== this.prevHard.term || this.vote !== this.prevHard.vote || this.log.committed !== this.prevHard.commit) return true;
    return this.log.hasNextUnstableSnapshot() || this.log.hasNextUnstableEntries() || this.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    if (this.pendingBcast) {
      this.pendingBcast = false;
      if (this.state === 'leader') this.bcastAppend();
    }
    const ss = this.softState();
    const hs: HardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const softChanged = ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role;
    const snapshot = this.log.nextUnstableSnapshot();
    const entries = this.log.nextUnstableEntries();
    const committedEntries = this.log.nextCommittedEntries(this.cfg.maxMsgBytes);
    const rd: Ready = {
      softState: softChanged ? ss : null,
      hardState: hardChanged ? hs : null,
      snapshot,
      entries,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      mustSync: hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || entries.length > 0,
    };
    this.msgs = [];
    this.readStates = [];
    this.log.acceptUnstable();
    if (snapshot) this.log.applying = Math.max(this.log.applying, snapshot.meta.index);
    if (committedEntries.length > 0) this.log.applying = committedEntries[committedEntries.length - 1]!.index;
    this.prevHard = hs;
    this.prevSoft = ss;
    return rd;
  }

  /**
   * Committed entries to apply now, while the driver still waits for a Ready's write: the ones
   * durable here before that write and not replaced since (a leader's earlier batch, committed
   * by a follower's acknowledgement that arrived meanwhile). They are handed out exactly as
   * Ready.committedEntries are — never again, and counted as applied — so the driver applies
   * them after everything handed out before and before any later Ready's. Empty when there are
   * none (a follower's entries in the write under way wait for it: its next Ready has them).
   */
  takeCommitted(): Entry[] {
    const ents = this.log.nextCommittedEntries(this.cfg.maxMsgBytes, true);
    if (ents.length === 0) return ents;
    const last = ents[ents.length - 1]!.index;
    this.log.applying = last;
    this.log.applied = Math.max(this.log.applied, last);
    if (this.state === 'leader') this.releaseUncommitted(ents);
    return ents;
  }

  /** The driver has persisted rd.snapshot/rd.entries/rd.hardState, sent rd.messages and applied rd.committedEntries. */
  advance(rd: Ready): void {
    if (rd.snapshot) {
      const idx = rd.snapshot.meta.index;
      this.log.stableSnapTo(idx);
      this.log.applied = Math.max(this.log.applied, idx);
      this.log.applying = Math.max(this.log.applying, idx);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.stableTo(last.index, last.term); // etcd stableTo: only if still (index, term)
    }
    if (rd.committedEntries.length > 0) {
      const lastIdx = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      this.log.applied = Math.max(this.log.applied, lastIdx);
      if (this.state === 'leader') this.releaseUncommitted(rd.committedEntries);
    }
    if (this.state === 'leader') {
      const self = this.prs.get(this.id);
      if (self && self.maybeUpdate(this.log.stableLastIndex())) this.leaderMaybeCommit();
    }
  }

  /** Committed entries handed out: their bytes no longer count against uncommittedBytesMax. */
  private releaseUncommitted(ents: Entry[]): void {
    let bytes = 0;
    for (const e of ents) bytes += entryBytes(e);
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  status(): RaftStatus {
    let progress: RaftStatus['progress'] = null;
    if (this.state === 'leader') {
      progress = {};
      for (const [id, pr] of this.prs) progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      role: this.role(),
      leader: this.lead,
      conf: { voters: [...this.voters].sort(), learners: [...this.learners].sort() },
      progress,
      leadTransferee: this.leadTransferee,
    };
  }

  reportUnreachable(id: NodeId): void {
    if (this.state !== 'leader') return;
    const pr = this.prs.get(id);
    // Stop pipelining into the void: probe until it answers again.
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.state !== 'leader') return;
    const pr = this.prs.get(id);
    if (!pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for an app-resp (success) or the next heartbeat answer (failure) before sending more.
    pr.probeSent = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Roles

  private promotable(): boolean {
    return this.voters.has(this.id);
  }

  private role(): Role {
    if (this.state === 'follower' && this.learners.has(this.id)) return 'learner';
    return this.state;
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role() };
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.resetProgress();
    this.readOnly.clear();
    this.heldReads = [];
    this.uncommittedBytes = 0;
    this.pendingBcast = false;
  }

  private resetRandomizedElectionTimeout(): void {
    // In [electionTicks, 2*electionTicks): spreads candidates so split votes resolve (Raft §5.2).
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.rng.int(this.cfg.electionTicks);
  }

  private resetProgress(): void {
    const next = this.log.lastIndex() + 1;
    this.prs = new Map();
    for (const id of this.voters) this.prs.set(id, new Progress(next, this.cfg.inflightMsgsMax, false));
    for (const id of this.learners) this.prs.set(id, new Progress(next, this.cfg.inflightMsgsMax, true));
    const self = this.prs.get(this.id);
    if (self) {
      self.match = this.log.stableLastIndex();
      self.recentActive = true;
    }
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.state = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    assert(this.state !== 'leader', 'leader cannot become pre-candidate');
    // Neither term nor vote change (thesis §9.6): a failed pre-vote leaves no trace.
    this.state = 'pre-candidate';
    this.votes.clear();
    this.lead = null;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  private becomeCandidate(): void {
    assert(this.state !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1); // Raft §5.2: increment term, vote for self
    this.vote = this.id;
    this.state = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.state === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.state = 'leader';
    this.lead = this.id;
    const self = this.prs.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // A new leader commits an entry of its own term at once (Raft §5.4.2, §8): this commits
    // everything before it, and lets ReadIndex and conf changes proceed.
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type: EntryType.Normal, data: EMPTY };
    this.log.append([e]);
  }

  private hup(transfer: boolean): void {
    if (this.state === 'leader' || !this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.campaignPre();
    else this.campaignElection(transfer);
  }

  private campaignPre(): void {
    this.becomePreCandidate();
    if (this.poll(this.id, true) === 'won') {
      this.campaignElection(false);
      return;
    }
    this.sendVoteRequests('pre-vote', this.term + 1, false);
  }

  private campaignElection(transfer: boolean): void {
    this.becomeCandidate();
    if (this.poll(this.id, true) === 'won') {
      this.becomeLeader();
      return;
    }
    this.sendVoteRequests('vote', this.term, transfer);
  }

  private sendVoteRequests(type: 'vote' | 'pre-vote', term: number, transfer: boolean): void {
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const v of [...this.voters].sort()) {
      if (v === this.id) continue;
      this.send({ type, to: v, term, lastLogIndex, lastLogTerm, transfer });
    }
  }

  private poll(from: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const v of this.voters) {
      const g = this.votes.get(v);
      if (g === true) yes++;
      else if (g === false) no++;
    }
    const q = this.quorum();
    if (yes >= q) return 'won';
    if (no > this.voters.size - q) return 'lost';
    return 'pending';
  }

  private quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    const snapshotRetryTicks = 5 * this.cfg.electionTicks;
    for (const pr of this.prs.values()) {
      if (pr.state === 'snapshot' && ++pr.snapshotTicks >= snapshotRetryTicks) {
        // No answer to the snapshot: assume it was lost and start over from a probe.
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
      }
    }
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        // CheckQuorum: a leader cut off from a quorum steps down, so clients fail over
        // and its lease-based stickiness does not outlive its leadership.
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
      if (this.leadTransferee !== null) this.leadTransferee = null; // transfer timed out (thesis §3.10)
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(null);
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) {
      if (v === this.id || this.prs.get(v)?.recentActive) active++;
    }
    return active >= this.quorum();
  }

  // ---------------------------------------------------------------------------------------------
  // Message handling

  private handleVoteRequest(m: MsgVote): void {
    const resp = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    // Raft §5.2: at most one vote per term. A pre-vote for a future term binds nothing.
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (m.type === 'pre-vote' && m.term > this.term);
    // Raft §5.4.1: only for a candidate whose log is at least as up to date as ours.
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      this.send({ type: resp, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from; // in hardState of the same Ready as the response: durable before it is sent
      }
    } else {
      this.send({ type: resp, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return; // not (or no longer) a member
    if (m.type === 'app-resp') this.handleAppResp(m, pr);
    else if (m.type === 'heartbeat-resp') this.handleHeartbeatResp(m, pr);
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'vote-resp':
      case 'pre-vote-resp': {
        const expected = this.state === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
        if (m.type !== expected) return;
        const r = this.poll(m.from, !m.reject);
        if (r === 'won') {
          if (this.state === 'pre-candidate') this.campaignElection(false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (r === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // Leadership transfer: campaign at once, skipping pre-vote, bypassing stickiness.
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: MsgApp): void {
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.index !== m.prevIndex + 1 + i || e.term > m.term || e.term < 1) return; // malformed: ignore
    }
    if (m.prevIndex === 0 && this.voters.size === 0 && this.learners.size === 0 && this.log.lastIndex() === 0) {
      // A joining node with no membership at all: entries from index 1 on do not carry the
      // bootstrap membership (stored as the snapshot at index 0), so ask for that snapshot.
      // A rejection at prevIndex 0 is otherwise impossible (term(0) always matches).
      this.send({ type: 'app-resp', to: m.from, reject: true, index: 0, hintIndex: 0, hintTerm: 0 });
      return;
    }
    if (m.prevIndex < this.log.committed) {
      // Already committed here: tell the leader where we are instead.
      this.send({ type: 'app-resp', to: m.from, reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const r = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.entries);
    if (r) {
      this.onAppended(r.appended);
      this.commitTo(Math.min(m.commit, r.lastNew));
      this.send({ type: 'app-resp', to: m.from, reject: false, index: r.lastNew, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // Raft §5.3 with fast backtracking: hint the largest index whose term <= prevTerm, so the
    // leader can skip a whole term of mismatching entries per round trip.
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({ type: 'app-resp', to: m.from, reject: true, index: m.prevIndex, hintIndex, hintTerm });
  }

  private handleHeartbeat(m: MsgHeartbeat): void {
    this.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeat-resp', to: m.from, ctx: m.ctx });
  }

  private handleSnapshot(m: MsgSnap): void {
    const s = m.snapshot;
    if (this.restore(s)) {
      this.send({ type: 'app-resp', to: m.from, reject: false, index: this.log.lastIndex(), hintIndex: 0, hintTerm: 0 });
    } else {
      this.send({ type: 'app-resp', to: m.from, reject: false, index: this.log.committed, hintIndex: 0, hintTerm: 0 });
    }
  }

  /** Install a snapshot from the leader (Raft §7). False if it brings nothing new. */
  private restore(s: Snapshot): boolean {
    const { index, term } = s.meta;
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term) || index < 0 || term < 0 || term > this.term) return false;
    const bootstrapSnap = index === 0 && this.voters.size === 0 && this.learners.size === 0 && this.log.lastIndex() === 0;
    if (index <= this.log.committed && !bootstrapSnap) return false;
    if (!bootstrapSnap && this.log.matchTerm(index, term)) {
      // We have the snapshot's last entry: the prefix up to it is committed, nothing to install.
      this.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.voters.clear();
    this.learners.clear();
    for (const v of s.meta.conf.voters) this.voters.add(v);
    for (const l of s.meta.conf.learners) if (!this.voters.has(l)) this.learners.add(l);
    this.confIndexes = [];
    this.resetProgress();
    return true;
  }

  private handleAppResp(m: MsgAppResp, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      if (m.index === 0) {
        // The follower has no membership: it needs the snapshot even if that is the bootstrap one at index 0.
        if (pr.state !== 'snapshot') this.sendSnapshot(m.from, pr, true);
        return;
      }
      let hint = m.hintIndex;
      // The follower's hint is its last index with term <= our prevTerm; map it through our own
      // log the same way, so one round trip skips every entry of a mismatching term on both sides.
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.hintIndex, m.hintTerm)[0];
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    if (m.index > this.log.lastIndex()) return; // nonsense: we never sent that
    const wasPaused = pr.isPaused();
    const updated = pr.maybeUpdate(m.index);
    if (pr.state === 'snapshot' && (m.index >= pr.pendingSnapshot || pr.match + 1 >= this.log.firstIndex())) {
      // The snapshot (or the entries after it) arrived: replicate from here.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (!updated) {
      return;
    } else if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    // A commit advance broadcasts; otherwise a follower that was paused needs a nudge.
    if (!this.leaderMaybeCommit() && wasPaused) this.maybeSendAppend(m.from, false);
    if (this.state !== 'leader') return;
    // Fill the pipeline: keep sending while there is something to send and room in flight.
    for (let i = 0; i <= this.cfg.inflightMsgsMax && this.maybeSendAppend(m.from, false); i++);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResp(m: MsgHeartbeatResp, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A heartbeat answer means the link works: free a slot so a lost MsgApp cannot stall us.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
    if (m.ctx.byteLength === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.ctx);
    if (!acks) return;
    let n = 0;
    for (const v of this.voters) if (acks.has(v)) n++;
    if (n >= this.quorum()) this.readStates.push(...this.readOnly.advance(m.ctx));
  }

  // ---------------------------------------------------------------------------------------------
  // Leader: proposals, replication, commit

  private requireLeader(): void {
    if (this.state !== 'leader') {
      throw new CairnError('NotLeader', this.lead ? `not the leader; the leader is ${this.lead}` : 'not the leader; no leader known', {
        leader: this.lead,
      });
    }
  }

  private appendProposal(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const size = data.byteLength;
    // A lone oversized proposal is let through when nothing is pending, so it cannot starve.
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.cfg.uncommittedBytesMax) {
      throw new CairnError('ProposalDropped', `too many uncommitted bytes (${this.uncommittedBytes}, max ${this.cfg.uncommittedBytesMax})`);
    }
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([e]);
    this.onAppended([e]);
    this.uncommittedBytes += size;
    this.pendingBcast = true; // batched: one MsgApp per follower at the next ready()
    return { index: e.index, term: e.term };
  }

  private processRead(ctx: Uint8Array): void {
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.readStates.push({ index: this.log.committed, ctx });
      return;
    }
    if (this.readOnly.add(this.log.committed, ctx, this.id)) this.bcastHeartbeat(ctx);
  }

  private send(m: Outgoing): void {
    // Every caller hands over a fresh literal, completed here in place: a copy by object spread
    // took ~1.7 µs per message in V8 (it copies a spread followed by more properties slowly).
    const full = m as Message;
    full.from = this.id;
    full.term = m.term ?? this.term;
    this.msgs.push(full);
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  private bcastHeartbeat(ctx: Uint8Array | null): void {
    const c = ctx ?? this.readOnly.lastPendingCtx() ?? EMPTY;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what it is known to have.
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), ctx: c });
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeout-now', to });
  }

  /** Send a MsgApp (or a snapshot) to `to` if its progress allows. Returns whether a message was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | null = null;
    if (prevTerm !== null) {
      try {
        ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxMsgBytes);
      } catch (e) {
        if (!(e instanceof RaftCompactedError)) throw e;
      }
    }
    if (prevTerm === null || ents === null) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', to, prevIndex, prevTerm, entries: ents, commit: this.log.committed });
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1]!.index : null);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress, bootstrap = false): boolean {
    // Do not ship a (possibly large) snapshot to a node we have not heard from lately.
    if (!pr.recentActive) return false;
    const snap = this.log.latestSnapshot();
    if (snap.meta.index === 0 && !bootstrap) return false;
    pr.becomeSnapshot(snap.meta.index);
    this.send({ type: 'snap', to, snapshot: snap });
    return true;
  }

  /**
   * Leader: advance the commit index to the highest index a quorum of voters has durably,
   * if that entry is of the current term (Raft §5.4.2). Returns whether it advanced.
   */
  private leaderMaybeCommit(): boolean {
    let advanced = false;
    // Bounded: each round strictly raises the commit index (a committed removal may shrink
    // the quorum and allow another round).
    while (this.state === 'leader') {
      const matches: number[] = [];
      for (const v of this.voters) matches.push(this.prs.get(v)?.match ?? 0);
      if (matches.length === 0) break;
      matches.sort((a, b) => b - a);
      const mi = matches[this.quorum() - 1]!;
      if (mi <= this.log.committed || this.log.term(mi) !== this.term) break;
      this.commitTo(mi);
      advanced = true;
    }
    if (advanced && this.state === 'leader') {
      // Tell followers the new commit index. Batched like proposals: one MsgApp per follower at
      // the next ready() carries every commit advance and every entry of the turn. A leader that
      // is stepping down (its removal committed) tells them now, while it still leads.
      if (this.voters.has(this.id)) this.pendingBcast = true;
      else {
        this.bcastAppend();
        this.stepDownAfterRemoval();
      }
    }
    return advanced;
  }

  /** The committed membership no longer includes this leader: hand over and step down. */
  private stepDownAfterRemoval(): void {
    const last = this.log.lastIndex();
    const successor = [...this.voters].sort().find((v) => this.prs.get(v)?.match === last);
    if (successor !== undefined) this.sendTimeoutNow(successor);
    this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------------------------------------
  // Commit and membership

  /** Raise the commit index (any role) and put committed ConfChange entries into effect. */
  private commitTo(i: number): void {
    if (!this.log.commitTo(i)) return;
    while (this.confIndexes.length > 0 && this.confIndexes[0]! <= this.log.committed) {
      const idx = this.confIndexes.shift()!;
      const e = this.log.slice(idx, idx + 1, Infinity)[0];
      if (e && e.type === EntryType.ConfChange) this.applyConfChangeData(e.data);
    }
    if (this.state === 'leader' && this.heldReads.length > 0 && this.log.term(this.log.committed) === this.term) {
      const held = this.heldReads;
      this.heldReads = [];
      for (const ctx of held) this.processRead(ctx);
    }
  }

  /** Track ConfChange entries appended (after a possible truncation of a suffix). */
  private onAppended(appended: Entry[]): void {
    if (appended.length === 0) return;
    const first = appended[0]!.index;
    if (this.confIndexes.length > 0) this.confIndexes = this.confIndexes.filter((i) => i < first);
    for (const e of appended) if (e.type === EntryType.ConfChange) this.confIndexes.push(e.index);
  }

  private applyConfChangeData(data: Uint8Array): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(data);
    } catch {
      return; // a malformed entry cannot come from our own leader validation; ignore it
    }
    const next = this.log.lastIndex() + 1;
    switch (cc.type) {
      case 'addLearner': {
        if (this.voters.has(cc.node)) return;
        this.learners.add(cc.node);
        if (!this.prs.has(cc.node)) {
          const pr = new Progress(next, this.cfg.inflightMsgsMax, true);
          pr.recentActive = true;
          this.prs.set(cc.node, pr);
        }
        return;
      }
      case 'addVoter': {
        this.learners.delete(cc.node);
        this.voters.add(cc.node);
        const pr = this.prs.get(cc.node);
        if (pr) pr.isLearner = false;
        else {
          const p = new Progress(next, this.cfg.inflightMsgsMax, false);
          p.recentActive = true;
          this.prs.set(cc.node, p);
        }
        return;
      }
      case 'removeNode':
        this.voters.delete(cc.node);
        this.learners.delete(cc.node);
        if (cc.node !== this.id) this.prs.delete(cc.node);
        if (this.leadTransferee === cc.node) this.leadTransferee = null;
        return;
    }
  }
}

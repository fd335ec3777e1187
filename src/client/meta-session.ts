/**
 * A session with the metadata service: finds the leader from any subset of metadata addresses,
 * follows NotLeader hints, and retries calls that are safe to retry until a deadline.
 *
 * Safe retries: a call marked `idempotent` (reads, or writes carrying a (client, seq) request id
 * that the state machine deduplicates) is retried on the codes the error table marks retryable
 * (util/errors.ts: Unavailable, NotLeader, Timeout, ProposalDropped); anything else fails at
 * once with the server's typed error, and so does StaleRing (retryable only once the caller
 * has refreshed its placement view: the same request would be refused again). Any call is
 * re-sent after an error that means it was not applied (NotLeader, ProposalDropped, a
 * connection that never opened).
 *
 * Members: the session starts from the configured addresses. A NotLeader hint naming an address
 * it does not know adds that address; with memberRefreshMs set, the leader's own membership
 * (raft.status: voters and learners with their addresses) replaces the list after the first
 * success and then at most every memberRefreshMs, so a metadata server removed at runtime is no
 * longer dialled and one added is. With memberRefreshMs set, a session answered by a follower
 * (which forwards calls to the leader) moves to the leader itself once raft.status confirms it.
 */
import type { Timers } from '../env/clock.js';
import type { Clock } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { decodeRaftStatus } from '../proto/meta-answers.js';
import { CairnError, isCairnError, isRetryable } from '../util/errors.js';
import { META_CALL_TIMEOUT_MS_DEFAULT, META_RETRY_DEADLINE_MS_DEFAULT, META_UNREACHABLE_GIVE_UP_MS_DEFAULT } from '../config/defaults.js';

/** One connection to one server (net/RpcClient implements it). */
export interface RpcConn {
  call(method: string, body: unknown, opts?: { timeoutMs?: number; requestId?: string }): Promise<unknown>;
  close(): void;
}

export type Dial = (addr: string) => RpcConn;

/** At most this often a session answered by a server not confirmed as the leader asks who leads. */
const LEADER_CHECK_MS = 1000;
/**
 * And this often even when answered by the confirmed leader: after a leader change the old
 * leader, now a follower, answers by forwarding, and only asking shows it.
 */
const LEADER_RECHECK_MS = 10_000;

export interface MetaSessionComponents {
  dial: Dial;
  clock: Clock;
  timers: Timers;
  rng: Rng;
}

export interface MetaSessionInit {
  /** Metadata server addresses; any subset of the group works. */
  addrs: string[];
  /** Per-attempt timeout. @default 5000 */
  callTimeoutMs?: number;
  /** Give up retrying after this long. @default 30000 */
  retryDeadlineMs?: number;
  /**
   * Give up sooner when not one address has accepted a connection for this long: a cluster
   * that is down (or a wrong --meta) fails in seconds instead of after the whole retry
   * deadline, while a leader change (the other servers still answer) keeps retrying.
   * @default 5000
   */
  unreachableGiveUpMs?: number;
  /** Refresh the member list from the leader at most this often; 0: never. @default 0 */
  memberRefreshMs?: number;
}

export class MetaSession {
  private readonly c: MetaSessionComponents;
  private addrs: string[];
  private readonly callTimeoutMs: number;
  private readonly memberRefreshMs: number;
  /** When the member list was last refreshed (clock ms); null: never. */
  private refreshedAtMs: number | null = null;
  private refreshing = false;
  private readonly retryDeadlineMs: number;
  private readonly unreachableGiveUpMs: number;
  /** Addresses whose last connection attempt failed, and since when all of them have. */
  private readonly unreachable = new Set<string>();
  private allUnreachableSinceMs: number | null = null;
  private readonly conns = new Map<string, RpcConn>();
  /** Best guess of the leader's address (where calls go; may be a follower that forwards them). */
  private leaderAddr: string | null = null;
  /** The address raft.status last confirmed as the leader's, and when that was last checked. */
  private confirmedLeader: string | null = null;
  private leaderCheckedAtMs: number | null = null;
  private next = 0;
  private closed = false;

  constructor(c: MetaSessionComponents, init: MetaSessionInit) {
    if (init.addrs.length === 0) throw new CairnError('InvalidArgument', 'no metadata server address given');
    this.c = c;
    this.addrs = [...init.addrs];
    this.callTimeoutMs = init.callTimeoutMs ?? META_CALL_TIMEOUT_MS_DEFAULT;
    this.retryDeadlineMs = init.retryDeadlineMs ?? META_RETRY_DEADLINE_MS_DEFAULT;
    this.unreachableGiveUpMs = init.unreachableGiveUpMs ?? META_UNREACHABLE_GIVE_UP_MS_DEFAULT;
    this.memberRefreshMs = init.memberRefreshMs ?? 0;
    this.next = c.rng.int(this.addrs.length);
  }

  /**
   * Call the leader. A non-idempotent call is sent again only when it certainly was not applied
   * (NotLeader, ProposalDropped, or its connection never opened); any other error of it (a
   * Timeout: outcome unknown) is thrown at once.
   * `timeoutMs` overrides the per-attempt timeout (a long poll needs more than its wait);
   * `requestId` goes with every attempt, for the servers' logs.
   */
  async call(method: string, body: unknown, opts: { idempotent?: boolean; timeoutMs?: number; requestId?: string } = {}): Promise<unknown> {
    const deadline = this.c.clock.nowMs() + this.retryDeadlineMs;
    let attempt = 0;
    let hops = 0;
    let lastErr: unknown = null;
    while (!this.closed) {
      const sentWith = this.leaderAddr;
      const addr = sentWith ?? this.addrs[this.next++ % this.addrs.length]!;
      try {
        const timeoutMs = opts.timeoutMs ?? this.callTimeoutMs;
        const out = await this.conn(addr).call(method, body, opts.requestId === undefined ? { timeoutMs } : { timeoutMs, requestId: opts.requestId });
        // Unless the session learned better while this call was out (a hint, the leader check).
        if (this.leaderAddr === sentWith) this.leaderAddr = addr;
        this.reachable(addr);
        this.checkLeaderAndMembers(addr);
        return out;
      } catch (err) {
        if (this.closed) throw closedError();
        lastErr = err;
        if (isCairnError(err) && err.detail?.connectFailed === true) this.noConnection(addr);
        else this.reachable(addr);
        if (!isCairnError(err) || !isRetryable(err.code)) throw err;
        // Retryable, but not as sent: the caller must refresh its placement view and send a
        // request with the new ring version (client/file-writer.ts). Nothing was applied.
        if (err.code === 'StaleRing') throw err;
        // NotLeader, ProposalDropped (refused before it was appended, or its entry overwritten
        // by a newer leader's) and a connection that was never made all mean the request was not
        // applied: always safe to send (elsewhere) again.
        const applied = err.code !== 'NotLeader' && err.code !== 'ProposalDropped' && err.detail?.connectFailed !== true;
        if (err.code === 'NotLeader') {
          const hint = err.detail?.leaderAddr;
          this.leaderAddr = typeof hint === 'string' && hint !== addr ? hint : null;
          if (this.leaderAddr !== null && !this.addrs.includes(this.leaderAddr)) this.addrs.push(this.leaderAddr);
        } else {
          this.dropConn(addr);
          this.leaderAddr = null;
        }
        if (applied && !opts.idempotent) throw err;
      }
      if (this.c.clock.nowMs() >= deadline) break;
      if (this.allUnreachableSinceMs !== null && this.c.clock.nowMs() - this.allUnreachableSinceMs >= this.unreachableGiveUpMs) {
        const why = lastErr instanceof Error ? lastErr.message : 'no answer';
        throw new CairnError('Unavailable', `no metadata server reachable at ${this.addrs.join(',')} (${why})`);
      }
      // Back off when there is no fresh hint, and now and then even with one (stale hints can
      // ping-pong during an election); jitter spreads the retries of many clients.
      if (this.leaderAddr === null || ++hops % (this.addrs.length + 1) === 0) {
        const ms = Math.min(1000, 20 * 2 ** Math.min(attempt++, 6)) * (0.5 + this.c.rng.next());
        await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, ms));
      }
    }
    if (this.closed) throw closedError();
    const why = lastErr instanceof Error ? lastErr.message : 'no answer';
    throw new CairnError('Unavailable', `no metadata leader answered within ${this.retryDeadlineMs} ms (${why})`);
  }

  /** Every call in flight, and every later one, fails with Closed. */
  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  /** The metadata addresses the session dials now (configured, then as refreshed). */
  members(): readonly string[] {
    return this.addrs;
  }

  /**
   * In the background, after a call `addr` answered: whether `addr` is the leader, and the
   * member list from the leader (errors keep what the session has). A follower answers a
   * client's call by forwarding it to the leader (leader-forwarder.ts), which costs that
   * follower a receive and a send per call and the call a hop: once the leader is confirmed
   * (raft.status of `addr`, then of the leader it names) and answers, calls go to it directly.
   * A session that reaches only a follower (the leader cut off from it) keeps using the
   * follower. Checked when a call was answered by an address not confirmed as the leader (at
   * most every LEADER_CHECK_MS), every LEADER_RECHECK_MS otherwise (a confirmed leader that lost
   * an election since forwards too), and for members at most every memberRefreshMs.
   */
  private checkLeaderAndMembers(addr: string): void {
    if (this.memberRefreshMs <= 0 || this.refreshing || this.closed) return;
    const now = this.c.clock.nowMs();
    const membersDue = this.refreshedAtMs === null || now - this.refreshedAtMs >= this.memberRefreshMs;
    const sinceCheckMs = this.leaderCheckedAtMs === null ? Infinity : now - this.leaderCheckedAtMs;
    const leaderUnsure = sinceCheckMs >= (addr === this.confirmedLeader ? LEADER_RECHECK_MS : LEADER_CHECK_MS);
    if (!membersDue && !leaderUnsure) return;
    this.refreshing = true;
    this.leaderCheckedAtMs = now;
    if (membersDue) this.refreshedAtMs = now;
    const ask = (at: string): Promise<ReturnType<typeof decodeRaftStatus>> => this.conn(at).call('raft.status', {}, { timeoutMs: this.callTimeoutMs }).then(decodeRaftStatus);
    const check = async (): Promise<void> => {
      let at = addr;
      let st = await ask(addr);
      if (st.role !== 'leader') {
        const named = st.leader === null ? undefined : st.addrs[st.leader];
        if (named === undefined || named === '' || named === addr) return;
        at = named;
        st = await ask(named);
      }
      if (st.role !== 'leader' || this.closed) return;
      this.confirmedLeader = at;
      if (this.leaderAddr === addr && at !== addr) {
        if (!this.addrs.includes(at)) this.addrs.push(at);
        this.leaderAddr = at;
      }
      if (!membersDue) return;
      const next = [...st.conf.voters, ...st.conf.learners].map((id) => st.addrs[id]).filter((a): a is string => a !== undefined && a !== '');
      if (next.length === 0) return;
      for (const old of this.addrs) if (!next.includes(old)) this.dropConn(old);
      this.addrs = next;
      for (const a of this.unreachable) if (!next.includes(a)) this.unreachable.delete(a);
    };
    check()
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = false;
      });
  }

  private reachable(addr: string): void {
    this.unreachable.delete(addr);
    this.allUnreachableSinceMs = null;
  }

  private noConnection(addr: string): void {
    this.unreachable.add(addr);
    if (this.allUnreachableSinceMs === null && this.addrs.every((a) => this.unreachable.has(a))) {
      this.allUnreachableSinceMs = this.c.clock.nowMs();
    }
  }

  private conn(addr: string): RpcConn {
    let c = this.conns.get(addr);
    if (!c) {
      c = this.c.dial(addr);
      this.conns.set(addr, c);
    }
    return c;
  }

  private dropConn(addr: string): void {
    this.conns.get(addr)?.close();
    this.conns.delete(addr);
  }
}

function closedError(): CairnError {
  return new CairnError('Closed', 'client closed');
}

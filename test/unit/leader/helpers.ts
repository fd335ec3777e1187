/**
 * A MetaLeader over fakes: manual time, a fake of the narrow LeaderRaft interface that applies
 * proposals at once to a real MetaStateMachine over the in-memory KV store, and a fake token
 * signer. Reads and proposals can be held (raft.hold()) to change leadership while a call waits.
 */
import { MetaStateMachine } from '../../../src/consensus/meta-state-machine.js';
import { MetaLeader, type Caller, type LeaderRaft, type LeaderRaftStatus, type MetaLeaderOptions } from '../../../src/leader/index.js';
import { readRing } from '../../../src/meta/cluster-map.js';
import type { Ring } from '../../../src/placement/index.js';
import { EntryType } from '../../../src/raft/types.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';
import { ManualTime } from '../../support/manual-time.js';

/** The Raft group as the leader package sees it, with this server ('m1') leading term 1. */
export class FakeRaft implements LeaderRaft {
  role: LeaderRaftStatus['role'] = 'leader';
  term = 1;
  leader: string | null = 'm1';
  readonly store = new MemoryKvStore();
  readonly machine = new MetaStateMachine(this.store);
  proposals = 0;
  reads = 0;
  private index = 0;
  private gate: { wait: Promise<void>; open: () => void } | null = null;

  isLeader(): boolean {
    return this.role === 'leader';
  }

  status(): LeaderRaftStatus {
    const addrs = Object.fromEntries(['m1', 'm2', 'm3'].map((id) => [id, `${id}.meta:7000`]));
    return { id: 'm1', role: this.role, term: this.term, leader: this.leader, commit: this.index, applied: this.index, lastIndex: this.index, conf: { voters: ['m1', 'm2', 'm3'], learners: [] }, addrs, progress: null };
  }

  notLeader(): CairnError {
    return new CairnError('NotLeader', 'not the leader', { leader: this.leader, leaderAddr: this.leader ? this.addrOf(this.leader) : null });
  }

  async propose(data: Uint8Array): Promise<unknown> {
    if (!this.isLeader()) throw this.notLeader();
    this.proposals++;
    await this.gate?.wait;
    const [result] = await this.machine.apply([{ term: this.term, index: ++this.index, type: EntryType.Normal, data }]);
    return result;
  }

  async linearizableRead(): Promise<void> {
    if (!this.isLeader()) throw this.notLeader();
    this.reads++;
    await this.gate?.wait;
  }

  addrOf(id: string): string | undefined {
    return `${id}.meta:7000`;
  }

  /** Membership (MembershipRaft): the dispatch tests only need a leader check; changes are refused. */
  changeMembership(): Promise<unknown> {
    return Promise.reject(this.isLeader() ? new CairnError('ConfChangeInProgress', 'not in these tests') : this.notLeader());
  }

  transferLeadership(): void {
    if (!this.isLeader()) throw this.notLeader();
  }

  /** Reads and proposals from now on wait until the returned function is called (they then complete as committed). */
  hold(): () => void {
    let open!: () => void;
    const wait = new Promise<void>((resolve) => (open = resolve));
    this.gate = { wait, open };
    return () => {
      this.gate = null;
      open();
    };
  }

  /** Leadership lost to `leader` in a newer term. */
  stepDown(leader = 'm2'): void {
    this.role = 'follower';
    this.term++;
    this.leader = leader;
  }

  /** This server wins a newer term. */
  elect(): void {
    this.role = 'leader';
    this.term++;
    this.leader = 'm1';
  }

  ring(): Ring {
    return readRing(this.store);
  }
}

export const CLIENT: Caller = { role: 'client' };
export const server = (id: string): Caller => ({ role: 'service', id });
export const TB = 2 ** 40;

export interface Harness {
  leader: MetaLeader;
  raft: FakeRaft;
  time: ManualTime;
  call(method: string, body?: unknown, caller?: Caller, signal?: AbortSignal): Promise<unknown>;
  /** The CairnError a call fails with (fails the test if it succeeds). */
  refusal(method: string, body?: unknown, caller?: Caller): Promise<CairnError>;
  /** Register chunk servers and have each send a full report of `holds[id]`. */
  joinServers(ids: string[], holds?: Record<string, string[]>): Promise<void>;
}

export function harness(options: Partial<MetaLeaderOptions> = {}): Harness {
  const time = new ManualTime();
  const raft = new FakeRaft();
  let n = 0;
  const leader = new MetaLeader(
    {
      raft,
      members: raft,
      namespace: raft.machine,
      view: raft.store,
      clock: time,
      wallMs: () => 1_700_000_000_000 + time.nowMs(),
      timers: time,
      randomBytes: (len) => {
        const out = new Uint8Array(len);
        out[len - 1] = ++n;
        return out;
      },
      tokens: { signFor: (op, id) => `${op}:${id}`, signGrantFor: (prefix, ttlMs) => `grant:${prefix}:${ttlMs}` },
      logger: silentLogger,
    },
    { replicas: 3, deadAfterMs: 10_000, ...options },
  );
  const call = (method: string, body: unknown = {}, caller: Caller = CLIENT, signal?: AbortSignal): Promise<unknown> => leader.handle(method, body, caller, signal);
  return {
    leader,
    raft,
    time,
    call,
    async refusal(method, body = {}, caller = CLIENT) {
      try {
        await call(method, body, caller);
      } catch (err) {
        if (isCairnError(err)) return err;
        throw err;
      }
      throw new Error(`${method} succeeded`);
    },
    async joinServers(ids, holds = {}) {
      for (const id of ids) {
        await call('cs.register', { addr: `${id}.chunk:8000`, zone: `z-${id}`, capacityBytes: TB }, server(id));
        await call('cs.reportBegin', { report: 1 }, server(id));
        await call('cs.reportPage', { report: 1, ids: holds[id] ?? [] }, server(id));
        await call('cs.reportEnd', { report: 1 }, server(id));
      }
    },
  };
}

/** Has the promise settled (after pending microtasks ran)? */
export async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return done;
}

/**
 * RaftRuntime drives the pure core (src/raft) with real effects: durable log storage, a peer
 * transport, timers, and a pluggable state machine. Its Ready loop performs the steps of
 * ready-protocol.ts in their order (install, apply, send, persist, send, apply, reads), then
 * advances the core. Two of those steps run beside the loop:
 *
 *   - apply: committed entries go to an apply chain; they are applied to the state machine exactly
 *     once, in order (it stores its applied index in the same transaction as its changes, so
 *     restarts resume where they stopped), while the loop goes on persisting and sending the next
 *     Ready — applying overlaps the next fsync, as etcd's apply goroutine does. Entries of the
 *     Readies that arrive while a batch is applying are applied together next, in one
 *     state-machine transaction. At most applyLagEntriesMax entries wait in the chain; beyond
 *     that the loop waits for it. Entries committed by a message that arrives while the loop
 *     waits for a log write, and already durable here, join the chain at once (step 9).
 *   - stream: snapshots are streamed beside the Raft messages (snapshot-streams.ts): the core's
 *     snapshot holds no data, the state machine's own store is the image, and compaction only
 *     needs it flushed.
 *
 * The loop never runs twice at once: messages and proposals arriving while it awaits I/O are
 * stepped into the core and come out in the next Ready, whose effects follow the current one's.
 */
import type { Clock, Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { RaftNode, applyConfChange, decodeConfChange, encodeConfChange } from '../raft/index.js';
import {
  DEFAULT_RAFT_CONFIG,
  EntryType,
  type ConfChange,
  type ConfState,
  type Entry,
  type NodeId,
  type RaftConfig,
  type RaftLogStore,
  type RaftStatus,
} from '../raft/types.js';
import { encodeRaftMessageParts } from '../proto/raft-codec.js';
import type { FrameBytes } from '../net/frame.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { applyAddress, memberAddrsAtStart, rememberedAddrs } from './member-addrs.js';
import { ProposalTracker } from './proposal-tracker.js';
import type { StateMachine } from './state-machine.js';
import { ReadIndexBatcher } from './read-index-batcher.js';
import { decodePeerMessage, planReady, type ReadyStep } from './ready-protocol.js';
import { isSnapshotFrame } from './snapshot-transfer.js';
import { NO_DATA, SnapshotStreams, confAt } from './snapshot-streams.js';
import { COMPACTION_LAG_ENTRIES_DEFAULT, PROPOSE_TIMEOUT_MS_DEFAULT, RAFT_TICK_MS_DEFAULT, READ_TIMEOUT_MS_DEFAULT, SNAPSHOT_ENTRIES_DEFAULT } from '../config/defaults.js';

/** The part of the peer transport the runtime uses (implemented by net/PeerTransport and its in-memory twin). */
export interface PeerSender {
  /** Queue a frame for a peer; false when it was dropped (queue full, unknown peer). */
  send(to: NodeId, payload: FrameBytes): boolean;
  setPeers(peers: Map<NodeId, string>): void;
}

export interface RaftRuntimeComponents {
  clock: Clock;
  timers: Timers;
  rng: Rng;
  storage: RaftLogStore;
  transport: PeerSender;
  stateMachine: StateMachine;
  logger: Logger;
  /** Told each time the known leader changes (metrics). */
  onLeaderChange?: (leader: NodeId | null) => void;
  /**
   * Told after each durable write of the log (metrics): how long it took (clock ms), how many
   * entries it appended, and whether it was synced (false: a hard state alone, held for the next).
   */
  onPersisted?: (ms: number, entries: number, synced: boolean) => void;
  /**
   * Schedule a callback after the current event-loop turn (production: env/system's
   * systemDefer). With it, everything that arrives in one turn — proposals and peer messages
   * read from many sockets — is stepped into the core before the Ready loop starts, so it goes
   * out as ONE Ready: one log write and one send per peer. Without it the loop starts at once.
   */
  defer?: (fn: () => void) => void;
}

export interface RaftRuntimeInit {
  id: NodeId;
  /**
   * Addresses of the members to talk to. On the first start of a new cluster these are also
   * the initial voters; see `join`.
   */
  initialPeers: Map<NodeId, string>;
  /**
   * First start of a server joining an existing cluster: do not bootstrap a membership; wait
   * to be added (as a learner) and receive the log or a snapshot from the leader. @default false
   */
  join?: boolean;
  /** Length of one Raft tick. @default 100 */
  tickMs?: number;
  /** Core options (election/heartbeat ticks, limits). */
  raft?: Partial<Omit<RaftConfig, 'id' | 'applied'>>;
  /** Take a snapshot and compact the log after this many applied entries. @default 10000 */
  snapshotEntriesMin?: number;
  /** Entries kept behind a snapshot so slightly lagging followers need no snapshot. @default 1000 */
  compactionLagEntries?: number;
  /** How long a proposal may wait to be applied before it fails with Timeout. @default 10000 */
  proposeTimeoutMs?: number;
  /** How long a linearizable read may wait. @default 5000 */
  readTimeoutMs?: number;
  /**
   * How long a follower lets committed entries gather before applying them in one state-machine
   * transaction (a leader applies at once: its clients wait for the results). 0: at once.
   * @default FOLLOWER_APPLY_DELAY_MS_DEFAULT
   */
  followerApplyDelayMs?: number;
}

export class RaftRuntime {
  readonly id: NodeId;
  private readonly c: RaftRuntimeComponents;
  private readonly log: Logger;
  private readonly node: RaftNode;
  private readonly tickMs: number;
  private readonly snapshotEntriesMin: number;
  private readonly compactionLagEntries: number;

  /** Addresses of every member we know of, by id (kept in step with applied ConfChange entries). */
  private readonly addrs: Map<NodeId, string>;
  private readonly proposals: ProposalTracker;
  private readonly reads: ReadIndexBatcher;
  private readonly streams: SnapshotStreams;

  /** Last index applied to the state machine (results delivered, reads released up to here). */
  private applied: number;
  /** Last index handed to the apply chain (>= applied). */
  private scheduled: number;
  /** Applies run one after another on this chain, off the Ready loop. */
  private applyTail: Promise<void> = Promise.resolve();
  /**
   * Committed entries handed over but not yet taken by an apply on the chain. While one batch is
   * being applied, later Readies' entries gather here and go to the state machine together: one
   * state-machine transaction for all of them, however many Readies they came in.
   */
  private applyQueue: Entry[] = [];
  /** An apply waiting on the chain will take applyQueue (else the queue waits for applyTimer or the next Ready). */
  private applyLinked = false;
  /** A follower's queued entries are applied when this fires (see scheduleApply). */
  private applyTimer: { cancel(): void } | null = null;
  private readonly followerApplyDelayMs: number;
  private lastSnapshotIndex: number;
  /**
   * Membership as of `applied`, kept in step with the ConfChange entries applied: the core's at
   * start when nothing committed waits to be applied, else null until a snapshot first needs it
   * (then read once from the log). A snapshot records it; reading the log for it at every
   * snapshot cost a decode and a CRC of every entry since the last one.
   */
  private appliedConf: ConfState | null = null;
  private leader: NodeId | null = null;
  /** When a message from the leader of the time last arrived (clock ms); null: none yet. */
  private leaderContactAtMs: number | null = null;
  private role: RaftStatus['role'] = 'follower';
  private looping = false;
  /** The loop waits for a Ready's write of the log (see applyDuringWrite). */
  private writing = false;
  /** A deferred start of the loop is pending (see RaftRuntimeComponents.defer). */
  private kickPending = false;
  private stopped = false;
  private ticker: { cancel(): void } | null = null;
  private fatal: ((err: Error) => void) | null = null;
  private readonly idleWaiters: Array<() => void> = [];

  private constructor(c: RaftRuntimeComponents, init: RaftRuntimeInit, node: RaftNode, addrs: Map<NodeId, string>) {
    this.c = c;
    this.id = init.id;
    this.log = c.logger.child({ component: 'raft' });
    this.node = node;
    this.addrs = addrs;
    this.tickMs = init.tickMs ?? RAFT_TICK_MS_DEFAULT;
    this.snapshotEntriesMin = init.snapshotEntriesMin ?? SNAPSHOT_ENTRIES_DEFAULT;
    this.compactionLagEntries = init.compactionLagEntries ?? COMPACTION_LAG_ENTRIES_DEFAULT;
    this.followerApplyDelayMs = init.followerApplyDelayMs ?? FOLLOWER_APPLY_DELAY_MS_DEFAULT;
    this.applied = c.stateMachine.appliedIndex();
    this.scheduled = this.applied;
    this.lastSnapshotIndex = c.storage.firstIndex() - 1;
    // The core's membership is as of its commit index, which at start is often the applied one.
    const core = node.status();
    if (core.commit === this.applied) this.appliedConf = core.conf;
    this.proposals = new ProposalTracker({ timers: c.timers }, { proposeTimeoutMs: init.proposeTimeoutMs ?? PROPOSE_TIMEOUT_MS_DEFAULT });
    this.reads = new ReadIndexBatcher(
      {
        timers: c.timers,
        readIndex: (ctx) => this.node.readIndex(ctx),
        notLeader: () => this.notLeader(),
        isLeader: () => this.role === 'leader',
        kick: () => this.kick(),
      },
      { id: this.id, readTimeoutMs: init.readTimeoutMs ?? READ_TIMEOUT_MS_DEFAULT },
    );
    this.streams = new SnapshotStreams(
      {
        timers: c.timers,
        clock: c.clock,
        logger: this.log,
        storage: c.storage,
        stateMachine: c.stateMachine,
        core: node,
        send: (to, payload) => c.transport.send(to, payload),
        kick: () => this.kick(),
      },
      { id: this.id },
    );
  }

  /**
   * Open the runtime over existing storage, bootstrapping the membership on first start.
   * The state machine must already be open: its applied index tells the core where to resume.
   */
  static async create(c: RaftRuntimeComponents, init: RaftRuntimeInit): Promise<RaftRuntime> {
    if (!c.storage.isBootstrapped() && !init.join) {
      assert(init.initialPeers.has(init.id), `initial peers must include ${init.id}`);
      await c.storage.bootstrap({ voters: [...init.initialPeers.keys()].sort(), learners: [] });
    }
    // A crash between installing a received snapshot in the log and swapping in its staged
    // image leaves the log ahead of the state: finish the swap (the image is durable in staging).
    const snapIndex = c.storage.firstIndex() - 1;
    if (c.stateMachine.appliedIndex() < snapIndex) {
      if (c.stateMachine.stagedSnapshotIndex() !== snapIndex)
        throw new CairnError('Internal', `log starts after ${snapIndex} but the state machine is at ${c.stateMachine.appliedIndex()} with no staged image`);
      await c.stateMachine.installSnapshot(snapIndex);
    }
    const applied = c.stateMachine.appliedIndex();
    const config: RaftConfig = { ...DEFAULT_RAFT_CONFIG, ...init.raft, id: init.id, applied };
    const node = new RaftNode(config, c.storage, c.rng);
    // Where to dial each member (member-addrs.ts).
    const addrs = memberAddrsAtStart(c.stateMachine, c.storage, node.status().conf, init.initialPeers);
    const rt = new RaftRuntime(c, init, node, addrs);
    c.transport.setPeers(rt.peerAddrs());
    return rt;
  }

  /** Start ticking. `onFatal` is called if durable storage fails: the process must stop. */
  start(onFatal: (err: Error) => void): void {
    this.fatal = onFatal;
    this.ticker = this.c.timers.setInterval(() => {
      this.node.tick();
      this.kick();
    }, this.tickMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ticker?.cancel();
    this.applyTimer?.cancel();
    const err = new CairnError('Unavailable', 'server is shutting down');
    this.proposals.failAll(err);
    this.reads.failAll(err);
    this.streams.close('server is shutting down');
    if (this.looping) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.applyTail.catch(() => undefined);
  }

  /** A frame from an authenticated peer. Malformed frames throw ProtocolError (the transport counts and drops them). */
  receive(from: NodeId, payload: Uint8Array): void {
    if (this.stopped) return;
    if (isSnapshotFrame(payload)) {
      this.streams.onFrame(from, payload);
      return;
    }
    if (from === this.leader) this.leaderContactAtMs = this.c.clock.nowMs();
    this.node.step(decodePeerMessage(from, this.id, payload));
    if (this.writing) this.applyDuringWrite();
    this.kick();
  }

  /**
   * Replicate a command and resolve with the state machine's result once it is applied here.
   * Rejects with NotLeader (detail.leader/leaderAddr), ProposalDropped, or Timeout (outcome
   * unknown: retry with the same request id; the state machine deduplicates).
   */
  propose(data: Uint8Array): Promise<unknown> {
    try {
      this.checkRunning();
      const { index, term } = this.wrapLeaderErrors(() => this.node.propose(data));
      return this.proposals.track(index, term);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Add a learner, promote a caught-up learner (addVoter) or remove a member. Resolves when applied. */
  changeMembership(type: ConfChange['type'], node: NodeId, addr?: string): Promise<unknown> {
    try {
      this.checkRunning();
      const cc: ConfChange = { type, node };
      if (addr !== undefined) cc.context = new TextEncoder().encode(addr);
      const { index, term } = this.wrapLeaderErrors(() => this.node.proposeConfChange(cc));
      return this.proposals.track(index, term);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolve once this node's state machine reflects every write committed before the call
   * (ReadIndex, Raft thesis §6.4). Concurrent reads share one confirmation round.
   */
  linearizableRead(): Promise<void> {
    if (this.stopped) return Promise.reject(new CairnError('Unavailable', 'server is shutting down'));
    if (this.role !== 'leader') return Promise.reject(this.notLeader());
    return this.reads.read();
  }

  /** The transport could not deliver to `id`: the leader stops pipelining to it and probes. */
  reportUnreachable(id: NodeId): void {
    if (this.stopped) return;
    this.node.reportUnreachable(id);
    this.kick();
  }

  transferLeadership(to: NodeId): void {
    this.checkRunning();
    this.wrapLeaderErrors(() => this.node.transferLeadership(to));
    this.kick();
  }

  /** `leaderContactMs`: since a message from the leader arrived (0 on the leader, null: none yet). */
  status(): RaftStatus & { addrs: Record<NodeId, string>; leaderContactMs: number | null } {
    const at = this.leaderContactAtMs;
    const leaderContactMs = this.role === 'leader' ? 0 : at === null ? null : Math.max(0, Math.round(this.c.clock.nowMs() - at));
    return { ...this.node.status(), applied: this.applied, addrs: Object.fromEntries(this.addrs), leaderContactMs };
  }

  leaderId(): NodeId | null {
    return this.leader;
  }

  addrOf(id: NodeId): string | undefined {
    return this.addrs.get(id);
  }

  isLeader(): boolean {
    return this.role === 'leader';
  }

  notLeader(): CairnError {
    const leader = this.leader;
    return new CairnError('NotLeader', leader ? `not the leader; the leader is ${leader}` : 'not the leader; no leader known', {
      leader,
      leaderAddr: leader ? (this.addrs.get(leader) ?? null) : null,
    });
  }

  // -------------------------------------------------------------------------------------------

  private checkRunning(): void {
    if (this.stopped) throw new CairnError('Unavailable', 'server is shutting down');
  }

  private wrapLeaderErrors<T>(fn: () => T): T {
    try {
      const out = fn();
      this.kick();
      return out;
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NotLeader') throw this.notLeader();
      throw err;
    }
  }

  private peerAddrs(): Map<NodeId, string> {
    const out = new Map(this.addrs);
    out.delete(this.id);
    return out;
  }

  /** Run the Ready loop unless it is already running (after the current turn, given `defer`). */
  private kick(): void {
    if (this.looping || this.stopped || this.kickPending) return;
    const defer = this.c.defer;
    if (defer === undefined) return this.runLoop();
    this.kickPending = true;
    defer(() => {
      this.kickPending = false;
      this.runLoop();
    });
  }

  private runLoop(): void {
    if (this.looping || this.stopped) return;
    if (!this.node.hasReady()) return;
    this.looping = true;
    this.loop().then(
      () => {
        this.looping = false;
        for (const w of this.idleWaiters.splice(0)) w();
        if (!this.stopped && this.node.hasReady()) this.kick();
      },
      (err: unknown) => {
        this.looping = false;
        this.stopped = true;
        this.ticker?.cancel();
        for (const w of this.idleWaiters.splice(0)) w();
        const e = err instanceof Error ? err : new Error(String(err));
        this.log.error('raft loop failed; stopping', { err: e.message, stack: e.stack });
        this.fatal?.(e);
      },
    );
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.node.hasReady()) {
      const rd = this.node.ready();
      this.streams.readyTaken(rd);
      for (const step of planReady(rd, { role: this.role, lastIndex: this.c.storage.lastIndex() })) await this.perform(step);
      this.node.advance(rd);
    }
  }

  /** One step of the Ready protocol (ready-protocol.ts); resolves once it is done (durable, for persist and install). */
  private async perform(step: ReadyStep): Promise<void> {
    const { storage, stateMachine, transport } = this.c;
    switch (step.kind) {
      case 'soft-state':
        return this.onSoftState(step.leader, step.role);
      case 'install': {
        const snap = step.snapshot;
        // Entries handed to the chain before the snapshot finish first (the image supersedes them).
        if (this.applyQueue.length > 0) this.linkApply();
        await this.applyTail;
        await storage.applySnapshot(snap);
        // Index 0 is the bootstrap membership sent to a joining node: no state machine image.
        if (snap.meta.index > 0) {
          assert(stateMachine.stagedSnapshotIndex() === snap.meta.index, `snapshot ${snap.meta.index} is not the staged image (${stateMachine.stagedSnapshotIndex()})`);
          await stateMachine.installSnapshot(snap.meta.index);
          this.streams.installed();
        }
        this.applied = snap.meta.index;
        this.scheduled = snap.meta.index;
        this.lastSnapshotIndex = snap.meta.index;
        this.appliedConf = snap.meta.conf;
        this.proposals.replacedThrough(snap.meta.index);
        // The image knows members added at runtime that --peers may not name.
        let learned = false;
        for (const [id, a] of rememberedAddrs(stateMachine, snap.meta.conf))
          if (!this.addrs.has(id)) {
            this.addrs.set(id, a);
            learned = true;
          }
        if (learned) transport.setPeers(this.peerAddrs());
        this.log.info('installed snapshot', { index: snap.meta.index, term: snap.meta.term });
        return;
      }
      case 'apply':
        return this.scheduleApply(step.entries);
      case 'send':
        for (const m of step.messages) transport.send(m.to, encodeRaftMessageParts(m));
        return;
      case 'stream':
        return this.streams.stream(step.message);
      case 'persist': {
        if (!step.hardState && step.entries.length === 0) return;
        const from = this.c.clock.nowMs();
        this.writing = true;
        try {
          await storage.save(step.hardState, step.entries, step.mustSync);
        } finally {
          this.writing = false;
        }
        this.c.onPersisted?.(this.c.clock.nowMs() - from, step.entries.length, step.mustSync);
        return;
      }
      case 'reads':
        return this.reads.confirmed(step.readStates, this.applied);
    }
  }

  /**
   * Step 9 of the Ready protocol (ready-protocol.ts): a message stepped in while a write is under
   * way committed entries that are already durable here — on a leader, typically its previous
   * batch, acknowledged by a follower during the write of the next one. They go on the apply
   * chain now (their clients get their answers) instead of after that write: a commit cycle
   * otherwise waits one more log write of the leader's for nothing.
   */
  private applyDuringWrite(): void {
    const entries = this.node.takeCommitted();
    // A failed apply is fatal and surfaces through failFromApply.
    if (entries.length > 0) this.scheduleApply(entries).catch(() => undefined);
  }

  /**
   * Queue entries for the apply chain; waits only when the chain lags too far behind. A leader's
   * entries go on the chain at once. A follower's wait up to followerApplyDelayMs (or until
   * FOLLOWER_APPLY_BATCH_ENTRIES gather) so that several Readies' entries share one
   * state-machine transaction: nobody waits for a follower's results, and a follower that
   * becomes leader, installs a snapshot or falls too far behind applies what waits at once.
   */
  private async scheduleApply(entries: Entry[]): Promise<void> {
    assert(entries[0]!.index === this.scheduled + 1, `apply gap: scheduled ${this.scheduled}, next ${entries[0]!.index}`);
    this.scheduled = entries[entries.length - 1]!.index;
    for (const e of entries) this.applyQueue.push(e);
    const lagging = this.scheduled - this.applied > APPLY_LAG_ENTRIES_MAX;
    if (this.role === 'leader' || lagging || this.followerApplyDelayMs <= 0 || this.applyQueue.length >= FOLLOWER_APPLY_BATCH_ENTRIES) this.linkApply();
    else if (!this.applyLinked && this.applyTimer === null) {
      this.applyTimer = this.c.timers.setTimeout(() => {
        this.applyTimer = null;
        if (!this.stopped && this.applyQueue.length > 0) this.linkApply();
      }, this.followerApplyDelayMs);
    }
    // A failed apply is fatal: the loop surfaces it when it waits, failFromApply otherwise.
    if (lagging) await this.applyTail;
  }

  /** Put an apply of everything queued on the chain (unless one is already waiting there: it takes the queue when it runs). */
  private linkApply(): void {
    this.applyTimer?.cancel();
    this.applyTimer = null;
    if (this.applyLinked) return;
    this.applyLinked = true;
    this.applyTail = this.applyTail.then(() => this.applyEntries(this.takeApplyQueue()));
    this.applyTail.catch((err: unknown) => this.failFromApply(err));
  }

  private takeApplyQueue(): Entry[] {
    this.applyLinked = false;
    const entries = this.applyQueue;
    this.applyQueue = [];
    return entries;
  }

  private async applyEntries(entries: Entry[]): Promise<void> {
    if (this.stopped) return;
    const results = await this.c.stateMachine.apply(entries);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        if (this.appliedConf !== null) this.appliedConf = applyConfChange(this.appliedConf, cc);
        this.onConfChangeApplied(cc);
      }
      this.proposals.applied(e, results[i]);
    }
    this.applied = entries[entries.length - 1]!.index;
    this.reads.release(this.applied);
    await this.maybeSnapshot();
  }

  private failFromApply(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker?.cancel();
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error('applying committed entries failed; stopping', { err: e.message, stack: e.stack });
    this.fatal?.(e);
  }

  private onSoftState(leader: NodeId | null, role: RaftStatus['role']): void {
    const wasLeader = this.role === 'leader';
    if (leader !== this.leader || role !== this.role) this.log.info('role change', { role, leader, term: this.node.status().term });
    if (leader !== this.leader) this.c.onLeaderChange?.(leader);
    this.leader = leader;
    this.role = role;
    // A new leader applies at once what waited as a follower: its clients' results depend on it.
    if (role === 'leader' && this.applyQueue.length > 0) this.linkApply();
    if (wasLeader && role !== 'leader') {
      this.reads.failAll(this.notLeader());
      this.streams.abortSenders('leadership lost');
    }
  }

  private onConfChangeApplied(cc: ConfChange): void {
    applyAddress(this.addrs, cc);
    this.c.transport.setPeers(this.peerAddrs());
    this.log.info('membership change applied', { type: cc.type, node: cc.node });
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.applied - this.lastSnapshotIndex < this.snapshotEntriesMin) return;
    const { storage, stateMachine } = this.c;
    const index = stateMachine.appliedIndex();
    assert(index === this.applied, `state machine applied ${index}, runtime ${this.applied}`);
    // The state store is the image: the log may drop entries once the state covering them is durable.
    await stateMachine.flush();
    this.appliedConf ??= confAt(storage, index);
    const conf = this.appliedConf;
    const compactIndex = Math.max(storage.firstIndex() - 1, index - this.compactionLagEntries);
    await storage.createSnapshot({ meta: { index, term: storage.term(index), conf }, data: NO_DATA }, compactIndex);
    this.lastSnapshotIndex = index;
    this.log.info('snapshot taken', { index, compactIndex });
  }
}

/** Committed entries allowed to wait for the state machine before the Ready loop waits too. */
const APPLY_LAG_ENTRIES_MAX = 8192;
/** A follower's committed entries gather this long before one apply (see scheduleApply). */
const FOLLOWER_APPLY_DELAY_MS_DEFAULT = 50;
/** ...or until this many are queued. */
const FOLLOWER_APPLY_BATCH_ENTRIES = 512;

export { encodeConfChange };

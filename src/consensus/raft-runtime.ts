/**
 * RaftRuntime drives the pure core (src/raft) with real effects: durable log storage, a peer
 * transport, timers, and a pluggable state machine. The one loop below is the only place that
 * performs the Ready protocol, in this order (etcd-io/raft's Ready/Advance):
 *
 *   1. install a snapshot from the leader (log storage, then the image staged by the transfer)
 *   2. append entries + hard state in ONE durable write
 *   3. only then send messages ("persist before send": no vote or append is acknowledged
 *      before it is on disk, so kill -9 never loses an acknowledged entry or double-votes).
 *      One exception, Raft thesis §10.2.1: a leader's appends and heartbeats go out while its
 *      own write is in flight, so the leader's fsync and the followers' overlap. Safe because
 *      the core counts the leader's own copy only once it is durable (advance → stableTo), so
 *      nothing commits on the strength of an entry the leader has not yet written.
 *   4. hand committed entries to the apply chain: they are applied to the state machine exactly
 *      once, in order (it stores its applied index in the same transaction as its changes, so
 *      restarts resume where they stopped), while the loop goes on persisting and sending the
 *      next Ready — applying overlaps the next fsync, as etcd's apply goroutine does. At most
 *      applyLagEntriesMax entries wait in the chain; beyond that the loop waits for it.
 *   5. release linearizable reads whose ReadIndex has been applied
 *   6. advance the core
 *
 * Snapshots are streamed beside the Raft messages (snapshot-transfer.ts): the core's snapshot
 * holds no data, the state machine's own store is the image, and compaction only needs it flushed.
 *
 * The loop never runs twice at once: messages and proposals arriving while it awaits I/O are
 * stepped into the core and come out in the next Ready, whose effects follow the current one's.
 */
import type { Clock, Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import { decodeRaftMessage, encodeRaftMessage } from '../proto/raft-codec.js';
import {
  decodeSnapshotFrame,
  isSnapshotFrame,
  SnapshotReceiver,
  SnapshotSender,
  type SnapshotReader,
  type SnapshotWriter,
} from './snapshot-transfer.js';
import { RaftNode, decodeConfChange, encodeConfChange } from '../raft/index.js';
import {
  DEFAULT_RAFT_CONFIG,
  EntryType,
  type ConfChange,
  type ConfState,
  type Entry,
  type MsgSnap,
  type NodeId,
  type RaftConfig,
  type RaftLogStore,
  type RaftStatus,
  type Ready,
} from '../raft/types.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** A replicated state machine. Its state and applied index change together, atomically. */
export interface StateMachine {
  /** Index of the last entry applied (durably, or re-applied from the log after a crash). */
  appliedIndex(): number;
  /**
   * Apply committed entries, in index order, each exactly once. Leader no-ops (empty Normal
   * entries) and ConfChange entries carry no command but still advance the applied index.
   * Resolves with one result per entry (undefined for entries without a command).
   */
  apply(entries: Entry[]): Promise<unknown[]>;
  /** Resolve once everything applied so far is durable (the log is compacted behind it next). */
  flush(): Promise<void>;
  /** A consistent read view of the whole state at its applied index (sent to lagging followers). */
  openSnapshot(): Promise<SnapshotReader>;
  /** Start receiving an image into staging; a newer writer supersedes an older one. */
  beginSnapshotWrite(): SnapshotWriter;
  /** Index of an image finished in staging and not yet installed, or 0. */
  stagedSnapshotIndex(): number;
  /** Atomically replace the live state by the staged image finished at `index` (durable on return). */
  installSnapshot(index: number): Promise<void>;
}

/** The part of the peer transport the runtime uses (implemented by net/PeerTransport and its in-memory twin). */
export interface PeerSender {
  /** Queue a frame for a peer; false when it was dropped (queue full, unknown peer). */
  send(to: NodeId, payload: Uint8Array): boolean;
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
}

interface PendingProposal {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: { cancel(): void };
}

interface ReadWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: { cancel(): void };
}

interface ReadBatch {
  waiters: ReadWaiter[];
  /** Set once the core has confirmed the read index. */
  index: number | null;
}

export class RaftRuntime {
  readonly id: NodeId;
  private readonly c: RaftRuntimeComponents;
  private readonly log: Logger;
  private readonly node: RaftNode;
  private readonly tickMs: number;
  private readonly snapshotEntriesMin: number;
  private readonly compactionLagEntries: number;
  private readonly proposeTimeoutMs: number;
  private readonly readTimeoutMs: number;

  /** Addresses of every member we know of, by id (kept in step with applied ConfChange entries). */
  private readonly addrs: Map<NodeId, string>;
  private readonly pending = new Map<number, PendingProposal>();
  /** Reads waiting for the next ReadIndex round. */
  private nextReads: ReadWaiter[] = [];
  /** ReadIndex rounds in flight or waiting to be applied, by ctx key. */
  private readonly readBatches = new Map<string, ReadBatch>();
  private readSeq = 0;
  private readInFlight = false;
  /** Abandons a confirmation round that never completes (e.g. the leader lost its quorum). */
  private readRoundTimer: { cancel(): void } | null = null;

  /** Last index applied to the state machine (results delivered, reads released up to here). */
  private applied: number;
  /** Last index handed to the apply chain (>= applied). */
  private scheduled: number;
  /** Applies run one after another on this chain, off the Ready loop. */
  private applyTail: Promise<void> = Promise.resolve();
  private lastSnapshotIndex: number;
  private leader: NodeId | null = null;
  private role: RaftStatus['role'] = 'follower';
  private looping = false;
  private stopped = false;
  private ticker: { cancel(): void } | null = null;
  private fatal: ((err: Error) => void) | null = null;
  private readonly idleWaiters: Array<() => void> = [];
  /** Snapshot transfers this leader is sending, by follower. */
  private readonly senders = new Map<NodeId, SnapshotSender>();
  private transferSeq = 0;
  private readonly receiver: SnapshotReceiver;

  private constructor(c: RaftRuntimeComponents, init: RaftRuntimeInit, node: RaftNode, addrs: Map<NodeId, string>) {
    this.c = c;
    this.id = init.id;
    this.log = c.logger.child({ component: 'raft' });
    this.node = node;
    this.addrs = addrs;
    this.tickMs = init.tickMs ?? 100;
    this.snapshotEntriesMin = init.snapshotEntriesMin ?? 10_000;
    this.compactionLagEntries = init.compactionLagEntries ?? 1000;
    this.proposeTimeoutMs = init.proposeTimeoutMs ?? 10_000;
    this.readTimeoutMs = init.readTimeoutMs ?? 5000;
    this.applied = c.stateMachine.appliedIndex();
    this.scheduled = this.applied;
    this.lastSnapshotIndex = c.storage.firstIndex() - 1;
    this.receiver = new SnapshotReceiver({
      logger: this.log,
      send: (to, payload) => c.transport.send(to, payload),
      beginWrite: () => c.stateMachine.beginSnapshotWrite(),
      snapshotIndexOf: (from, msg) => this.snapshotMessage(from, msg).snapshot.meta.index,
      deliver: (from, msg) => {
        const m = this.snapshotMessage(from, msg);
        // The core ignores a snapshot it already has (committed past it): nothing to install then.
        const willInstall = m.snapshot.meta.index > this.node.status().commit;
        this.node.step(m);
        this.kick();
        return willInstall;
      },
    });
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
    const addrs = new Map(init.initialPeers);
    // Addresses of members added later live in their ConfChange entries: replay those in the log.
    for (const cc of confChangesInLog(c.storage)) applyAddress(addrs, cc);
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
    const err = new CairnError('Unavailable', 'server is shutting down');
    for (const [idx, p] of this.pending) {
      p.timer.cancel();
      p.reject(err);
      this.pending.delete(idx);
    }
    this.failReads(err);
    for (const s of this.senders.values()) s.abort('server is shutting down');
    this.receiver.close();
    if (this.looping) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.applyTail.catch(() => undefined);
  }

  /** A frame from an authenticated peer. Malformed frames are dropped (the transport counts them). */
  receive(from: NodeId, payload: Uint8Array): void {
    if (this.stopped) return;
    if (isSnapshotFrame(payload)) {
      const f = decodeSnapshotFrame(payload);
      if (f.kind === 'ack' || f.kind === 'fail') this.senders.get(from)?.onFrame(f);
      else this.receiver.onFrame(from, f);
      return;
    }
    const m = decodeRaftMessage(payload);
    // A snapshot's image comes only through a transfer (which hands its MsgSnap in itself).
    if (m.type === 'snap' && m.snapshot.meta.index > 0) throw new CairnError('ProtocolError', 'snapshot message outside a transfer');
    if (m.from !== from) throw new CairnError('ProtocolError', `message from ${m.from} on ${from}'s connection`);
    if (m.to !== this.id) throw new CairnError('ProtocolError', `message for ${m.to} delivered to ${this.id}`);
    this.node.step(m);
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
      return this.track(index, term);
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
      return this.track(index, term);
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
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadWaiter = { resolve, reject, timer: { cancel() {} } };
      waiter.timer = this.c.timers.setTimeout(() => {
        this.nextReads = this.nextReads.filter((w) => w !== waiter);
        for (const b of this.readBatches.values()) b.waiters = b.waiters.filter((w) => w !== waiter);
        reject(new CairnError('Timeout', 'linearizable read timed out'));
      }, this.readTimeoutMs);
      this.nextReads.push(waiter);
      this.flushReads();
    });
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

  status(): RaftStatus & { addrs: Record<NodeId, string> } {
    return { ...this.node.status(), applied: this.applied, addrs: Object.fromEntries(this.addrs) };
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

  private track(index: number, term: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = this.c.timers.setTimeout(() => {
        if (this.pending.get(index)?.timer === timer) this.pending.delete(index);
        reject(new CairnError('Timeout', `proposal at index ${index} not applied within ${this.proposeTimeoutMs} ms`));
      }, this.proposeTimeoutMs);
      // An older proposal at the same index lost to a newer term: it was overwritten.
      const old = this.pending.get(index);
      if (old) {
        old.timer.cancel();
        old.reject(new CairnError('ProposalDropped', 'proposal was overwritten by a newer leader'));
      }
      this.pending.set(index, { term, resolve, reject, timer });
    });
  }

  private flushReads(): void {
    if (this.readInFlight || this.nextReads.length === 0 || this.role !== 'leader') return;
    const key = `${this.id}:${++this.readSeq}`;
    const batch: ReadBatch = { waiters: this.nextReads, index: null };
    this.nextReads = [];
    this.readBatches.set(key, batch);
    this.readInFlight = true;
    try {
      this.node.readIndex(new TextEncoder().encode(key));
    } catch (err) {
      this.readInFlight = false;
      this.readBatches.delete(key);
      for (const w of batch.waiters) {
        w.timer.cancel();
        w.reject(err instanceof CairnError && err.code === 'NotLeader' ? this.notLeader() : (err as Error));
      }
      return;
    }
    // If the round never completes, its waiters time out on their own; the round must not
    // block every later read, so it is abandoned after the same time.
    this.readRoundTimer = this.c.timers.setTimeout(() => {
      this.readRoundTimer = null;
      const b = this.readBatches.get(key);
      if (b && b.index === null) {
        this.readBatches.delete(key);
        this.readInFlight = false;
        this.flushReads();
      }
    }, this.readTimeoutMs);
    this.kick();
  }

  private releaseReads(): void {
    for (const [key, batch] of this.readBatches) {
      if (batch.index !== null && batch.index <= this.applied) {
        this.readBatches.delete(key);
        for (const w of batch.waiters) {
          w.timer.cancel();
          w.resolve();
        }
      }
    }
  }

  private failReads(err: Error): void {
    for (const w of this.nextReads) {
      w.timer.cancel();
      w.reject(err);
    }
    this.nextReads = [];
    for (const batch of this.readBatches.values()) {
      for (const w of batch.waiters) {
        w.timer.cancel();
        w.reject(err);
      }
    }
    this.readBatches.clear();
    this.readInFlight = false;
    this.readRoundTimer?.cancel();
    this.readRoundTimer = null;
  }

  private peerAddrs(): Map<NodeId, string> {
    const out = new Map(this.addrs);
    out.delete(this.id);
    return out;
  }

  /** Run the Ready loop unless it is already running. */
  private kick(): void {
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
      await this.handleReady(rd);
      this.node.advance(rd);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { storage, stateMachine, transport } = this.c;
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);

    // 1. A snapshot from the leader replaces the log, then the state machine by the image its
    // transfer staged (in this order: a crash in between is finished by create()).
    if (rd.snapshot) {
      const snap = rd.snapshot;
      // Entries handed to the chain before the snapshot finish first (the image supersedes them).
      await this.applyTail;
      await storage.applySnapshot(snap);
      // Index 0 is the bootstrap membership sent to a joining node: no state machine image.
      if (snap.meta.index > 0) {
        assert(stateMachine.stagedSnapshotIndex() === snap.meta.index, `snapshot ${snap.meta.index} is not the staged image (${stateMachine.stagedSnapshotIndex()})`);
        await stateMachine.installSnapshot(snap.meta.index);
        this.receiver.installed();
      }
      this.applied = snap.meta.index;
      this.scheduled = snap.meta.index;
      this.lastSnapshotIndex = snap.meta.index;
      // Proposals at or below the snapshot index: their outcome is inside the image, unknown to us.
      for (const [idx, p] of this.pending) {
        if (idx <= snap.meta.index) {
          p.timer.cancel();
          p.reject(new CairnError('Timeout', 'outcome unknown: replaced by a snapshot; retry with the same request id'));
          this.pending.delete(idx);
        }
      }
      this.log.info('installed snapshot', { index: snap.meta.index, term: snap.meta.term });
    }

    // Committed entries that were already durable here before this Ready may apply while this
    // Ready's own write is in flight (typically the leader persisting only its new commit index):
    // they are committed on a quorum, and a crash before the hard state lands is harmless (the
    // core takes committed = max(commit, applied) on restart). The rest apply after the write.
    const committed = rd.committedEntries;
    let split = 0;
    if (!rd.snapshot) {
      // Durable AND not rewritten by this Ready: a follower's stale uncommitted entry at the same
      // index is still on disk until this write replaces it (found by the simulation, seed 959).
      const firstNew = rd.entries.length > 0 ? rd.entries[0]!.index : Infinity;
      const stableLast = Math.min(storage.lastIndex(), firstNew - 1);
      while (split < committed.length && committed[split]!.index <= stableLast) split++;
    }
    if (split > 0) await this.scheduleApply(committed.slice(0, split));

    // 2. Durable append + hard state. 3. Then send (a leader's appends and heartbeats: during).
    const leading = this.role === 'leader';
    const early = (m: Ready['messages'][number]): boolean => leading && (m.type === 'app' || m.type === 'heartbeat');
    for (const m of rd.messages) if (early(m)) transport.send(m.to, encodeRaftMessage(m));
    if (rd.hardState || rd.entries.length > 0) await storage.save(rd.hardState, rd.entries, rd.mustSync);
    for (const m of rd.messages) {
      if (early(m)) continue;
      if (m.type === 'snap' && m.snapshot.meta.index > 0) this.sendSnapshot(m);
      else transport.send(m.to, encodeRaftMessage(m));
    }

    // 4. Apply the rest (on the chain; see the file comment).
    if (split < committed.length) await this.scheduleApply(split > 0 ? committed.slice(split) : committed);

    // 5. Reads.
    for (const rs of rd.readStates) {
      const key = new TextDecoder().decode(rs.ctx);
      const batch = this.readBatches.get(key);
      if (batch) batch.index = rs.index;
      this.readInFlight = false;
      this.readRoundTimer?.cancel();
      this.readRoundTimer = null;
    }
    this.releaseReads();
    if (rd.readStates.length > 0) this.flushReads();
  }

  /** Queue entries on the apply chain; waits only when the chain lags too far behind. */
  private async scheduleApply(entries: Entry[]): Promise<void> {
    assert(entries[0]!.index === this.scheduled + 1, `apply gap: scheduled ${this.scheduled}, next ${entries[0]!.index}`);
    this.scheduled = entries[entries.length - 1]!.index;
    this.applyTail = this.applyTail.then(() => this.applyEntries(entries));
    // A failed apply is fatal: the loop surfaces it when it waits, failFromApply otherwise.
    if (this.scheduled - this.applied > APPLY_LAG_ENTRIES_MAX) await this.applyTail;
    else this.applyTail.catch((err: unknown) => this.failFromApply(err));
  }

  private async applyEntries(entries: Entry[]): Promise<void> {
    if (this.stopped) return;
    const results = await this.c.stateMachine.apply(entries);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === EntryType.ConfChange) this.onConfChangeApplied(decodeConfChange(e.data));
      const p = this.pending.get(e.index);
      if (p) {
        this.pending.delete(e.index);
        p.timer.cancel();
        if (p.term === e.term) p.resolve(results[i]);
        else p.reject(new CairnError('ProposalDropped', 'proposal was overwritten by a newer leader'));
      }
    }
    this.applied = entries[entries.length - 1]!.index;
    this.releaseReads();
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
    this.leader = leader;
    this.role = role;
    if (wasLeader && role !== 'leader') {
      this.failReads(this.notLeader());
      for (const s of this.senders.values()) s.abort('leadership lost');
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
    const conf = confAt(storage, index);
    const compactIndex = Math.max(storage.firstIndex() - 1, index - this.compactionLagEntries);
    await storage.createSnapshot({ meta: { index, term: storage.term(index), conf }, data: NO_DATA }, compactIndex);
    this.lastSnapshotIndex = index;
    this.log.info('snapshot taken', { index, compactIndex });
  }

  /**
   * Stream the state to a follower the core wants to snapshot. The image is read at this node's
   * applied index, which may be past the core's snapshot: the MsgSnap is rewritten to describe
   * exactly the image (term and membership at that index, from our log).
   */
  private sendSnapshot(m: MsgSnap): void {
    const to = m.to;
    // The core retries a snapshot it has not heard back about after a few election timeouts;
    // a transfer still in progress is that snapshot (it fails on its own ack timeout).
    if (this.senders.has(to)) return;
    const sender = new SnapshotSender(
      { timers: this.c.timers, logger: this.log, send: (p) => this.c.transport.send(to, p) },
      { transfer: `${this.id}:${m.term}:${++this.transferSeq}` },
    );
    this.senders.set(to, sender);
    const { storage, stateMachine } = this.c;
    void (async () => {
      let ok = false;
      try {
        const reader = await stateMachine.openSnapshot();
        let msg: Uint8Array;
        try {
          const index = reader.index;
          msg = encodeRaftMessage({ ...m, snapshot: { meta: { index, term: storage.term(index), conf: confAt(storage, index) }, data: NO_DATA } });
        } catch (err) {
          reader.close();
          throw err;
        }
        this.log.info('sending snapshot', { to, index: reader.index });
        ok = await sender.run(reader, msg);
      } catch (err) {
        this.log.warn('snapshot transfer failed', { to, err: (err as Error).message });
      }
      if (this.senders.get(to) === sender) this.senders.delete(to);
      if (this.stopped) return;
      this.node.reportSnapshot(to, ok);
      this.kick();
    })();
  }

  /** Decode and check the MsgSnap that ends a transfer from `from`. */
  private snapshotMessage(from: NodeId, bytes: Uint8Array): MsgSnap {
    const m = decodeRaftMessage(bytes);
    if (m.type !== 'snap' || m.from !== from || m.to !== this.id || m.snapshot.meta.index < 1)
      throw new CairnError('ProtocolError', 'a snapshot transfer must end with a MsgSnap from its sender to us');
    return m;
  }
}

/** Every ConfChange entry still in the log, in order. */
function confChangesInLog(storage: RaftLogStore): ConfChange[] {
  const out: ConfChange[] = [];
  const last = storage.lastIndex();
  for (let lo = storage.firstIndex(); lo <= last; ) {
    const batch = storage.entries(lo, last + 1, 8 << 20);
    for (const e of batch) if (e.type === EntryType.ConfChange) out.push(decodeConfChange(e.data));
    lo += batch.length;
  }
  return out;
}

/** Membership as of `index`: the stored snapshot's, plus ConfChange entries up to index. */
function confAt(storage: RaftLogStore, index: number): ConfState {
  const base = storage.initialState().confState;
  const voters = new Set(base.voters);
  const learners = new Set(base.learners);
  const first = storage.firstIndex();
  for (let lo = first; lo <= index; ) {
    const batch = storage.entries(lo, index + 1, 8 << 20);
    for (const e of batch) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      if (cc.type === 'addLearner') {
        if (!voters.has(cc.node)) learners.add(cc.node);
      } else if (cc.type === 'addVoter') {
        learners.delete(cc.node);
        voters.add(cc.node);
      } else {
        voters.delete(cc.node);
        learners.delete(cc.node);
      }
    }
    lo += batch.length;
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

function applyAddress(addrs: Map<NodeId, string>, cc: ConfChange): void {
  if (cc.type === 'removeNode') addrs.delete(cc.node);
  else if (cc.context && cc.context.byteLength > 0) addrs.set(cc.node, new TextDecoder().decode(cc.context));
}

const NO_DATA = new Uint8Array(0);
/** Committed entries allowed to wait for the state machine before the Ready loop waits too. */
const APPLY_LAG_ENTRIES_MAX = 8192;

export { encodeConfChange };

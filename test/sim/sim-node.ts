/**
 * One simulated server: a RaftNode driven by the production Ready protocol (ready-protocol.ts),
 * the production codec on every message and the production snapshot transfers
 * (snapshot-streams.ts), over a simulated disk that loses unsynced writes on a crash; client
 * requests are served by sim-requests.ts.
 *
 * Disk faults (SimParams): a crash normally lands none of the writes since the last fsync; with
 * torn writes it lands all but the last (each write is one LMDB transaction: atomic, so the
 * torn one simply did not land). A failed fsync crashes the node at once (as the runtime must:
 * after a failed fsync the page cache can no longer be trusted), its write landed or not.
 */
import { decodePeerMessage, planReady, type ReadyStep } from '../../src/consensus/ready-protocol.js';
import { NO_DATA, SnapshotStreams, confAt } from '../../src/consensus/snapshot-streams.js';
import { decodeSnapshotFrame, isSnapshotFrame } from '../../src/consensus/snapshot-transfer.js';
import type { Timers } from '../../src/env/clock.js';
import type { SeededRng } from '../../src/env/rng.js';
import { encodeRaftMessage } from '../../src/proto/raft-codec.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import { DEFAULT_RAFT_CONFIG, type Entry, type Message, type NodeId, type RaftConfig, type Ready, type Role } from '../../src/raft/types.js';
import type { MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';
import { silentLogger } from '../../src/util/logger.js';
import type { ClientReq } from './client-protocol.js';
import { SimRequests } from './sim-requests.js';
import { SimSnapshots, type Machine } from './sim-snapshots.js';
import type { Simulation } from './simulation.js';

/** What survives a crash. */
export interface Disk {
  log: MemoryRaftStorage;
  sm: Machine;
}

export class SimNode {
  readonly id: NodeId;
  up = false;
  /** Permanently shut down (removed from the cluster). */
  retired = false;
  /** Bumped on every crash: events of an earlier incarnation are ignored. */
  incarnation = 0;
  node!: RaftNode;
  /** What the node sees: synced state plus writes not yet synced. */
  log!: MemoryRaftStorage;
  sm!: Machine;
  /** What survives a crash. */
  durable: Disk;
  role: Role = 'follower';
  leader: NodeId | null = null;
  /**
   * Stopped (SIGSTOP): the core sees neither its clock nor the network; what arrives meanwhile
   * is held and delivered in order on resume, when the node wakes with the beliefs it had.
   */
  private held: (() => void)[] | null = null;
  /** The Ready loop waits for an fsync. */
  private busy = false;
  private lastSnapshotIndex = 0;
  private snapshots!: SimSnapshots;
  private streams!: SnapshotStreams;
  /** The next fsync of the Ready loop fails (a disk fault armed by sim-faults.ts). */
  failNextFsync = false;
  /** Torn writes: the disk as it was before the last write since the last fsync, and how many there were. */
  private beforeLast: Disk | null = null;
  private writesSinceSync = 0;
  /** Client requests waiting for their entry or read index (per incarnation). */
  requests!: SimRequests;
  private readonly rng: SeededRng;

  constructor(
    private readonly sim: Simulation,
    id: NodeId,
    disk: Disk,
  ) {
    this.id = id;
    this.durable = disk;
    this.rng = sim.rootRng.fork();
  }

  start(): void {
    this.up = true;
    this.held = null;
    this.leaderWrote = null;
    this.incarnation++;
    this.beforeLast = null;
    this.writesSinceSync = 0;
    this.log = this.durable.log.clone();
    this.sm = this.durable.sm.clone();
    this.lastSnapshotIndex = this.log.firstIndex() - 1;
    const p = this.sim.params;
    const config: RaftConfig = {
      ...DEFAULT_RAFT_CONFIG,
      id: this.id,
      applied: this.sm.applied,
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      maxMsgBytes: p.maxMsgBytes,
      inflightMsgsMax: p.inflightMsgsMax,
    };
    this.node = new RaftNode(config, this.log, this.rng.fork());
    this.role = 'follower';
    this.leader = null;
    this.busy = false;
    this.requests = new SimRequests(this.sim, this);
    this.startStreams();
    const inc = this.incarnation;
    // Clocks drift: each incarnation ticks a little fast or slow (within ±25%).
    const quarter = Math.floor(p.tickUnits / 4);
    const period = p.tickUnits - quarter + this.rng.int(2 * quarter + 1);
    const tick = (): void => {
      if (!this.alive(inc)) return;
      if (this.held !== null) {
        this.sim.q.after(period, tick);
        return;
      }
      this.node.tick();
      this.afterStep(false);
      this.sim.q.after(period, tick);
    };
    this.sim.q.after(1 + this.rng.int(p.tickUnits), tick);
    this.sim.tr(() => `${this.id} start (term ${this.node.status().term}, applied ${this.sm.applied}, log ${this.log.firstIndex()}..${this.log.lastIndex()})`);
    this.kick();
  }

  /** The term and commit index of this incarnation's last hard-state write as leader (null: not leading then). */
  private leaderWrote: { term: number; commit: number } | null = null;

  crash(): void {
    if (!this.up) return;
    if (this.sim.params.tornWrites && this.beforeLast !== null && this.writesSinceSync >= 2) {
      // Every unsynced write but the last landed.
      this.durable = this.beforeLast;
      this.sim.stats.tornWrites++;
      this.sim.tr(() => `${this.id} TORN: ${this.writesSinceSync - 1} of ${this.writesSinceSync} unsynced writes land`);
    }
    this.beforeLast = null;
    this.up = false;
    this.held = null;
    this.incarnation++;
    this.busy = false;
    this.sim.tr(() => `${this.id} CRASH (unsynced writes lost; durable log ..${this.durable.log.lastIndex()}, applied ${this.durable.sm.applied})`);
  }

  private alive(inc: number): boolean {
    return this.up && this.incarnation === inc;
  }

  /** This incarnation's snapshot transfers: its timers, fsyncs and sends die with it. */
  private startStreams(): void {
    const sim = this.sim;
    const inc = this.incarnation;
    const later = (delay: number, fn: () => void): { cancel(): void } => {
      let live = true;
      sim.q.after(delay, () => {
        if (!live || !this.alive(inc)) return;
        sim.touchAsync();
        fn();
      });
      return { cancel: () => void (live = false) };
    };
    const timers: Timers = {
      setTimeout: (fn, ms) => later(ms, fn),
      setInterval: () => {
        throw new Error('snapshot transfers use no intervals');
      },
    };
    this.snapshots = new SimSnapshots({
      machine: () => this.sm,
      fsync: () => new Promise<void>((resolve) => later(sim.params.fsyncMin + sim.rng.net.int(sim.params.fsyncJitter + 1), resolve)),
    });
    const node = this.node;
    this.streams = new SnapshotStreams(
      {
        timers,
        logger: silentLogger,
        storage: this.log,
        stateMachine: this.snapshots,
        core: {
          step: (m) => sim.guard(() => {
            if (this.alive(inc)) node.step(m);
          }),
          status: () => node.status(),
          reportSnapshot: (id, ok) => sim.guard(() => {
            if (this.alive(inc)) node.reportSnapshot(id, ok);
          }),
        },
        send: (to, payload) => {
          if (!this.alive(inc)) return false;
          const piece = decodeSnapshotFrame(payload).kind === 'piece';
          if (piece) sim.stats.snapshotPieces++;
          sim.net.sendPeer(this.id, to, payload);
          if (piece) sim.snapshotPieceSent?.(this, to);
          return true;
        },
        // Transfers run in promise continuations: the Ready loop runs in an event of its own, so
        // its exceptions fail the run instead of a transfer.
        kick: () => later(0, () => this.kick()),
      },
      { id: this.id, ackTimeoutMs: sim.params.snapshotAckTimeout, windowPieces: sim.params.snapshotWindowPieces, pieceBytesMax: sim.params.snapshotPieceBytes },
    );
  }

  get paused(): boolean {
    return this.held !== null;
  }

  /** SIGSTOP: ticks and arrivals wait until resume(). */
  pause(): void {
    if (!this.up || this.held !== null) return;
    this.held = [];
    this.sim.tr(() => `${this.id} PAUSE (role ${this.role})`);
  }

  /** SIGCONT: what arrived while stopped is delivered, in order, before anything newer. */
  resume(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.sim.tr(() => `${this.id} RESUME (${held.length} arrivals held)`);
    const inc = this.incarnation;
    for (const deliver of held) if (this.alive(inc) && this.held === null) deliver();
  }

  /** A frame from peer `from` arrives. */
  receive(from: NodeId, payload: Uint8Array): void {
    if (!this.up) return;
    if (this.held !== null) {
      this.held.push(() => this.receive(from, payload));
      return;
    }
    if (isSnapshotFrame(payload)) {
      this.sim.touchAsync();
      this.streams.onFrame(from, payload);
      return;
    }
    const m = decodePeerMessage(from, this.id, payload);
    this.node.step(m);
    // Step 9 of the Ready protocol, as the runtime: committed entries durable here apply now.
    if (this.busy) {
      const ents = this.node.takeCommitted();
      if (ents.length > 0) {
        this.sim.stats.appliedDuringWrite += ents.length;
        this.applyEntries(ents);
      }
    }
    this.afterStep(m.type === 'vote-resp' || m.type === 'pre-vote-resp' || m.type === 'timeout-now');
  }

  reportUnreachable(to: NodeId): void {
    if (this.held !== null) {
      this.held.push(() => this.reportUnreachable(to));
      return;
    }
    this.node.reportUnreachable(to);
    this.kick();
  }

  /** After any input to the core: check roles, run the Ready loop. */
  afterStep(mayElect: boolean): void {
    if (mayElect) this.observeRole();
    this.kick();
  }

  private observeRole(): void {
    const st = this.node.status();
    if (st.role === 'leader') this.sim.inv.onLeader(this.id, st.term);
  }

  /** Run Ready iterations until the core has nothing or one waits for an fsync. */
  kick(): void {
    for (let guard = 0; guard < 10_000; guard++) {
      if (!this.up || this.busy || !this.node.hasReady()) return;
      const rd = this.node.ready();
      this.streams.readyTaken(rd);
      this.perform(rd, this.breakRules(planReady(rd, { role: this.role, lastIndex: this.log.lastIndex() })), 0);
    }
    throw new Error(`${this.id}: Ready loop did not settle`);
  }

  /** Perform `steps[from..]` of `rd`, waiting for the simulated fsync after a write that must be durable. */
  private perform(rd: Ready, steps: ReadyStep[], from: number): void {
    for (let i = from; i < steps.length; i++) {
      const s = steps[i]!;
      if (s.kind !== 'persist') {
        this.performStep(s);
        continue;
      }
      this.persist(s);
      if (!s.mustSync && rd.snapshot === null) continue;
      const inc = this.incarnation;
      this.busy = true;
      this.sim.q.after(this.sim.params.fsyncMin + this.sim.rng.net.int(this.sim.params.fsyncJitter + 1), () => {
        if (!this.alive(inc)) return;
        if (this.failNextFsync && this.sim.phase === 'safety') return this.fsyncFailed();
        this.synced();
        this.busy = false;
        this.perform(rd, steps, i + 1);
        this.kick();
      });
      return;
    }
    this.node.advance(rd);
  }

  /** Everything written so far is durable. */
  private synced(): void {
    this.durable = { log: this.log.clone(), sm: this.sm.clone() };
    this.beforeLast = null;
    this.writesSinceSync = 0;
  }

  /** About to write to the disk (one transaction): remember the disk before it, for torn writes. */
  private writing(): void {
    if (!this.sim.params.tornWrites) return;
    this.beforeLast = { log: this.log.clone(), sm: this.sm.clone() };
    this.writesSinceSync++;
  }

  /** The fsync failed: the node stops at once; the write landed or not, and nothing after it. */
  private fsyncFailed(): void {
    const sim = this.sim;
    this.failNextFsync = false;
    const landed = sim.rng.faults.int(2) === 0;
    sim.tr(() => `${this.id} FSYNC FAILED (the write ${landed ? 'landed' : 'did not land'})`);
    if (landed) this.synced();
    else this.beforeLast = null;
    this.crash();
    sim.stats.fsyncFailures++;
    sim.restartLater(this);
  }

  private persist(s: Extract<ReadyStep, { kind: 'persist' }>): void {
    const sim = this.sim;
    if (!s.hardState && s.entries.length === 0) return;
    this.writing();
    const hs = s.hardState && sim.bugs.loseVotes ? { ...s.hardState, vote: null } : s.hardState;
    void this.log.save(hs, s.entries, s.mustSync);
    if (s.hardState) {
      const h = s.hardState;
      sim.inv.onCommit(h.commit, h.term);
      const prev = this.leaderWrote;
      if (this.role === 'leader' && prev !== null && prev.term === h.term && h.commit > prev.commit) {
        sim.inv.onLeaderCommit(this.id, h.term, h.commit, this.log.term(h.commit));
      }
      this.leaderWrote = this.role === 'leader' ? { term: h.term, commit: h.commit } : null;
    }
    if (s.entries.length > 0) {
      sim.inv.onPersisted(this.id, this.log, s.entries);
      sim.tr(() => `${this.id} append ${s.entries[0]!.index}..${s.entries[s.entries.length - 1]!.index} (term ${s.entries[s.entries.length - 1]!.term})`);
    }
  }

  private performStep(s: Exclude<ReadyStep, { kind: 'persist' }>): void {
    const sim = this.sim;
    switch (s.kind) {
      case 'soft-state': {
        const wasLeader = this.role === 'leader';
        this.role = s.role;
        this.leader = s.leader;
        if (this.role === 'leader') this.observeRole();
        sim.tr(() => `${this.id} role ${this.role} (leader ${this.leader ?? '-'}, term ${this.node.status().term})`);
        if (wasLeader && this.role !== 'leader') {
          this.requests.lostLeadership();
          sim.touchAsync();
          this.streams.abortSenders('leadership lost');
        }
        return;
      }
      case 'install':
        return this.install(s.snapshot);
      case 'apply':
        return this.applyEntries(s.entries);
      case 'send':
        for (const m of s.messages) {
          sim.net.sendPeer(this.id, m.to, encodeRaftMessage(m));
          if (m.type === 'vote-resp' && !m.reject) sim.voteGranted?.(this, m.to);
          sim.messageSent?.(this, m);
        }
        return;
      case 'stream':
        sim.touchAsync();
        return this.streams.stream(s.message);
      case 'reads':
        return this.requests.confirmed(s.readStates);
    }
  }

  /** A snapshot from the leader: the log, then the state machine by the staged image (runtime order). */
  private install(snap: Extract<ReadyStep, { kind: 'install' }>['snapshot']): void {
    const sim = this.sim;
    this.writing();
    void this.log.applySnapshot(snap);
    if (snap.meta.index > 0) {
      this.sm.restore(this.snapshots.takeStaged(snap.meta.index), snap.meta.index);
      sim.touchAsync();
      this.streams.installed();
    } else if (this.sm.applied === 0) {
      this.sm.conf = { voters: [...snap.meta.conf.voters], learners: [...snap.meta.conf.learners] };
    }
    this.lastSnapshotIndex = snap.meta.index;
    sim.stats.snapshotsSent++;
    sim.tr(() => `${this.id} install snapshot ${snap.meta.index}/${snap.meta.term}`);
    this.requests.replacedThrough(snap.meta.index);
  }

  /** Deliberately broken rules (SimBugs) rewrite the production plan. */
  private breakRules(steps: ReadyStep[]): ReadyStep[] {
    const bugs = this.sim.bugs;
    if (bugs.sendBeforeSync && steps.some((s) => s.kind === 'persist')) {
      // Every message goes out before the write.
      const messages: Message[] = [];
      for (const s of steps) if (s.kind === 'send') messages.push(...s.messages);
      const rest: ReadyStep[] = steps.filter((s) => s.kind !== 'send');
      if (messages.length > 0) rest.splice(rest.findIndex((s) => s.kind === 'persist'), 0, { kind: 'send', messages });
      steps = rest;
    }
    if (bugs.applyRewritten && !steps.some((s) => s.kind === 'install')) {
      // Apply early every committed entry up to the last index on disk, rewritten or not.
      const all: Entry[] = [];
      for (const s of steps) if (s.kind === 'apply') all.push(...s.entries);
      const last = this.log.lastIndex();
      const early = all.filter((e) => e.index <= last);
      const late = all.filter((e) => e.index > last);
      const rest: ReadyStep[] = steps.filter((s) => s.kind !== 'apply');
      const first = rest.findIndex((s) => s.kind !== 'soft-state');
      const reads = rest.findIndex((s) => s.kind === 'reads');
      if (late.length > 0) rest.splice(reads < 0 ? rest.length : reads, 0, { kind: 'apply', entries: late });
      if (early.length > 0) rest.splice(first < 0 ? rest.length : first, 0, { kind: 'apply', entries: early });
      steps = rest;
    }
    return steps;
  }

  /** Apply committed entries, exactly once, in order, and answer their proposers. */
  private applyEntries(entries: Entry[]): void {
    const sim = this.sim;
    this.writing();
    for (const e of entries) {
      sim.inv.onApplied(this.id, e);
      const before = this.sm.conf;
      const result = this.sm.apply(e);
      if (this.sm.conf !== before) sim.onConfApplied(this, e);
      this.requests.applied(e, result);
    }
    this.requests.release();
    this.maybeSnapshot();
  }

  /** As the runtime: the state machine is the image, the log's snapshot carries only its metadata. */
  private maybeSnapshot(): void {
    const p = this.sim.params;
    const index = this.sm.applied;
    if (index - this.lastSnapshotIndex < p.snapshotEvery) return;
    const compactIndex = Math.max(this.log.firstIndex() - 1, index - p.compactionLag);
    void this.log.createSnapshot({ meta: { index, term: this.log.term(index), conf: confAt(this.log, index) }, data: NO_DATA }, compactIndex);
    this.lastSnapshotIndex = index;
    this.sim.stats.snapshotsTaken++;
    this.sim.tr(() => `${this.id} snapshot at ${index}, compact to ${compactIndex}`);
  }

  /** A client request arrives. */
  onRequest(req: ClientReq): void {
    if (this.up && this.held !== null) this.held.push(() => this.onRequest(req));
    else if (this.up) this.requests.onRequest(req);
  }
}

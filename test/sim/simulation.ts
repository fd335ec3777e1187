/**
 * Deterministic simulation of a Cairn Raft cluster (TigerBeetle VOPR / FoundationDB style):
 * real RaftNode cores driven by the production Ready protocol, codec and snapshot transfers
 * (sim-node.ts), a simulated disk that loses unsynced writes on a crash, a faulty network
 * (sim-network.ts), clients with exactly-once sessions (sim-client.ts), faults (sim-faults.ts),
 * phases and checkers (sim-phases.ts, invariants.ts). Everything random is drawn from ONE seed
 * (SeededRng, fork() per component), time is a simulated clock: `runSimulation({ seed })` twice
 * gives the same run.
 *
 * Snapshot transfers run in promise continuations, as in production: after any event that may
 * have started or resumed one (touchAsync), the run lets every pending continuation finish
 * before the next event, so they happen at that event's simulated time, in a fixed order.
 */
import { SeededRng } from '../../src/env/rng.js';
import { decodeConfChange } from '../../src/raft/conf-change.js';
import type { Entry, Message, NodeId } from '../../src/raft/types.js';
import { MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';
import { EventQueue } from './event-queue.js';
import { Invariants } from './invariants.js';
import type { HistoryOp } from './linearizability.js';
import { SimClient } from './sim-client.js';
import { SimKvMachine } from './sim-kv-machine.js';
import { SimNetwork } from './sim-network.js';
import { SimNode } from './sim-node.js';
import { SimNsMachine, type NsHistoryOp } from './sim-ns-machine.js';
import { randomParams, type SimBugs, type SimMachineKind, type SimOptions, type SimParams, type SimResult, type SimStats } from './sim-params.js';
import { runPhases } from './sim-phases.js';
import type { Machine } from './sim-snapshots.js';

export { randomParams, type SimBugs, type SimMachineKind, type SimOptions, type SimParams, type SimResult, type SimStats } from './sim-params.js';

export class Simulation {
  readonly q = new EventQueue();
  readonly rootRng: SeededRng;
  readonly rng: { net: SeededRng; faults: SeededRng; clients: SeededRng };
  readonly params: SimParams;
  readonly bugs: SimBugs;
  readonly inv = new Invariants();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly nodeIds: NodeId[] = [];
  readonly clients = new Map<string, SimClient>();
  readonly net: SimNetwork;
  readonly history: HistoryOp[] = [];
  readonly nsHistory: NsHistoryOp[] = [];
  readonly machine: SimMachineKind;
  readonly traceLines: string[] = [];
  readonly stats: SimStats = {
    events: 0,
    elections: 0,
    crashes: 0,
    partitions: 0,
    transfers: 0,
    snapshotsSent: 0,
    snapshotsTaken: 0,
    snapshotPieces: 0,
    committed: 0,
    opsOk: 0,
    opsUnknown: 0,
    membership: 'none',
    confChanges: 0,
    confPartitions: 0,
    linSteps: 0,
    tornWrites: 0,
    fsyncFailures: 0,
    minorityCrashes: 0,
    snapshotCuts: 0,
    appliedDuringWrite: 0,
  };
  phase: 'safety' | 'liveness' = 'safety';
  /** Fresh nodes that may join in membership changes (empty disks, no membership). */
  readonly spares: NodeId[] = [];
  /** Removed members whose removal some node has applied (committed: they are out for good). */
  readonly removalApplied = new Set<NodeId>();
  /** Targeted faults (sim-targeted.ts): told of every vote a node grants, as it is sent. */
  voteGranted: ((n: SimNode, candidate: NodeId) => void) | null = null;
  /** Targeted faults: told of every Raft message a node sends (after its Ready's writes). */
  messageSent: ((n: SimNode, m: Message) => void) | null = null;
  /** Targeted faults: told of every snapshot piece a node sends. */
  snapshotPieceSent: ((n: SimNode, to: NodeId) => void) | null = null;
  voteGrantedFirst = false;
  get seed(): number {
    return this.opts.seed;
  }
  private readonly traceOn: boolean;
  private readonly eventsMax: number;
  /** Some promise continuation may be pending (see the file comment). */
  private asyncPending = false;

  constructor(private readonly opts: SimOptions) {
    this.rootRng = new SeededRng(opts.seed);
    const paramRng = this.rootRng.fork();
    this.params = { ...randomParams(paramRng), ...opts.params };
    this.rng = { net: this.rootRng.fork(), faults: this.rootRng.fork(), clients: this.rootRng.fork() };
    this.bugs = opts.bugs ?? {};
    this.machine = opts.machine ?? 'kv';
    this.traceOn = opts.trace === true;
    this.eventsMax = opts.eventsMax ?? 2_000_000;
    this.net = new SimNetwork(this);
    const p = this.params;
    const voters: NodeId[] = [];
    for (let i = 1; i <= p.voters; i++) voters.push(`n${i}`);
    for (let i = 1; i <= (p.membershipChange ? p.spares : 0); i++) this.spares.push(`n${p.voters + i}`);
    for (const id of [...voters, ...this.spares]) {
      const log = new MemoryRaftStorage();
      const sm: Machine = this.machine === 'ns' ? new SimNsMachine(this.bugs.ignoreSessions === true) : new SimKvMachine();
      if (!this.spares.includes(id)) {
        // First start of a new cluster: the bootstrap membership (durable before the node starts).
        void log.bootstrap({ voters, learners: [] });
        sm.conf = { voters: [...voters], learners: [] };
      }
      this.nodeIds.push(id);
      this.nodes.set(id, new SimNode(this, id, { log, sm }));
    }
    for (let i = 1; i <= p.clients; i++) {
      const id = `c${i}`;
      this.clients.set(id, new SimClient(this, id, this.rng.clients.fork()));
    }
  }

  /** Add a trace line (built only when tracing). */
  tr(line: () => string): void {
    if (this.traceOn) this.traceLines.push(`${String(this.q.now).padStart(6)} ${line()}`);
  }

  /** The current event may have started or resumed promise continuations: let them run before the next event. */
  touchAsync(): void {
    this.asyncPending = true;
  }

  /**
   * A conf change was applied on `n`: a removed node is shut down by its operator. Judged by the
   * entry applied, not by the index its proposal got: a deposed leader's proposal of the same
   * removal can take a later index and never commit (seed 6121925).
   */
  onConfApplied(n: SimNode, e: Entry): void {
    const conf = n.sm.conf;
    this.tr(() => `${n.id} applied conf change at ${e.index}: voters ${conf.voters.join(',')} learners ${conf.learners.join(',') || '-'}`);
    const cc = decodeConfChange(e.data);
    if (cc.type !== 'removeNode' || conf.voters.includes(cc.node) || conf.learners.includes(cc.node)) return;
    this.removalApplied.add(cc.node);
    if (this.params.retireRemovedAtOnce || this.phase === 'liveness') this.retire(cc.node);
  }

  /** A node stopped by a disk fault is restarted by its supervisor a little later (safety phase; the liveness phase restarts everyone). */
  restartLater(n: SimNode): void {
    const p = this.params;
    const down = p.downMin + this.rng.faults.int(Math.max(1, Math.min(p.downMax, 300) - p.downMin + 1));
    this.q.after(down, () => {
      if (this.phase === 'safety' && !n.up && !n.retired) n.start();
    });
  }

  /** The operator shuts a removed node down for good. */
  retire(id: NodeId): void {
    const r = this.nodes.get(id)!;
    if (r.retired) return;
    r.retired = true;
    this.q.after(20, () => r.crash());
    this.tr(() => `${r.id} retired (removed from the cluster)`);
  }

  currentLeader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.up || n.role !== 'leader') continue;
      const t = n.node.status().term;
      if (t > bestTerm) {
        best = n;
        bestTerm = t;
      }
    }
    return best;
  }

  async run(): Promise<SimResult> {
    let failure: string | null = null;
    try {
      failure = await runPhases(this);
    } catch (err) {
      const e = err as Error;
      failure = `exception: ${e.message}\n${e.stack ?? ''}`;
    }
    if (failure === null && this.inv.violation !== null) failure = this.inv.violation;
    this.stats.events = this.q.executed;
    this.stats.elections = this.inv.elections;
    this.stats.committed = this.inv.committedCount;
    return { seed: this.opts.seed, ok: failure === null, failure, params: this.params, stats: this.stats, trace: this.traceLines };
  }

  /** Run events until `t`; the violated invariant, or null. */
  async runUntil(t: number): Promise<string | null> {
    // Step in slices so a violation stops the run close to where it happened.
    while (this.q.now < t) {
      const until = Math.min(t, this.q.now + 100);
      for (;;) {
        // Run events until one may have left continuations behind, then let them finish.
        this.q.runUntil(until, this.eventsMax, () => this.asyncPending);
        if (!this.asyncPending) break;
        this.asyncPending = false;
        await settle();
        if (this.failure !== null) throw this.failure;
      }
      if (this.inv.violation !== null) return this.inv.violation;
    }
    return null;
  }

  /** An error thrown in a promise continuation (it would otherwise be lost there). */
  private failure: Error | null = null;

  /** Run `fn` from a promise continuation: its exception fails the run. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failure ??= err instanceof Error ? err : new Error(String(err));
    }
  }
}

/** Resolves once every promise continuation queued so far (and those they queue) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function runSimulation(opts: SimOptions): Promise<SimResult> {
  return new Simulation(opts).run();
}

/**
 * The soft state of one leader term: liveness and replica locations (ChunkRegistry), the repair
 * queues (RepairScheduler), held cs.work polls, scrub rounds (ScrubRounds), liveness verdicts on their way, and the caches
 * of the committed cluster map. Nothing here is replicated; a new term starts empty and rebuilds
 * it from heartbeats and full reports. The term is dropped whole when it ends (end()).
 */
import type { Clock, Timers } from '../env/clock.js';
import type { MetaReadView } from '../meta/namespace-keys.js';
import { REPORT_PAGE_IDS_MAX } from '../proto/meta-requests.js';
import { ChunkRegistry } from './chunk-registry.js';
import { ClusterView } from './cluster-view.js';
import { ReplicaChecks } from './replica-checks.js';
import { RepairScheduler, type RepairSchedulerOptions } from './repair-scheduler.js';
import { ScrubRounds } from './scrub-rounds.js';
import { WorkPolls } from './work-polls.js';

export interface LeaderTermComponents {
  view: MetaReadView;
  clock: Clock;
  timers: Timers;
}

export interface LeaderTermOptions {
  /** A chunk server silent this long is dead. */
  deadAfterMs: number;
  repair?: RepairSchedulerOptions;
}

export class LeaderTerm {
  /** The Raft term this state belongs to. */
  readonly term: number;
  readonly registry: ChunkRegistry;
  readonly repair: RepairScheduler;
  readonly polls: WorkPolls;
  /** `cairn scrub` rounds started in this term. */
  readonly scrubs: ScrubRounds;
  /** Replicas clients reported bad, waiting for their holders to re-verify them. */
  readonly checks = new ReplicaChecks();
  readonly cluster: ClusterView;
  /** Liveness verdicts proposed and not yet applied, by server (one at a time each). */
  readonly verdicts = new Set<string>();
  /** When this term last planned repair. */
  lastRepairScanMs = Number.NEGATIVE_INFINITY;
  /** How long this term's last repair pass took, start to end (its steps and the waits between them). */
  lastRepairPassMs = 0;
  /** The repair scan under way (RepairLoop): a scan asked for meanwhile runs after it, at `againAtMs`. */
  repairPass: { againAtMs: number | null } | null = null;
  /** end() was called: work of this term still scheduled stops. */
  ended = false;

  constructor(c: LeaderTermComponents, o: LeaderTermOptions & { term: number }) {
    this.term = o.term;
    this.registry = new ChunkRegistry(c.clock.nowMs(), { deadAfterMs: o.deadAfterMs, reportPageChunksMax: REPORT_PAGE_IDS_MAX });
    this.repair = new RepairScheduler(o.repair ?? {});
    this.polls = new WorkPolls({ timers: c.timers });
    this.scrubs = new ScrubRounds({ term: o.term });
    this.cluster = new ClusterView({ view: c.view, clock: c.clock });
  }

  /** The term is over: held polls are answered (no work) so their servers look for the new leader. */
  end(): void {
    this.ended = true;
    this.polls.releaseAll();
  }
}

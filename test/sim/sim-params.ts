/**
 * What one simulation run is: its parameters (all drawn from the seed), deliberately broken
 * rules for proving the checkers, options, statistics and result.
 */
import type { SeededRng } from '../../src/env/rng.js';

/** The replicated state machine of a run: string registers (kv) or the real namespace machine (ns). */
export type SimMachineKind = 'kv' | 'ns';

/** Everything a seed randomizes. Times are simulated units (think milliseconds). */
export interface SimParams {
  voters: 3 | 5;
  /**
   * A random sequence of membership changes: spare nodes join (learner → voter), voters (the
   * leader too) and learners are removed, voters never below 3.
   */
  membershipChange: boolean;
  /** Membership changes proposed in the safety phase (when membershipChange). */
  membershipSteps: number;
  /**
   * Fresh node ids that may join (a removed server comes back only wiped, under a fresh id).
   */
  spares: number;
  /** Probability the leader is partitioned right after it proposes a membership change. */
  partitionOnConfChange: number;
  /**
   * The removed node is shut down as soon as its removal is applied somewhere; otherwise it keeps
   * running (with whatever membership it knows) until the liveness phase.
   */
  retireRemovedAtOnce: boolean;
  clients: number;
  keys: number;
  tickUnits: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Core options the runtime lets operators change (mostly on, sometimes off). */
  preVote: boolean;
  checkQuorum: boolean;
  netDelayMin: number;
  netDelayJitter: number;
  /** Probability a message gets an extra delay of up to reorderDelayMax (overtaken by later ones). */
  reorderRate: number;
  reorderDelayMax: number;
  dropRate: number;
  dupRate: number;
  fsyncMin: number;
  fsyncJitter: number;
  /** Mean units between crashes (0: none). */
  crashEvery: number;
  downMin: number;
  downMax: number;
  /**
   * Disk faults. tornWrites: a crash lands every write since the last fsync but the last one
   * (LMDB transactions are atomic: the last one did not land), instead of none of them.
   * fsyncFailEvery: mean units between failed fsyncs (0: none); the node crashes at once, the
   * write having landed or not.
   */
  tornWrites: boolean;
  fsyncFailEvery: number;
  /** Mean units between partitions (0: none). */
  partitionEvery: number;
  partitionMin: number;
  partitionMax: number;
  /** Mean units between leadership transfers (0: none). */
  transferEvery: number;
  /** Take a snapshot after this many applied entries; keep this many entries behind it. */
  snapshotEvery: number;
  compactionLag: number;
  maxMsgBytes: number;
  inflightMsgsMax: number;
  clientTimeout: number;
  /** Attempts of one operation before the client gives up (safety phase only). */
  clientAttemptsMax: number;
  thinkMax: number;
  safetyUnits: number;
  /** Liveness bound: from healing until every client has finished. */
  livenessUnits: number;
  /** Operations each client completes in the liveness phase (after finishing its current one). */
  livenessOps: number;
  /** A leader must exist this long after healing. */
  leaderBoundUnits: number;
  /** Snapshot transfers (snapshot-transfer.ts): piece size, pieces in flight, ack timeout. */
  snapshotPieceBytes: number;
  snapshotWindowPieces: number;
  snapshotAckTimeout: number;
}

export function randomParams(rng: SeededRng): SimParams {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const faulty = rng.int(10) > 0; // one seed in ten runs with a calm network (but crashes or disk faults)
  const p: SimParams = {
    voters: pick([3, 5] as const),
    membershipChange: rng.int(3) === 0,
    retireRemovedAtOnce: rng.int(4) > 0,
    clients: 2 + rng.int(4),
    keys: 1 + rng.int(3),
    tickUnits: 10,
    electionTicks: pick([5, 10, 10, 20]),
    heartbeatTicks: pick([1, 1, 2]),
    preVote: rng.int(8) > 0,
    checkQuorum: rng.int(8) > 0,
    netDelayMin: 1 + rng.int(3),
    netDelayJitter: pick([2, 5, 10, 25]),
    reorderRate: faulty ? pick([0, 0.02, 0.1]) : 0,
    reorderDelayMax: pick([30, 100, 300]),
    dropRate: faulty ? pick([0, 0.01, 0.05, 0.15]) : 0,
    dupRate: faulty ? pick([0, 0.01, 0.05]) : 0,
    fsyncMin: 1,
    fsyncJitter: pick([1, 5, 15, 40]),
    crashEvery: faulty ? pick([0, 200, 400, 800, 1500]) : 0,
    downMin: 5,
    downMax: pick([200, 600, 1500]),
    partitionEvery: faulty ? pick([0, 300, 700, 1500]) : 0,
    partitionMin: 50,
    partitionMax: pick([300, 800, 1500]),
    transferEvery: pick([0, 0, 800, 2000]),
    snapshotEvery: pick([5, 10, 20, 50]),
    compactionLag: pick([0, 2, 10]),
    maxMsgBytes: pick([200, 1 << 20]),
    inflightMsgsMax: pick([1, 4, 256]),
    clientTimeout: 250,
    clientAttemptsMax: 4,
    thinkMax: pick([0, 20, 60]),
    safetyUnits: 3000,
    livenessUnits: 4000,
    livenessOps: 3,
    leaderBoundUnits: 2000,
    snapshotPieceBytes: pick([256, 1024, 1 << 20]),
    snapshotWindowPieces: pick([2, 4]),
    snapshotAckTimeout: 0,
    membershipSteps: 0,
    spares: 0,
    partitionOnConfChange: 0,
    tornWrites: false,
    fsyncFailEvery: 0,
  };
  if (faulty && rng.int(8) === 0) {
    // Storm: crash-restart loops with short downtimes under heavy duplication and reordering,
    // so stale, duplicated messages meet freshly restarted nodes (lost-vote and lost-ack windows).
    Object.assign(p, { crashEvery: 60 + rng.int(60), downMin: 1, downMax: 15, dupRate: 0.2, reorderRate: 0.3, reorderDelayMax: 100 });
  }
  // Membership seeds run with pre-vote on and off alike. Without pre-vote, removing the leader
  // once livelocked elections (seeds 12137, 13875; 374 with pre-vote off): candidates that could
  // not win kept restarting the election timers of the nodes that could. The core now restarts
  // the timer only for a granted vote (raft-node.ts, Raft Figure 2).
  if (p.membershipChange) p.preVote = rng.int(2) === 0;
  // Drawn last, so the parameters above stay what they were for every seed.
  if (p.membershipChange) {
    p.membershipSteps = 3 + rng.int(6);
    p.spares = 1 + rng.int(3);
    p.partitionOnConfChange = pick([0, 0.3, 0.7]);
  }
  p.tornWrites = rng.int(4) === 0;
  p.fsyncFailEvery = pick([0, 0, 0, 400, 1200]);
  // Every seed has a fault class: a calm network still gets crashes, or disk faults.
  if (!faulty && p.fsyncFailEvery === 0) {
    if (rng.int(2) === 0) p.crashEvery = pick([300, 800, 1500]);
    else p.fsyncFailEvery = pick([300, 800]);
  }
  const faults = [p.crashEvery, p.fsyncFailEvery, p.partitionEvery, p.dropRate, p.dupRate, p.reorderRate];
  if (faults.every((x) => x === 0)) p.crashEvery = pick([300, 800, 1500]);
  // A correctly configured cluster has an election timeout above the slowest vote round trip
  // (send, fsync the vote, answer, fsync the term): Raft §5.6 "broadcastTime << electionTimeout".
  const voteRoundTrip = 2 * (p.netDelayMin + p.netDelayJitter) + 2 * (p.fsyncMin + p.fsyncJitter);
  p.electionTicks = Math.max(p.electionTicks, Math.ceil(voteRoundTrip / p.tickUnits), p.heartbeatTicks + 1);
  // A transfer whose last frame or ack was lost holds the follower's next snapshot back until the
  // leader gives up on it: two election timeouts, well inside the convergence bound.
  p.snapshotAckTimeout = 2 * p.electionTicks * p.tickUnits;
  return p;
}

/** Deliberately broken rules, to prove the checkers can fail. Never set in real runs. */
export interface SimBugs {
  /** Send a Ready's messages before its writes are synced (acks and votes can be lost in a crash). */
  sendBeforeSync?: boolean;
  /** Any node answers reads from its local state without ReadIndex (stale reads). */
  staleReads?: boolean;
  /** The vote is never written to disk: a restarted node can vote twice in one term. */
  loseVotes?: boolean;
  /** ns machine: every application runs under a fresh session (retries apply again). */
  ignoreSessions?: boolean;
  /**
   * Apply early every committed entry up to the last index on disk, even one this Ready
   * rewrites (the runtime's bug before aa770d6: a follower applied its stale uncommitted entry).
   */
  applyRewritten?: boolean;
}

export interface SimOptions {
  seed: number;
  /** @default 'kv' */
  machine?: SimMachineKind;
  trace?: boolean;
  bugs?: SimBugs;
  /** Fixed values for some parameters (after the seed's random ones are drawn). */
  params?: Partial<SimParams>;
  /** Hard bound on events processed (a runaway run fails instead of hanging). @default 2_000_000 */
  eventsMax?: number;
}

export interface SimStats {
  events: number;
  elections: number;
  crashes: number;
  partitions: number;
  transfers: number;
  snapshotsSent: number;
  snapshotsTaken: number;
  /** Snapshot pieces sent over the network (every transfer, finished or not). */
  snapshotPieces: number;
  committed: number;
  opsOk: number;
  opsUnknown: number;
  membership: string;
  /** Membership changes proposed, and how many were followed at once by a partition of the leader. */
  confChanges: number;
  confPartitions: number;
  linSteps: number;
  /** Disk faults: crashes that landed all unsynced writes but the last; failed fsyncs. */
  tornWrites: number;
  fsyncFailures: number;
  /** Targeted: leaders crashed right after replicating to a minority; snapshot transfers cut mid-stream. */
  minorityCrashes: number;
  snapshotCuts: number;
  /** Committed entries applied while their node's next write was under way (Ready step 9). */
  appliedDuringWrite: number;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  /** The violated invariant (or liveness/linearizability failure), null if ok. */
  failure: string | null;
  params: SimParams;
  stats: SimStats;
  trace: string[];
}


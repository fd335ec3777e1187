/**
 * Types shared by the pure Raft core, its storage, the runtime that drives it and the simulator.
 *
 * Model: etcd-io/raft. The core never performs I/O. The driver loop is:
 *
 *   while (node.hasReady()) {
 *     const rd = node.ready();
 *     1. if rd.snapshot: install it into the state machine and log storage   (durably)
 *     2. append rd.entries, save rd.hardState                                  (durably, in ONE sync)
 *     3. only then send rd.messages                        ("persist before send", Raft §5.1/etcd)
 *     4. apply rd.committedEntries to the state machine, in order, exactly once
 *     5. hand rd.readStates to waiting readers once applied >= readState.index
 *     6. node.advance(rd)
 *   }
 *
 * Indexes and terms are positive integers; index 0 / term 0 mean "nothing". Ranges are [lo, hi).
 */
import { RAFT_ELECTION_TICKS_DEFAULT } from '../config/defaults.js';

export type NodeId = string;

export const enum EntryType {
  /** Opaque application command (may be empty: the leader's no-op at the start of its term). */
  Normal = 0,
  /** `data` is an encoded ConfChange (see encodeConfChange in conf-change.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before any message that depends on it is sent. */
export interface HardState {
  term: number;
  /** Whom this node voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known committed (persisting it is an optimisation, not a safety need). */
  commit: number;
}

/** The membership. A node is in at most one of the two lists. */
export interface ConfState {
  voters: NodeId[];
  /** Receive the log but neither vote nor count toward commit until promoted. */
  learners: NodeId[];
}

export type ConfChangeType = 'addLearner' | 'addVoter' | 'removeNode';

/**
 * One-server-at-a-time membership change (Raft thesis §4.1). Takes effect on every node when
 * the entry carrying it is committed. A new server must be added as a learner first and is
 * promoted with addVoter once it has caught up.
 */
export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
  /** Opaque to the core; the runtime stores e.g. the node's address here. */
  context?: Uint8Array;
}

export interface SnapshotMeta {
  /** Last index covered by the snapshot. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Opaque state-machine image. */
  data: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader' | 'learner';

export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/** Result of a ReadIndex request: once applied >= index, a read reflects every write committed before the request. */
export interface ReadState {
  index: number;
  /** The caller's opaque request context, returned unchanged. */
  ctx: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages. Every message carries the sender's term; `from`/`to` are node ids.

interface MsgBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** Vote request (real or pre-vote). For a pre-vote, `term` is the term the candidate WOULD use. */
export interface MsgVote extends MsgBase {
  type: 'vote' | 'pre-vote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the election was started by MsgTimeoutNow: lets it bypass leader stickiness (§6 of the thesis). */
  transfer: boolean;
}

export interface MsgVoteResp extends MsgBase {
  type: 'vote-resp' | 'pre-vote-resp';
  reject: boolean;
}

/** AppendEntries (also used with no entries to carry commit / probe). */
export interface MsgApp extends MsgBase {
  type: 'app';
  /** Index and term of the entry immediately before `entries`. */
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

export interface MsgAppResp extends MsgBase {
  type: 'app-resp';
  reject: boolean;
  /**
   * Accept: the highest index now known to match the leader's log.
   * Reject: the prevIndex that was rejected.
   */
  index: number;
  /**
   * Reject only, for fast backtracking: the follower's guess of where logs may agree — the
   * largest index <= min(prevIndex, follower lastIndex) whose term <= `hintTerm` (etcd's
   * findConflictByTerm), and that entry's term.
   */
  hintIndex: number;
  hintTerm: number;
}

export interface MsgHeartbeat extends MsgBase {
  type: 'heartbeat';
  /** min(leader commit, follower match): never tells a follower to commit beyond what it has. */
  commit: number;
  /** Non-empty when the heartbeat confirms leadership for pending ReadIndex requests. */
  ctx: Uint8Array;
}

export interface MsgHeartbeatResp extends MsgBase {
  type: 'heartbeat-resp';
  ctx: Uint8Array;
}

export interface MsgSnap extends MsgBase {
  type: 'snap';
  snapshot: Snapshot;
}

/** Leadership transfer: tells the target to start an election at once. */
export interface MsgTimeoutNow extends MsgBase {
  type: 'timeout-now';
}

export type Message =
  | MsgVote
  | MsgVoteResp
  | MsgApp
  | MsgAppResp
  | MsgHeartbeat
  | MsgHeartbeatResp
  | MsgSnap
  | MsgTimeoutNow;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------------------------

/**
 * What the driver must do next. Produced by RaftNode.ready(), acknowledged with advance(rd).
 * Order of effects: snapshot, then entries + hardState (one durable write), then messages, then
 * committedEntries, then readStates.
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. Not persisted. */
  softState: SoftState | null;
  /** Present when term, vote or commit changed; persist before sending messages. */
  hardState: HardState | null;
  /** Present when a snapshot from the leader must be installed (state machine and log). */
  snapshot: Snapshot | null;
  /** New log entries to append (they may overwrite a conflicting suffix in storage). */
  entries: Entry[];
  /** Messages to send AFTER the above is durable. */
  messages: Message[];
  /** Entries committed and not yet handed out, in index order, to apply exactly once. */
  committedEntries: Entry[];
  readStates: ReadState[];
  /** True when hardState.term/vote changed or entries is non-empty: the write must be fsynced. */
  mustSync: boolean;
}

/**
 * The core's read-only view of durable log storage. Reads are synchronous (LMDB reads are).
 * The driver writes storage from Ready before calling advance(); entries not yet written live
 * in the core's own unstable log.
 *
 * Implementations: storage/lmdb-raft-storage.ts, storage/memory-raft-storage.ts, sharing the
 * contract suite test/unit/storage/raft-storage-contract.ts.
 */
export interface RaftStorage {
  /** Hard state and membership as stored (membership from the latest snapshot plus applied conf entries). */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), stopping early once their total data size exceeds maxBytes (always at
   * least one entry when lo < hi). Throws RaftCompactedError if lo <= snapshot index, and
   * RaftUnavailableError if hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * Term of the entry at index; for index == snapshot index, the snapshot's term. Throws
   * RaftCompactedError below that, RaftUnavailableError above lastIndex().
   */
  term(index: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (snapshot index when the log is empty). */
  lastIndex(): number;
  /** The latest snapshot (for sending to a lagging follower). Data may be large. */
  snapshot(): Snapshot;
}

export class RaftCompactedError extends Error {
  override name = 'RaftCompactedError';
}

export class RaftUnavailableError extends Error {
  override name = 'RaftUnavailableError';
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [electionTicks, 2*electionTicks). @default 10 */
  electionTicks: number;
  /** Ticks between leader heartbeats; must be < electionTicks. @default 1 */
  heartbeatTicks: number;
  /** Max total entry bytes in one MsgApp. @default 1 MiB */
  maxMsgBytes: number;
  /** Max MsgApp in flight to one follower while replicating (pipelining). @default 256 */
  inflightMsgsMax: number;
  /** Max bytes of uncommitted proposals the leader accepts before dropping new ones. @default 64 MiB */
  uncommittedBytesMax: number;
  /** PreVote (thesis §9.6): a partitioned node cannot disrupt the cluster by raising its term. @default true */
  preVote: boolean;
  /** CheckQuorum: a leader steps down when it has not heard from a quorum for an election timeout. @default true */
  checkQuorum: boolean;
  /** A learner may be promoted only when its match index is within this many entries of the leader's last index. @default 100 */
  learnerCatchUpEntriesMax: number;
  /** Index of the last entry already applied to the state machine (so restarts do not re-apply). */
  applied: number;
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id' | 'applied'> = {
  electionTicks: RAFT_ELECTION_TICKS_DEFAULT,
  heartbeatTicks: 1,
  maxMsgBytes: 1 << 20,
  inflightMsgsMax: 256,
  uncommittedBytesMax: 64 << 20,
  preVote: true,
  checkQuorum: true,
  learnerCatchUpEntriesMax: 100,
};

/** Snapshot of the node's state, for status pages and tests. */
export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  role: Role;
  leader: NodeId | null;
  conf: ConfState;
  /** Leader only: per-follower replication progress. */
  progress: Record<NodeId, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean }> | null;
  /** Leader only: the node leadership is being transferred to. */
  leadTransferee: NodeId | null;
}

/**
 * The writable side of log storage, used by drivers (runtime, simulator) — never by the core.
 * Every method is atomic: after a crash either all of a call's effects are durable or none.
 */
export interface RaftLogStore extends RaftStorage {
  /**
   * Write hardState (if given) and append entries (if any) in ONE atomic write. Entries must be
   * contiguous; entries[0].index may be <= lastIndex()+1, in which case every stored entry from
   * entries[0].index on is replaced (conflict truncation). When `sync` is true the write is on
   * disk (fsync/fdatasync) when the returned promise resolves; nothing may be acknowledged
   * (message sent, vote granted) before that.
   */
  save(hardState: HardState | null, entries: Entry[], sync: boolean): Promise<void>;
  /**
   * Install a snapshot received from the leader: it replaces the log (entries <= snap index are
   * discarded; if the log holds the entry at snap.index with snap.term, later entries are kept,
   * otherwise the whole log is discarded). Durable when the promise resolves.
   */
  applySnapshot(snap: Snapshot): Promise<void>;
  /**
   * Record a snapshot taken locally at `snap.meta.index` (<= applied) and discard log entries
   * up to and including `compactIndex` (<= snap.meta.index). Durable when the promise resolves.
   */
  createSnapshot(snap: Snapshot, compactIndex: number): Promise<void>;
  /** First start of a new cluster member: store the initial membership (as a snapshot at index 0). No-op if already bootstrapped. */
  bootstrap(conf: ConfState): Promise<void>;
  /** True once bootstrap() or applySnapshot() has stored a membership. */
  isBootstrapped(): boolean;
  close(): Promise<void>;
}

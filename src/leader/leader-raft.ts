/**
 * What the leader package needs from the Raft group it serves (consensus/RaftRuntime provides
 * it; unit tests fake it). Declared here, by its consumer, so the package depends on these
 * calls only.
 */
import type { RaftStatusAnswer } from '../proto/meta-answers.js';
import type { CairnError } from '../util/errors.js';

/** The Raft status: what raft.status answers, and the followers' progress cluster.status reads. */
export interface LeaderRaftStatus extends RaftStatusAnswer {
  /** Leader only: per-follower replication progress. */
  progress: Record<string, { recentActive: boolean; match: number }> | null;
}

export interface LeaderRaft {
  /** This server leads now. */
  isLeader(): boolean;
  status(): LeaderRaftStatus;
  /** The NotLeader error to answer with, carrying the known leader and its address. */
  notLeader(): CairnError;
  /**
   * Replicate a command; resolves with the state machine's result once applied here. Rejects
   * with NotLeader, ProposalDropped or Timeout (outcome unknown).
   */
  propose(data: Uint8Array): Promise<unknown>;
  /** Resolves once the local state reflects every write committed before the call (ReadIndex); NotLeader on a follower. */
  linearizableRead(): Promise<void>;
  /** A metadata server's address by id. */
  addrOf(id: string): string | undefined;
}

/**
 * What the leader package needs from the Raft group it serves (consensus/RaftRuntime provides
 * it; unit tests fake it). Declared here, by its consumer, so the package depends on these
 * calls only.
 */
import type { CairnError } from '../util/errors.js';

/** The parts of the Raft status the leader reads. The object raft.status answers with is whatever status() returns. */
export interface LeaderRaftStatus {
  role: string;
  term: number;
  leader: string | null;
  conf: { voters: readonly string[]; learners: readonly string[] };
  /** Leader only: per-follower replication progress. */
  progress: Record<string, { recentActive: boolean }> | null;
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

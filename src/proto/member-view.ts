/**
 * A metadata member as an operator's report shows it (`cairn status --json` metaDetail, the web
 * console): the member's own raft.status answer first, the leader's view of it second.
 */
import type { ClusterStatus, RaftStatusAnswer } from './meta-answers.js';

export interface MetaMemberView {
  reachable: boolean;
  /** The member's own Raft role (follower, pre-candidate, candidate, leader, learner); null when it did not answer. */
  raftRole: string | null;
  term: number | null;
  commit: number | null;
  applied: number | null;
  /** Entries behind the leader's log (the leader's view); null when unknown. */
  lag: number | null;
  /** Milliseconds since it heard from a leader (its own answer); null when unknown. */
  lastContactMs: number | null;
}

/** Each member of `s.meta`, merged from its own answer in `own` (if any) and the leader's detail. */
export function mergeMemberViews(s: Pick<ClusterStatus, 'meta' | 'metaDetail'>, own: readonly RaftStatusAnswer[]): Record<string, MetaMemberView> {
  const byId = new Map(own.map((a) => [a.id, a]));
  const out: Record<string, MetaMemberView> = {};
  for (const m of s.meta) {
    const o = byId.get(m.id);
    const lead = s.metaDetail?.[m.id];
    out[m.id] = {
      reachable: o !== undefined || m.role === 'leader',
      raftRole: o?.role ?? (m.role === 'leader' ? 'leader' : null),
      term: o?.term ?? lead?.term ?? null,
      commit: o?.commit ?? lead?.commit ?? null,
      applied: o?.applied ?? lead?.applied ?? null,
      lag: lead?.lag ?? null,
      lastContactMs: o?.leaderContactMs ?? lead?.lastContactMs ?? null,
    };
  }
  return out;
}

/**
 * Proposing commands through Raft and turning a refused outcome into its CairnError. Resolves
 * once the command is applied on this server.
 */
import type { ClusterCommand, ClusterResult } from '../meta/cluster-map.js';
import { encodeMetaCommand, type MetaCommand } from '../meta/meta-command.js';
import type { Outcome } from '../meta/namespace.js';
import { CairnError } from '../util/errors.js';
import type { LeaderRaft } from './leader-raft.js';

/** A namespace command (mkdir, delete, rename, commitFile): its successful outcome, or its error thrown. */
export async function proposeNamespace(raft: Pick<LeaderRaft, 'propose'>, cmd: MetaCommand): Promise<Record<string, unknown>> {
  const out = (await raft.propose(encodeMetaCommand(cmd))) as Outcome | undefined;
  if (!out) throw new CairnError('Internal', 'no result from the state machine');
  if (!out.ok) throw new CairnError(out.code, out.message);
  return out as Record<string, unknown>;
}

/** A cluster-map command, stamped with the leader's wall time `nowMs`. */
export async function proposeCluster(raft: Pick<LeaderRaft, 'propose'>, cmd: ClusterCommand, nowMs: number): Promise<Extract<ClusterResult, { ok: true }>> {
  const out = (await raft.propose(encodeMetaCommand({ op: 'cluster', cluster: cmd, nowMs }))) as ClusterResult | undefined;
  if (!out) throw new CairnError('Internal', 'no result from the state machine');
  if (!out.ok) throw new CairnError(out.code, out.message);
  return out;
}

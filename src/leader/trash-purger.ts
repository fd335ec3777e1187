/**
 * Empties the namespace's trash (meta/namespace-trash.ts): while it holds anything, the leader
 * proposes purgeTrash commands one after another, each deleting at most TREE_DELETE_ENTRIES
 * entries, so no single apply holds the members for long. Started from the leader's tick; a
 * leader that loses its leadership stops, and the next one finds what is left and goes on.
 */
import type { MetaReadView } from '../meta/namespace-keys.js';
import { hasTrash, TREE_DELETE_ENTRIES } from '../meta/namespace-trash.js';
import type { Logger } from '../util/logger.js';
import type { LeaderRaft } from './leader-raft.js';
import { proposeNamespace } from './proposals.js';

export interface TrashPurgerComponents {
  raft: Pick<LeaderRaft, 'propose' | 'isLeader'>;
  /** Committed state. */
  view: MetaReadView;
  wallMs: () => number;
  logger: Logger;
}

export class TrashPurger {
  private running = false;

  constructor(private readonly c: TrashPurgerComponents) {}

  /** From the leader's tick: start purging if the trash holds anything and no purge runs. */
  tick(): void {
    if (this.running || !hasTrash(this.c.view)) return;
    this.running = true;
    void this.run().finally(() => (this.running = false));
  }

  private async run(): Promise<void> {
    try {
      while (this.c.raft.isLeader() && hasTrash(this.c.view)) {
        await proposeNamespace(this.c.raft, { op: 'purgeTrash', nowMs: this.c.wallMs(), entries: TREE_DELETE_ENTRIES });
      }
    } catch (err) {
      // Leadership lost, or the proposal timed out: the next tick (or the next leader) goes on.
      this.c.logger.debug('trash purge paused', { err: (err as Error).message });
    }
  }
}

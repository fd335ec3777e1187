/**
 * Reads of this server's committed namespace (consensus/MetaStateMachine provides them). The
 * caller makes a read linearizable (LeaderRaft.linearizableRead) before asking, where it must be.
 */
import type { ListEntry, Outcome, PageOptions, StatInfo, WalkEntry } from '../meta/namespace.js';

export interface NamespaceReader {
  /** Index of the last entry applied to this server's state. */
  appliedIndex(): number;
  stat(path: string): Outcome<{ stat: StatInfo }>;
  list(path: string, options?: PageOptions): Outcome<{ entries: ListEntry[]; cursor: string | null }>;
  walk(path: string, options?: PageOptions): Outcome<{ entries: WalkEntry[]; cursor: string | null }>;
}

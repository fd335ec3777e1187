/** The namespace state machine over the in-memory store, one command per batch, with a client session that counts up. */
import type { MetaCommand } from '../../../src/meta/meta-command.js';
import { applyMetaCommand, type MetaResult } from '../../../src/meta/namespace-machine.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

export function machineHarness() {
  const store = new MemoryKvStore();
  let index = 0;
  let seq = 0;
  /** Apply one command as the next entry. */
  const run = (cmd: MetaCommand): Promise<MetaResult> => store.applyBatch(++index, (t) => applyMetaCommand(t, cmd));
  /** The next session header of client c1 (everything before it acknowledged). */
  const s = () => ({ client: 'c1', seq: ++seq, ackedBelow: seq });
  return { store, run, s };
}

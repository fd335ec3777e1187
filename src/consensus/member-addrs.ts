/**
 * Where the runtime dials each Raft member: addresses come from three places that can disagree
 * after membership changes and compaction — what the state machine remembers from applied
 * ConfChanges (members added at runtime, whose entries compaction may have dropped), the
 * `--peers` of this start, and the ConfChange entries still in the log — and change as
 * ConfChanges apply.
 */
import { decodeConfChange } from '../raft/index.js';
import { EntryType, type ConfChange, type ConfState, type NodeId, type RaftLogStore } from '../raft/types.js';
import type { StateMachine } from './state-machine.js';

/** At start: the state's remembered addresses, then `initialPeers`, then the log's ConfChanges, in order. */
export function memberAddrsAtStart(sm: StateMachine, storage: RaftLogStore, conf: ConfState, initialPeers: Map<NodeId, string>): Map<NodeId, string> {
  const addrs = rememberedAddrs(sm, conf);
  for (const [id, a] of initialPeers) addrs.set(id, a);
  for (const cc of confChangesInLog(storage)) applyAddress(addrs, cc);
  return addrs;
}

/** The state's remembered member addresses, for current members only (an image may be older than the group). */
export function rememberedAddrs(sm: StateMachine, conf: ConfState): Map<NodeId, string> {
  const out = new Map<NodeId, string>();
  const members = new Set([...conf.voters, ...conf.learners]);
  for (const [id, a] of sm.memberAddrs?.() ?? []) if (members.has(id)) out.set(id, a);
  return out;
}

/** A ConfChange's effect on the addresses: a removal forgets, an addition with a context sets. */
export function applyAddress(addrs: Map<NodeId, string>, cc: ConfChange): void {
  if (cc.type === 'removeNode') addrs.delete(cc.node);
  else if (cc.context && cc.context.byteLength > 0) addrs.set(cc.node, new TextDecoder().decode(cc.context));
}

/** Every ConfChange entry still in the log, in order. */
function confChangesInLog(storage: RaftLogStore): ConfChange[] {
  const out: ConfChange[] = [];
  const last = storage.lastIndex();
  for (let lo = storage.firstIndex(); lo <= last; ) {
    const batch = storage.entries(lo, last + 1, 8 << 20);
    for (const e of batch) if (e.type === EntryType.ConfChange) out.push(decodeConfChange(e.data));
    lo += batch.length;
  }
  return out;
}

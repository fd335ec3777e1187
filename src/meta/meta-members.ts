/**
 * Addresses of the metadata group's members, kept in the replicated state beside the namespace:
 *
 *   m/member/<id>  → the member's address (UTF-8 host:port)
 *
 * A member added at runtime (`cairn meta add ID ADDR`) has its address only in its ConfChange
 * entry; once the log is compacted past that entry, a restarting server would no longer know
 * where to dial it unless its --peers named it. Applying every ConfChange here as well (set on
 * an add that carries an address, deleted on a removal) puts the addresses into the state, so
 * they survive compaction, travel in snapshots to new members, and are read back on start.
 * Backups leave these keys out: a restored group gets its own members and addresses.
 */
import type { MetaReadView, MetaTxn } from './namespace-keys.js';

export const MEMBER_PREFIX = 'm/member/';

/** Record what one applied membership change did to the addresses (deterministic on every replica). */
export function applyMemberChange(txn: MetaTxn, change: { type: 'addLearner' | 'addVoter' | 'removeNode'; node: string; addr: string | null }): void {
  const key = MEMBER_PREFIX + change.node;
  if (change.type === 'removeNode') txn.del(key);
  else if (change.addr !== null && change.addr.length > 0) txn.put(key, new TextEncoder().encode(change.addr));
}

/** Every remembered member address, by id. */
export function memberAddresses(view: MetaReadView): Map<string, string> {
  const out = new Map<string, string>();
  const dec = new TextDecoder();
  for (const [k, v] of view.range(MEMBER_PREFIX, memberPrefixEnd())) out.set(k.slice(MEMBER_PREFIX.length), dec.decode(v));
  return out;
}

/** Whether a state key is a member address (left out of backups). */
export function isMemberKey(key: string): boolean {
  return key.startsWith(MEMBER_PREFIX);
}

function memberPrefixEnd(): string {
  return MEMBER_PREFIX.slice(0, -1) + String.fromCharCode(MEMBER_PREFIX.charCodeAt(MEMBER_PREFIX.length - 1) + 1);
}

/**
 * The metadata state machine (src/meta: namespace + exactly-once sessions) bound to a durable
 * ordered key-value store: every batch of committed entries is applied in ONE store transaction
 * that also records the applied index, so after any crash the state and its applied index agree
 * and the runtime resumes exactly there. A snapshot is a consistent read view of that store,
 * streamed in pieces (kv-snapshot.ts) and installed atomically on the follower.
 *
 * Reads (stat, list, walk) see committed state; the caller makes them linearizable (ReadIndex)
 * before asking. Membership changes leave the members' addresses in the state too
 * (meta/meta-members.ts), so they outlive log compaction.
 */
import { decodeMetaCommand } from '../meta/meta-command.js';
import { applyMemberChange, memberAddresses } from '../meta/meta-members.js';
import { decodeConfChange } from '../raft/index.js';
import type { MetaReadView, MetaTxn } from '../meta/namespace-keys.js';
import { DEFAULT_SESSION_LIMITS, applyMetaCommand, type MetaResult } from '../meta/namespace-machine.js';
import { list, stat, walk, type ListEntry, type Outcome, type PageOptions, type StatInfo, type WalkEntry } from '../meta/namespace.js';
import { parsePath } from '../proto/path.js';
import type { SessionLimits } from '../meta/session.js';
import { isCairnError } from '../util/errors.js';
import { StoreStateMachine, type BatchStore } from './store-state-machine.js';

/** What the machine needs from durable storage (storage/LmdbStateStore and MemoryKvStore provide it). */
export interface MetaStore extends BatchStore<MetaTxn>, MetaReadView {}

export class MetaStateMachine extends StoreStateMachine<MetaTxn> {
  private readonly limits: SessionLimits;
  private readonly view: MetaReadView;

  /** `limits` must be the same on every replica (they decide outcomes). */
  constructor(store: MetaStore, limits: SessionLimits = DEFAULT_SESSION_LIMITS) {
    super(store);
    this.limits = limits;
    this.view = { get: (k) => store.get(k), range: (s, e, l) => store.range(s, e, l) };
  }

  protected applyCommand(txn: MetaTxn, data: Uint8Array): MetaResult {
    let cmd;
    try {
      cmd = decodeMetaCommand(data);
    } catch (err) {
      // The leader validates before proposing; a bad entry is still applied deterministically as a no-op.
      return isCairnError(err) ? { ok: false, code: err.code, message: err.message } : { ok: false, code: 'InvalidArgument', message: 'meta command: undecodable' };
    }
    return applyMetaCommand(txn, cmd, this.limits);
  }

  protected override applyConfChange(txn: MetaTxn, data: Uint8Array): void {
    let cc;
    try {
      cc = decodeConfChange(data);
    } catch {
      return; // the core applied it, so it decodes; a bad one changes no address anywhere
    }
    applyMemberChange(txn, { type: cc.type, node: cc.node, addr: cc.context && cc.context.byteLength > 0 ? new TextDecoder().decode(cc.context) : null });
  }

  /** The members' addresses as of the applied index (those added with one at runtime). */
  memberAddrs(): Map<string, string> {
    return memberAddresses(this.view);
  }

  stat(path: string): Outcome<{ stat: StatInfo }> {
    return withPath(path, (segs) => stat(this.view, segs));
  }

  list(path: string, options: PageOptions = {}): Outcome<{ entries: ListEntry[]; cursor: string | null }> {
    return withPath(path, (segs) => list(this.view, segs, options));
  }

  walk(path: string, options: PageOptions = {}): Outcome<{ entries: WalkEntry[]; cursor: string | null }> {
    return withPath(path, (segs) => walk(this.view, segs, options));
  }
}

function withPath<T extends object>(path: string, fn: (segs: string[]) => Outcome<T>): Outcome<T> {
  let segs: string[];
  try {
    segs = parsePath(path);
  } catch (err) {
    if (isCairnError(err)) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
  return fn(segs);
}

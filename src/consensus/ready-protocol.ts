/**
 * The Ready protocol (etcd-io/raft's Ready/Advance): what a driver does with one `Ready` of the
 * core, and in which order. `planReady` is pure: it returns the steps; the driver performs them
 * one after another, each only once the previous one is done, then calls `advance(rd)`. Two
 * drivers follow it: RaftRuntime (real storage, transport and state machine) and the simulator
 * (test/sim), so the order checked by the simulation is the order that runs in production.
 *
 *   1. soft-state  role/leader changes (a leader that lost office fails its reads, aborts transfers)
 *   2. install     a snapshot from the leader: the log first, then the state machine by the image
 *                  its transfer staged (a crash in between is finished on restart)
 *   3. apply       committed entries already durable here before this Ready and not rewritten by
 *                  it: they may apply while this Ready's write is in flight (typically a leader
 *                  persisting only its new commit index) since they are committed on a quorum, and
 *                  a crash before the hard state lands is harmless (the core takes committed =
 *                  max(commit, applied) on restart)
 *   4. send        a leader's appends and heartbeats, before its own write (Raft thesis §10.2.1:
 *                  the leader's fsync and the followers' overlap; safe because the core counts
 *                  the leader's own copy only once durable, through advance → stableTo)
 *   5. persist     entries + hard state in ONE durable write
 *   6. send        every other message, only now ("persist before send": no vote or append is
 *                  acknowledged before it is on disk, so a crash never loses an acknowledged entry
 *                  or lets a node vote twice in a term); snapshots go out as transfers (stream)
 *   7. apply       the remaining committed entries
 *   8. reads       ReadIndex results
 *   9. (beside)    while the driver waits for step 5's write, a message it steps in may commit
 *                  entries that were durable here before that write (a leader's previous batch,
 *                  acknowledged by a follower meanwhile): the core hands them out at once
 *                  (`takeCommitted`, bounded by what is durable and still part of the log) and
 *                  the driver applies them then, after everything handed out before and before
 *                  the next Ready's entries, instead of one write later
 */
import { decodeRaftMessage } from '../proto/raft-codec.js';
import type { Entry, HardState, Message, MsgSnap, NodeId, ReadState, Ready, Role, Snapshot } from '../raft/types.js';
import { CairnError } from '../util/errors.js';

export type ReadyStep =
  | { kind: 'soft-state'; leader: NodeId | null; role: Role }
  | { kind: 'install'; snapshot: Snapshot }
  | { kind: 'apply'; entries: Entry[] }
  | { kind: 'send'; messages: Message[] }
  /** A MsgSnap whose image is streamed beside the Raft messages (snapshot-streams.ts). */
  | { kind: 'stream'; message: MsgSnap }
  /** One durable write; `hardState` null and `entries` empty when only a barrier is needed. */
  | { kind: 'persist'; hardState: HardState | null; entries: Entry[]; mustSync: boolean }
  | { kind: 'reads'; readStates: ReadState[] };

/** What the driver knows that the Ready does not say. */
export interface ReadyFacts {
  /** The role before this Ready (a soft-state step in it overrides it). */
  role: Role;
  /** Last index in durable storage before this Ready's write. */
  lastIndex: number;
}

/** The steps of one Ready, in the order a driver must perform them (see the file comment). */
export function planReady(rd: Ready, facts: ReadyFacts): ReadyStep[] {
  const steps: ReadyStep[] = [];
  let role = facts.role;
  if (rd.softState) {
    role = rd.softState.role;
    steps.push({ kind: 'soft-state', leader: rd.softState.leader, role });
  }
  if (rd.snapshot) steps.push({ kind: 'install', snapshot: rd.snapshot });

  const committed = rd.committedEntries;
  let split = 0;
  if (!rd.snapshot) {
    // Durable AND not rewritten by this Ready: a follower's stale uncommitted entry at the same
    // index is still on disk until this write replaces it (found by the simulation, seed 959).
    const firstNew = rd.entries.length > 0 ? rd.entries[0]!.index : Infinity;
    const stableLast = Math.min(facts.lastIndex, firstNew - 1);
    while (split < committed.length && committed[split]!.index <= stableLast) split++;
  }
  if (split > 0) steps.push({ kind: 'apply', entries: committed.slice(0, split) });

  const leading = role === 'leader';
  const early: Message[] = [];
  const late: Message[] = [];
  const streams: MsgSnap[] = [];
  for (const m of rd.messages) {
    if (leading && (m.type === 'app' || m.type === 'heartbeat')) early.push(m);
    else if (m.type === 'snap' && m.snapshot.meta.index > 0) streams.push(m);
    else late.push(m);
  }
  if (early.length > 0) steps.push({ kind: 'send', messages: early });
  if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
    steps.push({ kind: 'persist', hardState: rd.hardState, entries: rd.entries, mustSync: rd.mustSync });
  }
  if (late.length > 0) steps.push({ kind: 'send', messages: late });
  for (const m of streams) steps.push({ kind: 'stream', message: m });

  if (split < committed.length) steps.push({ kind: 'apply', entries: split > 0 ? committed.slice(split) : committed });
  if (rd.readStates.length > 0) steps.push({ kind: 'reads', readStates: rd.readStates });
  return steps;
}

/**
 * Decode a Raft message that arrived from peer `from` at node `self`; throws ProtocolError when
 * it is malformed, names another sender or receiver, or carries a snapshot image outside a
 * transfer (an image only comes through snapshot-streams, which hands its MsgSnap in itself).
 */
export function decodePeerMessage(from: NodeId, self: NodeId, payload: Uint8Array): Message {
  const m = decodeRaftMessage(payload);
  if (m.type === 'snap' && m.snapshot.meta.index > 0) throw new CairnError('ProtocolError', 'snapshot message outside a transfer');
  if (m.from !== from) throw new CairnError('ProtocolError', `message from ${m.from} on ${from}'s connection`);
  if (m.to !== self) throw new CairnError('ProtocolError', `message for ${m.to} delivered to ${self}`);
  return m;
}

/**
 * One node's snapshot transfers (snapshot-transfer.ts) wired to its core, its log and its state
 * machine: the leader side streams an image to each follower the core wants to snapshot (at
 * most one transfer per follower), the follower side stages incoming images and steps their
 * MsgSnap into the core. Used by RaftRuntime and by the simulator, over their own transports.
 */
import type { Clock, Timers } from '../env/clock.js';
import { decodeRaftMessage, encodeRaftMessage } from '../proto/raft-codec.js';
import { applyConfChange, decodeConfChange } from '../raft/index.js';
import { EntryType, type ConfState, type Message, type MsgSnap, type NodeId, type RaftLogStore, type Ready } from '../raft/types.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { decodeSnapshotFrame, SnapshotReceiver, SnapshotSender, type SnapshotReader, type SnapshotWriter } from './snapshot-transfer.js';

/** The state machine's side of a transfer. */
export interface SnapshotSource {
  /** A consistent read view of the whole state at its applied index. */
  openSnapshot(): Promise<SnapshotReader>;
  /** Start receiving an image into staging; a newer writer supersedes an older one. */
  beginSnapshotWrite(): SnapshotWriter;
}

/** The part of the Raft core a transfer talks to. */
export interface SnapshotCore {
  step(m: Message): void;
  status(): { commit: number };
  reportSnapshot(id: NodeId, ok: boolean): void;
}

export interface SnapshotStreamsComponents {
  timers: Timers;
  /** Times each transfer for the operator's log ("snapshot sent"); without it no time is logged. */
  clock?: Clock;
  logger: Logger;
  storage: RaftLogStore;
  stateMachine: SnapshotSource;
  core: SnapshotCore;
  /** Queue a frame for a peer; false when it was dropped. */
  send(to: NodeId, payload: Uint8Array): boolean;
  /** The core has new input: run the Ready loop. */
  kick(): void;
}

export interface SnapshotStreamsOptions {
  id: NodeId;
  /** Give up a transfer when the follower acknowledges nothing for this long. @default 10000 */
  ackTimeoutMs?: number;
  /** Pieces in flight per transfer. @default 4 */
  windowPieces?: number;
  /** @default SNAPSHOT_PIECE_BYTES_MAX */
  pieceBytesMax?: number;
}

export class SnapshotStreams {
  private readonly id: NodeId;
  private readonly log: Logger;
  /** Transfers this leader is sending, by follower. */
  private readonly senders = new Map<NodeId, SnapshotSender>();
  private transferSeq = 0;
  private readonly receiver: SnapshotReceiver;
  private closed = false;
  /** An image was handed to the core and no Ready has been taken since: is it in the next one? */
  private delivered = false;

  constructor(
    private readonly c: SnapshotStreamsComponents,
    private readonly opts: SnapshotStreamsOptions,
  ) {
    this.id = opts.id;
    this.log = c.logger;
    this.receiver = new SnapshotReceiver({
      logger: c.logger,
      send: (to, payload) => c.send(to, payload),
      beginWrite: () => c.stateMachine.beginSnapshotWrite(),
      snapshotIndexOf: (from, msg) => this.snapshotMessage(from, msg).snapshot.meta.index,
      deliver: (from, msg) => {
        const m = this.snapshotMessage(from, msg);
        // The core ignores a snapshot it already has (committed past it): nothing to install then.
        const willInstall = m.snapshot.meta.index > c.core.status().commit;
        c.core.step(m);
        this.delivered = willInstall;
        c.kick();
        return willInstall;
      },
    });
  }

  /** A snapshot frame from peer `from` (see isSnapshotFrame); throws ProtocolError when malformed. */
  onFrame(from: NodeId, payload: Uint8Array): void {
    if (this.closed) return;
    const f = decodeSnapshotFrame(payload);
    if (f.kind === 'ack' || f.kind === 'fail') this.senders.get(from)?.onFrame(f);
    else this.receiver.onFrame(from, f);
  }

  /** The Ready loop installed the delivered image: new transfers may stage again. */
  installed(): void {
    this.receiver.installed();
  }

  /**
   * The driver took a Ready from the core. The first one after a delivery holds the image's
   * snapshot, or the core did not take it (it had the snapshot's last entry already, or the
   * message's term was stale): staging is free again then, or no transfer could ever stage.
   */
  readyTaken(rd: Pick<Ready, 'snapshot'>): void {
    if (!this.delivered) return;
    this.delivered = false;
    if (rd.snapshot === null) this.receiver.installed();
  }

  /** Leadership lost: stop every outgoing transfer. */
  abortSenders(reason: string): void {
    for (const s of this.senders.values()) s.abort(reason);
  }

  /** Stop everything; no transfer reports to the core after this. */
  close(reason: string): void {
    this.closed = true;
    this.abortSenders(reason);
    this.receiver.close();
  }

  /**
   * Stream the state to a follower the core wants to snapshot. The image is read at this node's
   * applied index, which may be past the core's snapshot: the MsgSnap is rewritten to describe
   * exactly the image (term and membership at that index, from our log).
   */
  stream(m: MsgSnap): void {
    const to = m.to;
    // The core retries a snapshot it has not heard back about after a few election timeouts;
    // a transfer still in progress is that snapshot (it fails on its own ack timeout).
    if (this.closed || this.senders.has(to)) return;
    const sender = new SnapshotSender(
      { timers: this.c.timers, logger: this.log, send: (p) => this.c.send(to, p) },
      {
        transfer: `${this.id}:${m.term}:${++this.transferSeq}`,
        ...(this.opts.ackTimeoutMs !== undefined ? { ackTimeoutMs: this.opts.ackTimeoutMs } : {}),
        ...(this.opts.windowPieces !== undefined ? { windowPieces: this.opts.windowPieces } : {}),
        ...(this.opts.pieceBytesMax !== undefined ? { pieceBytesMax: this.opts.pieceBytesMax } : {}),
      },
    );
    this.senders.set(to, sender);
    const { storage, stateMachine } = this.c;
    void (async () => {
      let ok = false;
      try {
        const reader = await stateMachine.openSnapshot();
        let msg: Uint8Array;
        try {
          const index = reader.index;
          msg = encodeRaftMessage({ ...m, snapshot: { meta: { index, term: storage.term(index), conf: confAt(storage, index) }, data: NO_DATA } });
        } catch (err) {
          reader.close();
          throw err;
        }
        this.log.info('sending snapshot', { to, index: reader.index });
        const t0 = this.c.clock?.nowMs();
        ok = await sender.run(reader, msg);
        const ms = t0 === undefined ? {} : { ms: Math.round(this.c.clock!.nowMs() - t0) };
        if (ok) this.log.info('snapshot sent', { to, index: reader.index, ...sender.sentTotals(), ...ms });
      } catch (err) {
        this.log.warn('snapshot transfer failed', { to, err: (err as Error).message });
      }
      if (this.senders.get(to) === sender) this.senders.delete(to);
      if (this.closed) return;
      this.c.core.reportSnapshot(to, ok);
      this.c.kick();
    })();
  }

  /** Decode and check the MsgSnap that ends a transfer from `from`. */
  private snapshotMessage(from: NodeId, bytes: Uint8Array): MsgSnap {
    const m = decodeRaftMessage(bytes);
    if (m.type !== 'snap' || m.from !== from || m.to !== this.id || m.snapshot.meta.index < 1)
      throw new CairnError('ProtocolError', 'a snapshot transfer must end with a MsgSnap from its sender to us');
    return m;
  }
}

/** Membership as of `index`: the stored snapshot's, plus ConfChange entries up to index. */
export function confAt(storage: RaftLogStore, index: number): ConfState {
  const base = storage.initialState().confState;
  let conf: ConfState = { voters: [...base.voters].sort(), learners: [...base.learners].sort() };
  const first = storage.firstIndex();
  for (let lo = first; lo <= index; ) {
    const batch = storage.entries(lo, index + 1, 8 << 20);
    for (const e of batch) if (e.type === EntryType.ConfChange) conf = applyConfChange(conf, decodeConfChange(e.data));
    lo += batch.length;
  }
  return conf;
}

/** A Raft snapshot carries no data: the state machine's own store is the image. */
export const NO_DATA = new Uint8Array(0);

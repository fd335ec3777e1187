/**
 * InstallSnapshot streamed in pieces (etcd sends its snapshots the same way, beside the Raft
 * message stream). The core's MsgSnap carries only metadata; the state machine's image never
 * exists as one buffer: the leader reads it from a consistent read view of its state store and
 * sends it piece by piece, at most `windowPieces` unacknowledged; the follower writes each piece
 * into a staging area that does not touch its live state, and only when the last piece is
 * durable does it step the MsgSnap into its core. The runtime then swaps the staged image in.
 *
 * The image is read at the leader's applied index A, which may be past the core's snapshot index;
 * the MsgSnap is rewritten to describe A (its term and membership come from the leader's log), so
 * the follower's log and state machine agree exactly (A is committed: A <= applied <= commit).
 *
 * Frames (msgpack arrays; version 2 tells them apart from Raft messages, whose codec is v1):
 *   leader → follower  [2, 'piece', transfer, seq, bytes]   seq = 0, 1, 2, …
 *                      [2, 'done',  transfer, pieces, msgSnapBytes]
 *   follower → leader  [2, 'ack',   transfer, seq, nil]     seq = pieces written durably so far - 1,
 *                                                            or `pieces` once the image is finished
 *                      [2, 'fail',  transfer, reason, nil]
 */
import type { Timers } from '../env/clock.js';
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { SNAPSHOT_ACK_TIMEOUT_MS_DEFAULT, SNAPSHOT_WINDOW_PIECES_DEFAULT } from '../config/defaults.js';

export const SNAPSHOT_FRAME_VERSION = 2;
/** Piece size: large enough to stream fast, far below the frame and queue limits. */
export const SNAPSHOT_PIECE_BYTES_MAX = 1 << 20;

/** A consistent read view of the whole state at `index`. */
export interface SnapshotReader {
  readonly index: number;
  /** The next piece of the image (at most about bytesMax), or null at the end. */
  next(bytesMax: number): Promise<Uint8Array | null>;
  close(): void;
}

/** Receives an image into staging; the live state is untouched until the runtime installs it. */
export interface SnapshotWriter {
  write(piece: Uint8Array): Promise<void>;
  /** The image is complete and durable in staging, as the state at `index`. */
  finish(index: number): Promise<void>;
  abort(): Promise<void>;
}

export type SnapshotFrame =
  | { kind: 'piece'; transfer: string; seq: number; bytes: Uint8Array }
  | { kind: 'done'; transfer: string; pieces: number; msg: Uint8Array }
  | { kind: 'ack'; transfer: string; seq: number }
  | { kind: 'fail'; transfer: string; reason: string };

/** The ack that says the whole image is durably staged and handed to the core. */
export const SNAPSHOT_DONE_SEQ = Number.MAX_SAFE_INTEGER;
const TRANSFER_CHARS_MAX = 128;
const REASON_CHARS_MAX = 512;

/** Does this peer frame belong to a snapshot transfer (as opposed to a Raft message)? */
export function isSnapshotFrame(payload: Uint8Array): boolean {
  // A msgpack fixarray header, then the version as a positive fixint.
  return payload.length > 1 && (payload[0]! & 0xf0) === 0x90 && payload[1] === SNAPSHOT_FRAME_VERSION;
}

export function encodeSnapshotFrame(f: SnapshotFrame): Uint8Array {
  switch (f.kind) {
    case 'piece':
      return pack([SNAPSHOT_FRAME_VERSION, 'piece', f.transfer, f.seq, f.bytes]);
    case 'done':
      return pack([SNAPSHOT_FRAME_VERSION, 'done', f.transfer, f.pieces, f.msg]);
    case 'ack':
      return pack([SNAPSHOT_FRAME_VERSION, 'ack', f.transfer, f.seq, null]);
    case 'fail':
      return pack([SNAPSHOT_FRAME_VERSION, 'fail', f.transfer, f.reason.slice(0, REASON_CHARS_MAX), null]);
  }
}

/** Validating decode; throws ProtocolError. */
export function decodeSnapshotFrame(payload: Uint8Array): SnapshotFrame {
  let v: unknown;
  try {
    v = unpack(payload);
  } catch {
    throw new CairnError('ProtocolError', 'snapshot frame: not msgpack');
  }
  if (!Array.isArray(v) || v.length !== 5 || v[0] !== SNAPSHOT_FRAME_VERSION) throw new CairnError('ProtocolError', 'snapshot frame: bad header');
  const [, kind, transfer, a, b] = v as unknown[];
  if (typeof transfer !== 'string' || transfer.length === 0 || transfer.length > TRANSFER_CHARS_MAX) throw new CairnError('ProtocolError', 'snapshot frame: bad transfer id');
  const count = (x: unknown): number => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new CairnError('ProtocolError', 'snapshot frame: bad sequence number');
    return x;
  };
  const bytes = (x: unknown, max: number): Uint8Array => {
    if (!(x instanceof Uint8Array) || x.byteLength > max) throw new CairnError('ProtocolError', 'snapshot frame: bad bytes');
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  };
  switch (kind) {
    case 'piece':
      return { kind, transfer, seq: count(a), bytes: bytes(b, 2 * SNAPSHOT_PIECE_BYTES_MAX) };
    case 'done':
      return { kind, transfer, pieces: count(a), msg: bytes(b, 1 << 20) };
    case 'ack':
      if (b !== null) throw new CairnError('ProtocolError', 'snapshot frame: bad ack');
      return { kind, transfer, seq: count(a) };
    case 'fail':
      if (typeof a !== 'string' || b !== null) throw new CairnError('ProtocolError', 'snapshot frame: bad fail');
      return { kind, transfer, reason: a.slice(0, REASON_CHARS_MAX) };
    default:
      throw new CairnError('ProtocolError', 'snapshot frame: unknown kind');
  }
}

export interface SnapshotSenderOptions {
  transfer: string;
  /** Pieces sent but not yet acknowledged. @default 4 */
  windowPieces?: number;
  pieceBytesMax?: number;
  /** Give up when the follower acknowledges nothing for this long. @default 10000 */
  ackTimeoutMs?: number;
}

/**
 * Leader side of one transfer. `start()` resolves true once the follower has the whole image
 * durably staged and has been handed the MsgSnap, false on any failure (the core is then told
 * the snapshot failed and tries again later).
 */
export class SnapshotSender {
  readonly transfer: string;
  private readonly windowPieces: number;
  private readonly pieceBytesMax: number;
  private readonly ackTimeoutMs: number;
  private acked = -1;
  /** Pieces and image bytes handed to the transport so far (the operator's log reports them). */
  private sent = { pieces: 0, bytes: 0 };
  private finished = false;
  private failed: string | null = null;
  private wake: (() => void) | null = null;
  private timer: { cancel(): void } | null = null;

  constructor(
    private readonly c: { timers: Timers; logger: Logger; send(payload: Uint8Array): boolean },
    opts: SnapshotSenderOptions,
  ) {
    this.transfer = opts.transfer;
    this.windowPieces = opts.windowPieces ?? SNAPSHOT_WINDOW_PIECES_DEFAULT;
    this.pieceBytesMax = opts.pieceBytesMax ?? SNAPSHOT_PIECE_BYTES_MAX;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? SNAPSHOT_ACK_TIMEOUT_MS_DEFAULT;
  }

  /** Stream the image, then `msg` (the MsgSnap describing it). The reader is closed here. */
  async run(reader: SnapshotReader, msg: Uint8Array): Promise<boolean> {
    try {
      let seq = 0;
      for (;;) {
        while (seq - this.acked > this.windowPieces && !this.failed) await this.waitForAck();
        if (this.failed) return false;
        const piece = await reader.next(this.pieceBytesMax);
        if (piece === null) break;
        if (!this.c.send(encodeSnapshotFrame({ kind: 'piece', transfer: this.transfer, seq, bytes: piece }))) {
          this.fail('peer queue full or peer unknown');
          return false;
        }
        seq++;
        this.sent.pieces++;
        this.sent.bytes += piece.byteLength;
      }
      const pieces = seq;
      if (!this.c.send(encodeSnapshotFrame({ kind: 'done', transfer: this.transfer, pieces, msg }))) {
        this.fail('peer queue full or peer unknown');
        return false;
      }
      while (!this.finished && !this.failed) await this.waitForAck();
      return this.finished && !this.failed;
    } finally {
      this.timer?.cancel();
      reader.close();
    }
  }

  /** Pieces and bytes of the image sent so far. */
  sentTotals(): { pieces: number; bytes: number } {
    return { ...this.sent };
  }

  /**
   * A frame from the follower. Frames of an earlier transfer to it (acks of writes in flight,
   * the fail that dropped it when this one began) still arrive after this one starts: ignored.
   */
  onFrame(f: SnapshotFrame): void {
    if (f.transfer !== this.transfer) return;
    if (f.kind === 'ack') {
      if (f.seq > this.acked) this.acked = f.seq;
      // The final ack names the piece count, which is one past the last piece's seq.
      if (f.seq === SNAPSHOT_DONE_SEQ) this.finished = true;
    } else if (f.kind === 'fail') {
      this.failed = f.reason;
    }
    this.poke();
  }

  /** Stop (leadership lost, runtime stopping, or a newer transfer to the same follower). */
  abort(reason: string): void {
    this.fail(reason);
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = reason;
    this.c.logger.warn('snapshot transfer failed', { transfer: this.transfer, reason });
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private waitForAck(): Promise<void> {
    return new Promise((resolve) => {
      this.timer?.cancel();
      this.timer = this.c.timers.setTimeout(() => this.fail(`no acknowledgement within ${this.ackTimeoutMs} ms`), this.ackTimeoutMs);
      this.wake = resolve;
    });
  }
}

interface Transfer {
  transfer: string;
  from: string;
  /** Next piece expected. */
  next: number;
  writer: SnapshotWriter;
  /** The chain of writes, in arrival order. */
  tail: Promise<void>;
  dropped: boolean;
}

/**
 * Follower side: one transfer at a time per follower. Pieces must arrive in order (one TCP
 * stream); a gap, a newer transfer, or a writer error aborts the current one. Writes are chained
 * so they happen in arrival order.
 */
export class SnapshotReceiver {
  private current: Transfer | null = null;
  /** An image stepped into the core and not yet installed by the Ready loop: keep staging untouched. */
  private installPending = false;

  constructor(
    private readonly c: {
      logger: Logger;
      send(to: string, payload: Uint8Array): boolean;
      beginWrite(): SnapshotWriter;
      /** Validate a MsgSnap from `from` and return the snapshot index it describes; throws ProtocolError. */
      snapshotIndexOf(from: string, msg: Uint8Array): number;
      /** The image is staged durably: hand the MsgSnap to the core. False: the core will not install it. */
      deliver(from: string, msg: Uint8Array): boolean;
    },
  ) {}

  /** The Ready loop installed (or dropped) the delivered image: new transfers may stage again. */
  installed(): void {
    this.installPending = false;
  }

  onFrame(from: string, f: SnapshotFrame): void {
    if (f.kind !== 'piece' && f.kind !== 'done') return;
    if (f.kind === 'piece' && f.seq === 0) {
      if (this.installPending) {
        this.reply(from, { kind: 'fail', transfer: f.transfer, reason: 'a snapshot is being installed' });
        return;
      }
      if (this.current) this.drop(this.current, 'superseded by a newer transfer');
      this.current = { transfer: f.transfer, from, next: 0, writer: this.c.beginWrite(), tail: Promise.resolve(), dropped: false };
    }
    const t = this.current;
    if (!t || t.transfer !== f.transfer || t.from !== from) {
      this.reply(from, { kind: 'fail', transfer: f.transfer, reason: 'unknown transfer' });
      return;
    }
    if (f.kind === 'piece') {
      if (f.seq !== t.next) {
        this.drop(t, `piece ${f.seq} out of order (expected ${t.next})`);
        return;
      }
      t.next++;
      const { bytes, seq } = f;
      this.chain(t, async () => {
        await t.writer.write(bytes);
        this.reply(from, { kind: 'ack', transfer: t.transfer, seq });
      });
      return;
    }
    if (f.pieces !== t.next) {
      this.drop(t, `done after ${t.next} pieces, leader sent ${f.pieces}`);
      return;
    }
    let index: number;
    try {
      index = this.c.snapshotIndexOf(from, f.msg);
    } catch (err) {
      this.drop(t, `bad snapshot message: ${(err as Error).message}`);
      return;
    }
    const msg = f.msg;
    this.chain(t, async () => {
      await t.writer.finish(index);
      if (t.dropped) return;
      this.current = null;
      this.installPending = this.c.deliver(from, msg);
      this.reply(from, { kind: 'ack', transfer: t.transfer, seq: SNAPSHOT_DONE_SEQ });
    });
  }

  /** Abort whatever is in progress (runtime stopping). */
  close(): void {
    if (this.current) this.drop(this.current, 'receiver closed');
  }

  /** Run `step` after the transfer's earlier steps, unless the transfer was dropped by then. */
  private chain(t: Transfer, step: () => Promise<void>): void {
    t.tail = t.tail.then(async () => {
      if (t.dropped) return;
      try {
        await step();
      } catch (err) {
        this.drop(t, `staging failed: ${(err as Error).message}`);
      }
    });
  }

  private drop(t: Transfer, reason: string): void {
    if (this.current === t) this.current = null;
    if (t.dropped) return;
    t.dropped = true;
    this.c.logger.warn('snapshot transfer dropped', { transfer: t.transfer, reason });
    // After any write in flight: the writer sees no write after its abort.
    void t.tail.then(() => t.writer.abort()).catch(() => undefined);
    this.reply(t.from, { kind: 'fail', transfer: t.transfer, reason });
  }

  private reply(to: string, f: SnapshotFrame): void {
    this.c.send(to, encodeSnapshotFrame(f));
  }
}

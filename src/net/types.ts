/**
 * The peer-transport interface shared by the TCP implementation (peer-transport.ts) and its
 * in-memory twin (memory-transport.ts); both pass test/unit/net/peer-transport-contract.ts.
 * It is a superset of the runtime's PeerSender (consensus/raft-runtime.ts).
 */
import type { NodeId } from '../raft/types.js';
import { frameLength, type FrameBytes } from './frame.js';

export interface PeerTransportCounters {
  /** Frames handed to a connection (not necessarily delivered: Raft tolerates loss). */
  sent: number;
  sentBytes: number;
  /** send() calls that returned false (queue full, frame too large, unknown peer, closed). */
  dropped: number;
  /** Successful connects (handshake done). */
  connects: number;
  /** Failed connect or handshake attempts. */
  connectFailures: number;
  /** Connect attempts refused with Unauthorized (wrong cluster secret). */
  authFailures: number;
}

export interface PeerTransportApi {
  readonly counters: PeerTransportCounters;
  /**
   * Queue a frame for peer `to`, in order after earlier frames to the same peer. Never blocks
   * and never grows memory beyond the per-peer queue bounds: returns false, and drops the
   * frame, when the peer is unknown, the queue is full, or the transport is closed.
   * The transport takes ownership of `payload` (and of each of its parts): do not mutate it afterwards.
   */
  send(to: NodeId, payload: FrameBytes): boolean;
  /** The full set of peers (self excluded or ignored). Links to peers not listed are closed and their queues dropped. */
  setPeers(peers: Map<NodeId, string>): void;
  /** Called when a send is dropped or a connection to the peer fails (e.g. to call raft.reportUnreachable). */
  onUnreachable: ((id: NodeId) => void) | null;
  /** Whether frames to `to` currently flow (TCP: an authenticated connection is open). */
  isConnected(to: NodeId): boolean;
  /** Frames queued for `to` and not yet written (for tests and status). */
  queuedFor(to: NodeId): { msgs: number; bytes: number };
  close(): Promise<void>;
}

export interface PeerQueueLimits {
  /** Frames queued per peer. @default 1024 */
  queueMsgsMax?: number;
  /**
   * Bytes queued per peer. A single frame larger than this is still accepted into an empty
   * queue (a snapshot must be sendable). @default 32 MiB
   */
  queueBytesMax?: number;
}

export const DEFAULT_QUEUE_MSGS_MAX = 1024;
export const DEFAULT_QUEUE_BYTES_MAX = 32 << 20;

/** A FIFO of frames with count and byte totals; O(1) amortized push/shift. */
export class FrameQueue {
  private items: FrameBytes[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** True if `n` more bytes fit under the limits (an empty queue takes any one frame). */
  fits(n: number, msgsMax: number, bytesMax: number): boolean {
    if (this.length === 0) return true;
    return this.length < msgsMax && this.bytes + n <= bytesMax;
  }

  push(p: FrameBytes): void {
    this.items.push(p);
    this.bytes += frameLength(p);
  }

  shift(): FrameBytes | undefined {
    if (this.head >= this.items.length) return undefined;
    const p = this.items[this.head]!;
    this.items[this.head] = EMPTY;
    this.head++;
    this.bytes -= frameLength(p);
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
  }
}

const EMPTY = new Uint8Array(0);

export function newPeerTransportCounters(): PeerTransportCounters {
  return { sent: 0, sentBytes: 0, dropped: 0, connects: 0, connectFailures: 0, authFailures: 0 };
}

/**
 * In-memory twin of PeerTransport + NetServer's peer side, for tests (DESIGN rule 3). Same
 * contract (types.ts PeerTransportApi, checked by the shared contract suite): per-peer FIFO
 * with the same count/byte bounds, delivery in order, loss when the receiver is down, redial
 * with backoff, onUnreachable on drops and failed "connections".
 *
 * A MemoryNetwork is the wire: receivers listen() on an address string (like NetServer.listen)
 * and transports deliver to whoever listens on the peer's address. Delivery is asynchronous
 * through the injected Timers (never synchronous inside send(), like a real socket), and the
 * payload is copied so the sender may reuse its buffer.
 */
import type { Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import type { NodeId } from '../raft/types.js';
import { CairnError } from '../util/errors.js';
import { DEFAULT_FRAME_BYTES_MAX, frameJoined, frameLength, type FrameBytes } from './frame.js';
import {
  DEFAULT_QUEUE_BYTES_MAX,
  DEFAULT_QUEUE_MSGS_MAX,
  FrameQueue,
  newPeerTransportCounters,
  type PeerQueueLimits,
  type PeerTransportApi,
  type PeerTransportCounters,
} from './types.js';

export type MemoryFrameHandler = (from: NodeId, payload: Uint8Array) => void;

export class MemoryNetwork {
  readonly timers: Timers;
  private readonly listeners = new Map<string, MemoryFrameHandler>();
  /** Directed links cut by partition(): `from→addr`. */
  private readonly cut = new Set<string>();

  constructor(c: { timers: Timers }) {
    this.timers = c.timers;
  }

  /** Start receiving frames sent to `addr`. Throws if the address is taken (like EADDRINUSE). */
  listen(addr: string, onFrame: MemoryFrameHandler): void {
    if (this.listeners.has(addr)) throw new Error(`address in use: ${addr}`);
    this.listeners.set(addr, onFrame);
  }

  /** Stop receiving (a crashed or stopped server): frames to `addr` are lost until listen() again. */
  unlisten(addr: string): void {
    this.listeners.delete(addr);
  }

  /** Cut (or restore) the direction `from` → `addr`: the sender sees failed connections. */
  partition(from: NodeId, addr: string, cut = true): void {
    const k = `${from}\u0000${addr}`;
    if (cut) this.cut.add(k);
    else this.cut.delete(k);
  }

  /** @internal The receiver for `addr` as seen from `from`, or null when unreachable. */
  route(from: NodeId, addr: string): MemoryFrameHandler | null {
    if (this.cut.has(`${from}\u0000${addr}`)) return null;
    return this.listeners.get(addr) ?? null;
  }
}

export interface MemoryTransportInit extends PeerQueueLimits {
  id: NodeId;
  /** @default 64 MiB */
  frameBytesMax?: number;
  /** @default 50 */
  backoffMsMin?: number;
  /** @default 1000 */
  backoffMsMax?: number;
}

interface MemLink {
  addr: string;
  queue: FrameQueue;
  /** A delivery or retry is scheduled. */
  scheduled: { cancel(): void } | null;
  attempt: number;
  /** Whether the last delivery attempt found the receiver (a "connection" is up). */
  connected: boolean;
}

export class MemoryTransport implements PeerTransportApi {
  readonly counters: PeerTransportCounters = newPeerTransportCounters();
  onUnreachable: ((id: NodeId) => void) | null = null;
  private readonly net: MemoryNetwork;
  private readonly rng: Rng;
  private readonly init: MemoryTransportInit;
  private readonly links = new Map<NodeId, MemLink>();
  private closed = false;

  constructor(c: { network: MemoryNetwork; rng: Rng }, init: MemoryTransportInit) {
    this.net = c.network;
    this.rng = c.rng;
    this.init = init;
  }

  send(to: NodeId, payload: FrameBytes): boolean {
    const link = this.links.get(to);
    const frameBytesMax = this.init.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX;
    if (this.closed || link === undefined) {
      this.counters.dropped++;
      return false;
    }
    const length = frameLength(payload);
    const fits = link.queue.fits(length, this.init.queueMsgsMax ?? DEFAULT_QUEUE_MSGS_MAX, this.init.queueBytesMax ?? DEFAULT_QUEUE_BYTES_MAX);
    if (length > frameBytesMax || !fits) {
      this.counters.dropped++;
      this.onUnreachable?.(to);
      return false;
    }
    // A plain copy, parts joined (Buffer#slice would not copy): the receiver must not see later mutations.
    link.queue.push(new Uint8Array(frameJoined(payload)));
    if (link.scheduled === null) this.schedule(to, link, 0);
    return true;
  }

  setPeers(peers: Map<NodeId, string>): void {
    if (this.closed) return;
    for (const [id, link] of this.links) {
      if (!peers.has(id) || id === this.init.id) {
        link.scheduled?.cancel();
        link.queue.clear();
        this.links.delete(id);
      }
    }
    for (const [id, addr] of peers) {
      if (id === this.init.id) continue;
      const link = this.links.get(id);
      if (link === undefined) this.links.set(id, { addr, queue: new FrameQueue(), scheduled: null, attempt: 0, connected: false });
      else if (link.addr !== addr) {
        link.addr = addr;
        link.connected = false;
        link.attempt = 0;
      }
    }
  }

  queuedFor(to: NodeId): { msgs: number; bytes: number } {
    const q = this.links.get(to)?.queue;
    return { msgs: q?.length ?? 0, bytes: q?.bytes ?? 0 };
  }

  isConnected(to: NodeId): boolean {
    return this.links.get(to)?.connected ?? false;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.links.values()) {
      link.scheduled?.cancel();
      link.queue.clear();
    }
    this.links.clear();
  }

  private schedule(to: NodeId, link: MemLink, ms: number): void {
    link.scheduled = this.net.timers.setTimeout(() => {
      link.scheduled = null;
      if (this.links.get(to) !== link) return;
      this.deliver(to, link);
    }, ms);
  }

  /** Deliver everything queued if the receiver is there; else count a failed connect and back off. */
  private deliver(to: NodeId, link: MemLink): void {
    if (link.queue.length === 0) return;
    const handler = this.net.route(this.init.id, link.addr);
    if (handler === null) {
      if (link.connected) link.connected = false;
      this.counters.connectFailures++;
      this.onUnreachable?.(to);
      const min = this.init.backoffMsMin ?? 50;
      const ceiling = Math.min(this.init.backoffMsMax ?? 1000, min * 2 ** Math.min(link.attempt, 20));
      link.attempt++;
      this.schedule(to, link, ceiling * (0.5 + 0.5 * this.rng.next()));
      return;
    }
    if (!link.connected) {
      link.connected = true;
      link.attempt = 0;
      this.counters.connects++;
    }
    // Bounded by the queue length at entry; frames sent by the handler wait for the next round.
    for (let n = link.queue.length; n > 0; n--) {
      // Queued joined (see send).
      const p = frameJoined(link.queue.shift()!);
      this.counters.sent++;
      this.counters.sentBytes += p.length;
      try {
        handler(this.init.id, p);
      } catch (err) {
        // Like NetServer: a receiver rejecting a frame with a CairnError resets the connection.
        if (!(err instanceof CairnError)) throw err;
        link.connected = false;
      }
      // The receiver may have gone away (or this link been replaced) inside the handler.
      if (this.closed || this.links.get(to) !== link || this.net.route(this.init.id, link.addr) !== handler) break;
    }
    if (link.queue.length > 0 && link.scheduled === null && this.links.get(to) === link) this.schedule(to, link, 0);
  }
}

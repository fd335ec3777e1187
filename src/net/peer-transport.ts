/**
 * PeerTransport: outbound Raft traffic over TCP. One connection per peer, dialled on first
 * send, authenticated as role 'peer' (handshake.ts); inbound frames from peers arrive through
 * the receiving side's NetServer, not here.
 *
 * Contracts:
 * - Frames to one peer are written in send() order on one connection; frames queued or in
 *   the socket when a connection breaks may be lost (Raft tolerates loss and reordering
 *   across connections; it never sees duplication from us).
 * - Memory is bounded per peer: at most queueMsgsMax frames / queueBytesMax bytes queued, plus
 *   what the socket holds after write() returned false. We stop writing until 'drain'
 *   (backpressure); a peer that stops reading for writeStallMsMax gets its connection reset.
 *   When the queue is full send() drops the frame and returns false.
 * - A failed connect or a dropped connection is retried with exponential backoff and jitter
 *   (backoffMsMin doubling up to backoffMsMax), only while frames wait to be sent. The backoff
 *   resets only after a connection has stayed up for backoffMsMax, so a peer that accepts and
 *   at once closes is not redialled in a tight loop.
 * - onUnreachable(id) is called when a send is dropped and when a connection attempt fails or
 *   an established connection breaks.
 */
import type { Timers } from '../env/clock.js';
import type { Rng } from '../env/rng.js';
import type { NodeId } from '../raft/types.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_FRAME_BYTES_MAX, frameLength, type FrameBytes } from './frame.js';
import type { FramedSocket } from './framed-socket.js';
import { dialAuthenticated, type Credential } from './handshake.js';
import type { TlsClientConfig } from './tls.js';
import {
  DEFAULT_QUEUE_BYTES_MAX,
  DEFAULT_QUEUE_MSGS_MAX,
  FrameQueue,
  newPeerTransportCounters,
  type PeerQueueLimits,
  type PeerTransportApi,
  type PeerTransportCounters,
} from './types.js';

export interface PeerTransportComponents {
  timers: Timers;
  /** Jitter for reconnect backoff. */
  rng: Rng;
  logger: Logger;
}

export interface PeerTransportInit extends PeerQueueLimits {
  /** Our node id, proved to peers with the cluster secret. */
  id: NodeId;
  clusterSecret: Credential;
  /** Largest frame we send (must not exceed the receivers' limit). @default 64 MiB */
  frameBytesMax?: number;
  /** @default 50 */
  backoffMsMin?: number;
  /** @default 1000 */
  backoffMsMax?: number;
  /** Connect + handshake deadline. @default 3000 */
  connectTimeoutMs?: number;
  /** Reset a connection whose socket has not drained for this long. @default 10000 */
  writeStallMsMax?: number;
  /** Dial peers over TLS, verifying them against this CA. @default plain TCP */
  tls?: TlsClientConfig | null;
}

type LinkState = 'idle' | 'dialing' | 'ready' | 'backoff' | 'closed';

interface Link {
  id: NodeId;
  addr: string;
  state: LinkState;
  /** Bumped whenever the current connection attempt or connection is abandoned. */
  gen: number;
  queue: FrameQueue;
  fs: FramedSocket | null;
  attempt: number;
  retryTimer: { cancel(): void } | null;
  /** Set while waiting for 'drain'; its timer resets a stalled connection. */
  stallTimer: { cancel(): void } | null;
  /** Resets `attempt` once a connection has stayed up for backoffMsMax (damps connect/close flapping). */
  stableTimer: { cancel(): void } | null;
}

export class PeerTransport implements PeerTransportApi {
  readonly counters: PeerTransportCounters = newPeerTransportCounters();
  onUnreachable: ((id: NodeId) => void) | null = null;
  private readonly c: PeerTransportComponents;
  private readonly log: Logger;
  private readonly init: PeerTransportInit;
  private readonly frameBytesMax: number;
  private readonly queueMsgsMax: number;
  private readonly queueBytesMax: number;
  private readonly backoffMsMin: number;
  private readonly backoffMsMax: number;
  private readonly connectTimeoutMs: number;
  private readonly writeStallMsMax: number;
  private readonly links = new Map<NodeId, Link>();
  private closed = false;

  constructor(c: PeerTransportComponents, init: PeerTransportInit) {
    this.c = c;
    this.log = c.logger.child({ component: 'peer-transport' });
    this.init = init;
    this.frameBytesMax = init.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX;
    this.queueMsgsMax = init.queueMsgsMax ?? DEFAULT_QUEUE_MSGS_MAX;
    this.queueBytesMax = init.queueBytesMax ?? DEFAULT_QUEUE_BYTES_MAX;
    this.backoffMsMin = init.backoffMsMin ?? 50;
    this.backoffMsMax = init.backoffMsMax ?? 1000;
    this.connectTimeoutMs = init.connectTimeoutMs ?? 3000;
    this.writeStallMsMax = init.writeStallMsMax ?? 10_000;
  }

  send(to: NodeId, payload: FrameBytes): boolean {
    const link = this.links.get(to);
    if (this.closed || link === undefined) {
      this.counters.dropped++;
      return false;
    }
    const length = frameLength(payload);
    if (length > this.frameBytesMax) {
      this.counters.dropped++;
      this.log.warn('frame larger than frameBytesMax dropped', { to, bytes: length, frameBytesMax: this.frameBytesMax });
      this.unreachable(to);
      return false;
    }
    if (!link.queue.fits(length, this.queueMsgsMax, this.queueBytesMax)) {
      this.counters.dropped++;
      this.unreachable(to);
      return false;
    }
    link.queue.push(payload);
    if (link.state === 'idle') {
      // After recent failures, even an idle link waits out its backoff before redialling.
      if (link.attempt === 0) this.dial(link);
      else this.retryLater(link);
    }
    else if (link.state === 'ready') this.flush(link);
    return true;
  }

  setPeers(peers: Map<NodeId, string>): void {
    if (this.closed) return;
    for (const [id, link] of this.links) {
      if (!peers.has(id) || id === this.init.id) {
        this.closeLink(link);
        this.links.delete(id);
      }
    }
    for (const [id, addr] of peers) {
      if (id === this.init.id) continue;
      const link = this.links.get(id);
      if (link === undefined) {
        this.links.set(id, { id, addr, state: 'idle', gen: 0, queue: new FrameQueue(), fs: null, attempt: 0, retryTimer: null, stallTimer: null, stableTimer: null });
      } else if (link.addr !== addr) {
        // Moved: abandon the old connection (or attempt) and redial the new address at once.
        link.addr = addr;
        this.abandon(link);
        link.attempt = 0;
        if (link.queue.length > 0) this.dial(link);
        else link.state = 'idle';
      }
    }
  }

  queuedFor(to: NodeId): { msgs: number; bytes: number } {
    const q = this.links.get(to)?.queue;
    return { msgs: q?.length ?? 0, bytes: q?.bytes ?? 0 };
  }

  /** Whether an authenticated connection to `to` is open right now (for tests and status). */
  isConnected(to: NodeId): boolean {
    return this.links.get(to)?.state === 'ready';
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.links.values()) this.closeLink(link);
    this.links.clear();
  }

  // -------------------------------------------------------------------------------------------

  private dial(link: Link): void {
    link.state = 'dialing';
    const gen = ++link.gen;
    dialAuthenticated(this.c.timers, {
      addr: link.addr,
      role: 'peer',
      credential: this.init.clusterSecret,
      id: this.init.id,
      frameBytesMax: this.frameBytesMax,
      timeoutMs: this.connectTimeoutMs,
      tls: this.init.tls ?? null,
    }).then(
      (fs) => {
        if (link.gen !== gen || link.state !== 'dialing') {
          fs.destroy();
          return;
        }
        this.counters.connects++;
        link.state = 'ready';
        link.fs = fs;
        link.stableTimer = this.c.timers.setTimeout(() => {
          link.stableTimer = null;
          if (link.gen === gen) link.attempt = 0;
        }, this.backoffMsMax);
        fs.setHandlers({
          // The server never writes to a peer after the handshake.
          onFrame: () => {
            throw new CairnError('ProtocolError', 'unexpected frame on an outbound peer connection');
          },
          onClose: (err) => this.onLinkClosed(link, gen, err),
        });
        fs.socket.on('drain', () => {
          if (link.gen !== gen) return;
          link.stallTimer?.cancel();
          link.stallTimer = null;
          this.flush(link);
        });
        this.log.debug('connected', { peer: link.id, addr: link.addr });
        this.flush(link);
      },
      (err: unknown) => {
        if (link.gen !== gen || link.state !== 'dialing') return;
        this.counters.connectFailures++;
        if (isCairnError(err, 'Unauthorized')) {
          this.counters.authFailures++;
          this.log.error('peer refused our cluster secret', { peer: link.id, addr: link.addr });
        } else {
          this.log.debug('connect failed', { peer: link.id, addr: link.addr, err: err instanceof Error ? err.message : String(err) });
        }
        this.unreachable(link.id);
        this.retryLater(link);
      },
    );
  }

  private onLinkClosed(link: Link, gen: number, err: Error | null): void {
    if (link.gen !== gen) return;
    link.gen++;
    link.fs = null;
    link.stallTimer?.cancel();
    link.stallTimer = null;
    // A connection that did not stay up counts as a failed attempt for the backoff.
    if (link.stableTimer !== null) link.attempt = Math.max(link.attempt, 1);
    link.stableTimer?.cancel();
    link.stableTimer = null;
    if (link.state === 'closed') return;
    this.log.debug('connection lost', { peer: link.id, err: err?.message });
    this.unreachable(link.id);
    this.retryLater(link);
  }

  /** Back off, then redial if anything is waiting; otherwise go idle until the next send. */
  private retryLater(link: Link): void {
    if (link.queue.length === 0) {
      link.state = 'idle';
      return;
    }
    link.state = 'backoff';
    const ceiling = Math.min(this.backoffMsMax, this.backoffMsMin * 2 ** Math.min(link.attempt, 20));
    link.attempt++;
    // "Equal jitter": between half and all of the ceiling, so retries of many nodes spread out.
    const delay = ceiling * (0.5 + 0.5 * this.c.rng.next());
    link.retryTimer = this.c.timers.setTimeout(() => {
      link.retryTimer = null;
      if (link.state !== 'backoff') return;
      if (link.queue.length > 0) this.dial(link);
      else link.state = 'idle';
    }, delay);
  }

  private flush(link: Link): void {
    const fs = link.fs;
    if (link.state !== 'ready' || fs === null || link.stallTimer !== null) return;
    // Bounded by the queue length.
    while (link.queue.length > 0) {
      const p = link.queue.shift()!;
      this.counters.sent++;
      this.counters.sentBytes += frameLength(p);
      if (!fs.write(p)) {
        if (fs.closed) return;
        const gen = link.gen;
        link.stallTimer = this.c.timers.setTimeout(() => {
          if (link.gen !== gen) return;
          link.stallTimer = null;
          this.log.warn('peer stopped reading; resetting connection', { peer: link.id, writeStallMsMax: this.writeStallMsMax });
          fs.destroy(new CairnError('Timeout', 'write stalled'));
        }, this.writeStallMsMax);
        return;
      }
    }
  }

  /** Drop the current connection or attempt (its callbacks become no-ops). */
  private abandon(link: Link): void {
    link.gen++;
    link.retryTimer?.cancel();
    link.retryTimer = null;
    link.stallTimer?.cancel();
    link.stallTimer = null;
    link.stableTimer?.cancel();
    link.stableTimer = null;
    link.fs?.destroy();
    link.fs = null;
  }

  private closeLink(link: Link): void {
    this.abandon(link);
    link.state = 'closed';
    link.queue.clear();
  }

  private unreachable(id: NodeId): void {
    try {
      this.onUnreachable?.(id);
    } catch (err) {
      this.log.error('onUnreachable handler threw', { peer: id, err: err instanceof Error ? err.message : String(err) });
    }
  }
}

/**
 * Chunk buffers reused from chunk to chunk, read to read and write to write (one pool per client,
 * shared by its readers and writers): a read or write otherwise takes a fresh chunk-sized buffer
 * per chunk, and each costs page faults on its first touch and lingers until the collector frees
 * it (the CLI's peak RSS grew with the file; a fresh 8 MiB buffer faults in at ~0.85 CPU-s per
 * GiB read: bench/RESULTS.md).
 *
 * Contracts:
 * - A buffer taken is never handed out again until it is given back: take() and takeWhole()
 *   only hand out idle buffers; give() of a buffer that is not lent (given twice, or never taken
 *   from this pool) and keep() of one that is lent or already idle throw Internal rather than
 *   letting two owners share one buffer.
 * - Whoever gives a buffer back is done with it: every consumer of its bytes has finished (for
 *   a write, its completion callback ran).
 * - keepMax idle buffers are kept for good, the biggest given back; up to burstKeepMax in all
 *   while they are used: a buffer beyond keepMax left idle for surplusIdleMs is dropped (checked
 *   whenever the pool is used, and by trim()). The pool never allocates while an idle buffer fits,
 *   so (for buffers of one size) what it keeps was all in use at one moment: keeping it does not
 *   raise the peak, and it spares the next burst (eight Range reads of one client hold ~18 chunk
 *   buffers at once) a fresh allocation, and its page faults, per chunk.
 *   Memory is otherwise bounded by what is lent out.
 */
import type { Clock } from '../env/clock.js';
import { CairnError } from '../util/errors.js';

export interface PiecePoolOptions {
  /** Idle buffers kept however long they stay unused. */
  keepMax: number;
  /** Idle buffers kept in all, the extra ones only while used within surplusIdleMs. @default keepMax */
  burstKeepMax?: number;
  /** How long an idle buffer beyond keepMax is kept unused. @default PIECE_SURPLUS_IDLE_MS */
  surplusIdleMs?: number;
}

/** An idle buffer beyond keepMax unused this long is dropped (a burst of reads is long over). */
export const PIECE_SURPLUS_IDLE_MS = 5_000;

export class PiecePool {
  /** Idle buffers (each a whole allocation), most recently given back last. */
  private readonly idle: Buffer[] = [];
  /** When each idle buffer was given back (clock ms), in the order of `idle`. */
  private readonly idleSince: number[] = [];
  /**
   * The allocations lent out, by their backing memory. Held weakly: the pool is the client's, and
   * a reader its owner dropped without destroying it must not keep its buffers alive here.
   */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  /** Loans not ended by give() or forget() (a loan whose buffer was dropped unreturned stays counted). */
  private loans = 0;
  private readonly keepMax: number;
  private readonly burstKeepMax: number;
  private readonly surplusIdleMs: number;
  private readonly clock: Clock;

  constructor(components: { clock: Clock }, options: PiecePoolOptions) {
    this.clock = components.clock;
    this.keepMax = options.keepMax;
    this.burstKeepMax = Math.max(options.keepMax, options.burstKeepMax ?? options.keepMax);
    this.surplusIdleMs = options.surplusIdleMs ?? PIECE_SURPLUS_IDLE_MS;
  }

  /** Buffers lent out now (tests): loans not ended by give() or forget(). */
  get lentCount(): number {
    return this.loans;
  }

  /** Idle buffers kept for reuse. */
  get idleCount(): number {
    return this.idle.length;
  }

  /** A buffer of exactly `bytes` bytes (unzeroed), lent until give(). */
  take(bytes: number): Buffer {
    const whole = this.takeWhole(bytes);
    this.lent.add(whole.buffer);
    this.loans++;
    return whole.subarray(0, bytes);
  }

  /**
   * A whole buffer of at least `bytes` (an idle one, or a fresh one of exactly `bytes`), not lent
   * but handed over: it is the caller's until it puts it back with keep() (a writer's chunk
   * buffers, file-writer.ts, whose capacity is the buffer's length).
   */
  takeWhole(bytes: number): Buffer {
    this.trim();
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i]!.length >= bytes) return this.removeIdle(i);
    // Its own allocation (not a slice of the shared slab): the backing memory identifies it.
    return Buffer.allocUnsafeSlow(bytes);
  }

  /** Drops a lent buffer without reusing it (something may still write into it). */
  forget(buf: Buffer): void {
    if (this.lent.delete(buf.buffer)) this.loans--;
  }

  /** Gives back a buffer take() lent (any view of it); its bytes may be overwritten from now on (see keep()). */
  give(buf: Buffer): void {
    if (!this.lent.delete(buf.buffer)) throw new CairnError('Internal', 'a piece buffer was given back that is not lent (given twice?)');
    this.loans--;
    this.keep(Buffer.from(buf.buffer, 0, buf.buffer.byteLength));
  }

  /**
   * Takes a whole buffer (from takeWhole) back for reuse once its owner is done with it; with
   * burstKeepMax idle already, it replaces the smallest of them if it is bigger (a read's short last
   * piece must not crowd out the chunk-sized buffers the next reads need), else it is dropped.
   */
  keep(whole: Buffer): void {
    // Only whole allocations (a slice of Node's shared slab is not ours to reuse).
    if (whole.byteOffset !== 0 || whole.length !== whole.buffer.byteLength) return;
    if (this.lent.has(whole.buffer) || this.idle.some((b) => b.buffer === whole.buffer)) throw new CairnError('Internal', 'a buffer was kept that is lent or already idle');
    this.trim();
    if (this.idle.length >= this.burstKeepMax) {
      let smallest = -1;
      for (let i = 0; i < this.idle.length; i++) if (smallest < 0 || this.idle[i]!.length < this.idle[smallest]!.length) smallest = i;
      if (smallest < 0 || this.idle[smallest]!.length >= whole.length) return;
      this.removeIdle(smallest);
    }
    this.idle.push(whole);
    this.idleSince.push(this.clock.nowMs());
  }

  /**
   * Drops the idle buffers beyond keepMax that have not been used for surplusIdleMs, the
   * longest idle first (the pool also does this whenever it is used); `all`: every idle buffer
   * (the client is closing).
   */
  trim(all = false): void {
    if (all) {
      this.idle.length = 0;
      this.idleSince.length = 0;
      return;
    }
    const oldest = this.clock.nowMs() - this.surplusIdleMs;
    // Longest idle first: `idle` is in the order buffers came back.
    while (this.idle.length > this.keepMax && this.idleSince[0]! <= oldest) this.removeIdle(0);
  }

  private removeIdle(i: number): Buffer {
    this.idleSince.splice(i, 1);
    return this.idle.splice(i, 1)[0]!;
  }
}

/**
 * How many chunks a client's readers fetch ahead of their consumers, all readers together. Every
 * reader may always have one chunk fetched ahead (so each makes progress whatever the others
 * hold); more only while the client's total is under `max`. One read gets its full read-ahead;
 * eight Range reads of one client fetch one chunk ahead each instead of eight times the
 * read-ahead, which on a machine whose cores are the limit only added chunk buffers to fault in
 * (bench/RESULTS.md, eighth session).
 */
export class ReadAheadBudget {
  private queued = 0;

  constructor(readonly max: number) {}

  /** Chunks fetched ahead now, by every reader of the client. */
  get inUse(): number {
    return this.queued;
  }

  /** May a reader that has `own` chunks fetched ahead start one more? Counted if so. */
  take(own: number): boolean {
    if (own > 0 && this.queued >= this.max) return false;
    this.queued++;
    return true;
  }

  /** `n` fetched-ahead chunks left the reader's queue (handed out, or dropped with the reader). */
  give(n = 1): void {
    if (n > this.queued) throw new CairnError('Internal', 'read-ahead given back that was not taken');
    this.queued -= n;
  }
}

/**
 * Piece buffers reused from chunk to chunk and from read to read (one pool per client, shared by
 * its readers): a read otherwise takes a fresh chunk-sized buffer per chunk, and each costs page
 * faults on its first touch and lingers until the collector frees it (the CLI's peak RSS grew
 * with the file; a fresh 8 MiB buffer faults in at ~0.85 CPU-s per GiB: bench/RESULTS.md).
 *
 * Contracts:
 * - A buffer taken is never handed out again until it is given back: take() only hands out
 *   buffers that are not lent; give() of a buffer that is not lent (given twice, or never taken
 *   from this pool) throws Internal rather than letting two owners share one buffer.
 * - Whoever gives a buffer back is done with it: every consumer of its bytes has finished (for
 *   a write, its completion callback ran).
 * - At most keepMax idle buffers are kept, the biggest given back; memory is otherwise bounded
 *   by what is lent out.
 */
import { CairnError } from '../util/errors.js';

export class PiecePool {
  /** Idle buffers (each a whole allocation), most recently given back last. */
  private readonly idle: Buffer[] = [];
  /**
   * The allocations lent out, by their backing memory. Held weakly: the pool is the client's, and
   * a reader its owner dropped without destroying it must not keep its buffers alive here.
   */
  private readonly lent = new WeakSet<ArrayBufferLike>();
  /** Loans not ended by give() or forget() (a loan whose buffer was dropped unreturned stays counted). */
  private loans = 0;
  private readonly keepMax: number;

  constructor(_components: object, options: { keepMax: number }) {
    this.keepMax = options.keepMax;
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
    let whole: Buffer | undefined;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      if (this.idle[i]!.length >= bytes) {
        whole = this.idle.splice(i, 1)[0]!;
        break;
      }
    }
    // Its own allocation (not a slice of the shared slab): the backing memory identifies it.
    whole ??= Buffer.allocUnsafeSlow(bytes);
    this.lent.add(whole.buffer);
    this.loans++;
    return whole.subarray(0, bytes);
  }

  /** Drops a lent buffer without reusing it (something may still write into it). */
  forget(buf: Buffer): void {
    if (this.lent.delete(buf.buffer)) this.loans--;
  }

  /**
   * Gives back a buffer take() lent (any view of it); its bytes may be overwritten from now on.
   * With keepMax idle already, it replaces the smallest of them if it is bigger (a read's short
   * last piece must not crowd out the chunk-sized buffers the next reads need).
   */
  give(buf: Buffer): void {
    if (!this.lent.delete(buf.buffer)) throw new CairnError('Internal', 'a piece buffer was given back that is not lent (given twice?)');
    this.loans--;
    const whole = Buffer.from(buf.buffer, 0, buf.buffer.byteLength);
    if (this.idle.length < this.keepMax) {
      this.idle.push(whole);
      return;
    }
    let smallest = -1;
    for (let i = 0; i < this.idle.length; i++) if (smallest < 0 || this.idle[i]!.length < this.idle[smallest]!.length) smallest = i;
    if (smallest >= 0 && this.idle[smallest]!.length < whole.length) {
      this.idle.splice(smallest, 1);
      this.idle.push(whole);
    }
  }
}

/**
 * The gateway's budget for upload bytes held in memory, and the cut-off of uploads that stop
 * sending (issue 17, finding 6: 64 PUTs that each sent 6 MiB and stalled held ~390 MiB).
 *
 * What is counted: every byte an upload has read from its request and the cluster has not yet
 * stored durably (the file writer's chunk buffers: received − acknowledged, see meter() and
 * stored()). Contracts:
 *   - begin() refuses a new upload with Unavailable (503 + Retry-After, code "Unavailable")
 *     while the bytes held reach bytesMax or an upload waits for room: a full budget turns new
 *     uploads away at once.
 *   - An upload under way whose next piece would pass bytesMax waits for room (reading paused:
 *     the rest stays in the kernel's socket buffers, not in memory) for at most idleTimeoutMs
 *     in all (summed over its waits: trickling through freed room does not extend it), then
 *     fails with Unavailable; its bytes are freed. So held bytes never pass bytesMax by
 *     more than one piece per upload, and uploads that all wait for each other cannot wedge.
 *   - An upload that receives nothing for idleTimeoutMs (not counting time waiting for room)
 *     fails with Timeout: the meter is destroyed, which aborts the write — nothing is committed.
 *   - end() frees what the upload still holds (call it once, success or not).
 */
import { Transform } from 'node:stream';
import type { Clock, Timers } from '../env/clock.js';
import { CairnError } from '../util/errors.js';

export interface UploadBudgetComponents {
  timers: Timers;
  /** Monotonic time (how long an upload has waited for room). */
  clock: Clock;
}

export interface UploadBudgetOptions {
  /** Bytes all uploads together may hold in memory. */
  bytesMax: number;
  /** An upload receiving nothing this long is cut off; also the longest wait for room. */
  idleTimeoutMs: number;
}

export class UploadBudget {
  private readonly c: UploadBudgetComponents;
  readonly bytesMax: number;
  readonly idleTimeoutMs: number;
  private heldBytes = 0;
  /** Uploads waiting for room, woken in arrival order as bytes are freed. */
  private readonly waiting: Array<() => void> = [];
  /** Uploads refused (budget full), cut off (idle), failed waiting for room. */
  readonly counters = { refused: 0, idleCutoffs: 0, waitTimeouts: 0 };

  constructor(c: UploadBudgetComponents, o: UploadBudgetOptions) {
    this.c = c;
    this.bytesMax = o.bytesMax;
    this.idleTimeoutMs = o.idleTimeoutMs;
  }

  /** Bytes held now by all uploads. */
  held(): number {
    return this.heldBytes;
  }

  /** Uploads waiting for room now (while any waits, new uploads are refused). */
  waitingCount(): number {
    return this.waiting.length;
  }

  /** A new upload; Unavailable when the budget is full. */
  begin(what: string): Upload {
    if (this.heldBytes >= this.bytesMax || this.waiting.length > 0) {
      this.counters.refused++;
      throw new CairnError('Unavailable', `the gateway's upload buffers are full (${this.bytesMax} bytes); retry later`);
    }
    return new Upload(this, this.c, what);
  }

  /** @internal */
  charge(n: number): boolean {
    if (this.heldBytes > 0 && this.heldBytes + n > this.bytesMax) return false;
    this.heldBytes += n;
    return true;
  }

  /** @internal */
  release(n: number): void {
    if (n <= 0) return;
    this.heldBytes -= n;
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** @internal */
  wait(wake: () => void): () => void {
    this.waiting.push(wake);
    return () => {
      const i = this.waiting.indexOf(wake);
      if (i >= 0) this.waiting.splice(i, 1);
    };
  }
}

/** One upload's share of the budget. */
export class Upload {
  private readonly budget: UploadBudget;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly what: string;
  /** Time spent waiting for room so far. */
  private waitedMs = 0;
  private received = 0;
  private acknowledged = 0;
  private ended = false;

  constructor(budget: UploadBudget, c: UploadBudgetComponents, what: string) {
    this.budget = budget;
    this.timers = c.timers;
    this.clock = c.clock;
    this.what = what;
  }

  /** Bytes held: received and not yet stored. */
  private holding(): number {
    return Math.max(0, this.received - this.acknowledged);
  }

  /**
   * A pass-through for the request body: charges each piece to the budget (waiting for room),
   * fails the stream with Timeout when no piece arrives for idleTimeoutMs, and with TooLarge
   * once more than `limit.bytesMax` bytes came (when given; one stage instead of two).
   * The idle check is one timer per upload, not one per piece: it notes when the last piece
   * came and, when it fires early, sleeps the rest.
   */
  meter(limit?: { bytesMax: number; what: string }): Transform {
    const { budget, timers, clock } = this;
    const idleMs = budget.idleTimeoutMs;
    let idle: { cancel(): void } | null = null;
    /** When the last piece was charged, or null while one waits for room (not idle then). */
    let lastMs: number | null = clock.nowMs();
    let seen = 0;
    const check = (): void => {
      idle = null;
      if (lastMs === null) return;
      const quietMs = clock.nowMs() - lastMs;
      if (quietMs < idleMs) {
        idle = timers.setTimeout(check, idleMs - quietMs);
        return;
      }
      budget.counters.idleCutoffs++;
      t.destroy(new CairnError('Timeout', `${this.what} received nothing for ${idleMs} ms; cut off`));
    };
    const t: Transform = new Transform({
      transform: (piece: Buffer, _enc, cb) => {
        seen += piece.length;
        if (limit !== undefined && seen > limit.bytesMax) return cb(new CairnError('TooLarge', `${limit.what} exceeds ${limit.bytesMax} bytes`));
        lastMs = null;
        // Called once the piece is charged.
        const pass = (): void => {
          if (this.ended) {
            budget.release(piece.length);
            return cb(new CairnError('Unavailable', `${this.what} ended`));
          }
          this.received += piece.length;
          lastMs = clock.nowMs();
          idle ??= timers.setTimeout(check, idleMs);
          cb(null, piece);
        };
        if (budget.charge(piece.length)) return pass();
        // Over the budget: wait for room (not counted as idle), at most idleMs in all.
        const waitFrom = clock.nowMs();
        let cancelWait = (): void => undefined;
        const timer = timers.setTimeout(() => {
          cancelWait();
          budget.counters.waitTimeouts++;
          cb(new CairnError('Unavailable', `the gateway's upload buffers stayed full for ${idleMs} ms; retry later`));
        }, Math.max(0, idleMs - this.waitedMs));
        const retry = (): void => {
          if (this.ended) {
            timer.cancel();
            return cb(new CairnError('Unavailable', `${this.what} ended`));
          }
          if (budget.charge(piece.length)) {
            timer.cancel();
            this.waitedMs += clock.nowMs() - waitFrom;
            return pass();
          }
          cancelWait = budget.wait(retry);
        };
        cancelWait = budget.wait(retry);
      },
      flush: (cb) => {
        idle?.cancel();
        idle = null;
        lastMs = null;
        cb();
      },
      destroy: (err, cb) => {
        idle?.cancel();
        idle = null;
        lastMs = null;
        cb(err);
      },
    });
    idle = timers.setTimeout(check, idleMs);
    return t;
  }

  /** The writer's progress: `bytes` stored durably so far (cumulative); frees them. */
  stored(bytes: number): void {
    if (this.ended || bytes <= this.acknowledged) return;
    const before = this.holding();
    this.acknowledged = bytes;
    this.budget.release(before - this.holding());
  }

  /** The upload is over (stored or failed): frees what it still holds. */
  end(): void {
    if (this.ended) return;
    const held = this.holding();
    this.ended = true;
    this.budget.release(held);
  }
}

/**
 * Client I/O before repair I/O inside one chunk server (issue 15: client p99 during repair within
 * 2 × idle). Two mechanisms, both fed by the data plane's client requests:
 *
 *  - a gate: a repair step (one piece of a copy served to a peer, one piece of a copy written
 *    here, the commit and fsync of a copied replica) runs at once when no client request is in
 *    flight; otherwise it waits until the last one ends, or at most `quantumMs`. When a quantum
 *    runs out with clients still busy, every waiting step runs and the gate stays open for
 *    quantumMs · shareMin / (1 − shareMin) — repair's minimum share of the time (a fifth… a
 *    quarter), however small its steps and however long a client request lasts (a slow reader
 *    holding a GET open for minutes): repair always finishes (no starvation);
 *  - an adaptive throttle: repairShare() is the fraction of its configured rate repair may use
 *    now: `shareMin` while clients are in flight and right after one, rising linearly to 1 over
 *    `rampMs` without client requests. The replicator multiplies its byte budget by it, so repair
 *    backs off while clients are active and returns to full rate when they are quiet.
 *
 * A request counts as a client's unless it says it is repair (header IO_CLASS_HEADER: repair,
 * sent by the replicator's copy reads). The header can only lower a request's priority, so it
 * needs no authentication: a client that sets it only slows itself.
 */
import type { Clock, Timers } from '../env/clock.js';
import { REPAIR_IO_QUANTUM_MS_DEFAULT, REPAIR_IO_RAMP_MS_DEFAULT, REPAIR_IO_SHARE_MIN_PERCENT_DEFAULT } from '../config/defaults.js';

/** Request header naming a request's I/O class; `repair` marks a repair copy's read. */
export const IO_CLASS_HEADER = 'x-cairn-io-class';
export const IO_CLASS_REPAIR = 'repair';

export interface IoPriorityComponents {
  clock: Clock;
  timers: Timers;
}

export interface IoPriorityOptions {
  /** Longest a repair step waits behind client requests; one waiting step per quantum runs while they stay busy. @default REPAIR_IO_QUANTUM_MS_DEFAULT */
  quantumMs?: number;
  /** Share of its rate repair keeps while clients are active (0 < shareMin ≤ 1). @default REPAIR_IO_SHARE_MIN_PERCENT_DEFAULT / 100 */
  shareMin?: number;
  /** Time without client requests over which repair's share rises from shareMin back to 1. @default REPAIR_IO_RAMP_MS_DEFAULT */
  rampMs?: number;
}

export class IoPriority {
  private readonly c: IoPriorityComponents;
  private readonly quantumMs: number;
  private readonly shareMin: number;
  private readonly rampMs: number;
  private clients = 0;
  private lastClientMs = Number.NEGATIVE_INFINITY;
  private readonly waiters: Array<() => void> = [];
  private timer: { cancel(): void } | null = null;
  /** Repair runs unhindered until then (the window after a quantum ran out). */
  private openUntilMs = Number.NEGATIVE_INFINITY;
  private readonly windowMs: number;
  /** Repair steps: run at once, after waiting for clients to finish, let through by the quantum. */
  readonly counters = { repairAtOnce: 0, repairAfterClients: 0, repairByQuantum: 0, clientRequests: 0 };

  constructor(c: IoPriorityComponents, o: IoPriorityOptions = {}) {
    this.c = c;
    this.quantumMs = Math.max(1, o.quantumMs ?? REPAIR_IO_QUANTUM_MS_DEFAULT);
    this.shareMin = Math.min(1, Math.max(0.01, o.shareMin ?? REPAIR_IO_SHARE_MIN_PERCENT_DEFAULT / 100));
    this.rampMs = Math.max(1, o.rampMs ?? REPAIR_IO_RAMP_MS_DEFAULT);
    this.windowMs = this.shareMin >= 1 ? Number.POSITIVE_INFINITY : (this.quantumMs * this.shareMin) / (1 - this.shareMin);
  }

  /** A client request began; call the returned function (idempotent) when its response is over. */
  clientStarted(): () => void {
    this.clients++;
    this.counters.clientRequests++;
    this.lastClientMs = this.c.clock.nowMs();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.clients--;
      this.lastClientMs = this.c.clock.nowMs();
      if (this.clients === 0) this.releaseAll();
    };
  }

  /** Client requests in flight. */
  get clientsInFlight(): number {
    return this.clients;
  }

  /**
   * Resolves when a repair step may run (see the file comment); null when it may run at once
   * (the common case costs no promise).
   */
  admitRepair(): Promise<void> | null {
    if (this.clients === 0 || this.c.clock.nowMs() < this.openUntilMs) {
      this.counters.repairAtOnce++;
      return null;
    }
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.arm();
    });
  }

  /** The fraction of its configured rate repair may use now (shareMin … 1). */
  repairShare(): number {
    if (this.clients > 0) return this.shareMin;
    const quietMs = this.c.clock.nowMs() - this.lastClientMs;
    return Math.min(1, this.shareMin + ((1 - this.shareMin) * quietMs) / this.rampMs);
  }

  /** `source`'s pieces, each passed on once admitted (a repair copy served to a peer). */
  async *paced<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const piece of source) {
      const wait = this.admitRepair();
      if (wait) await wait;
      yield piece;
    }
  }

  /** One quantum from now, lets every waiting step through and opens the gate for windowMs. */
  private arm(): void {
    if (this.timer !== null) return;
    this.timer = this.c.timers.setTimeout(() => {
      this.timer = null;
      this.openUntilMs = this.c.clock.nowMs() + this.windowMs;
      const ready = this.waiters.splice(0);
      this.counters.repairByQuantum += ready.length;
      for (const resolve of ready) resolve();
    }, this.quantumMs);
  }

  private releaseAll(): void {
    this.timer?.cancel();
    this.timer = null;
    const ready = this.waiters.splice(0);
    this.counters.repairAfterClients += ready.length;
    for (const resolve of ready) resolve();
  }
}

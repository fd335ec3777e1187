/**
 * Re-reads every replica on this server within each period and checks it against its CRC-32Cs
 * (HDFS's block scanner): a pass walks the store, verifying one replica at a time at no more than
 * bytesPerSecMax, then waits for the rest of the period. A replica that fails is marked corrupt
 * by the store, whose onCorrupt hook makes the chunk server delete it and report it gone — it
 * is never served again, and the leader's repair copies the chunk from a good replica.
 *
 * Where the background scrub stands (position()) is kept across a clean restart: the chunk server
 * saves it in its clean-shutdown marker and passes it back as `resume`, so restarts neither
 * restart a pass from the first replica nor start one early. Without `resume` — the last stop was
 * not clean (a crash, kill -9, power loss: unsynced writes may be lost or torn) or the first start —
 * a full pass begins at once: the replicas are re-verified before anything else is scheduled.
 *
 * On-demand rounds (`cairn scrub`, startRound()): the leader's scrub command makes the scrubber
 * verify every replica now, beside the background pass, at the command's rate (0: full disk
 * speed), reporting pages of verified and corrupt ids through reportRound (at most
 * ROUND_PAGE_IDS ids or ROUND_PAGE_MS apart), the last one `done`. A round already run or running
 * is not started again (the leader repeats the command until the first report arrives); a round
 * the leader no longer knows (reportRound answers false) stops.
 */
import type { Clock, Timers } from '../env/clock.js';
import type { Logger } from '../util/logger.js';
import { isCairnError } from '../util/errors.js';
import { SCRUB_BYTES_PER_SEC_DEFAULT, SCRUB_PERIOD_MS_DEFAULT } from '../config/defaults.js';

export interface ScrubberComponents {
  store: {
    list(): AsyncIterable<string>;
    verify(id: string, opts: { bytesPerSecMax?: number; signal?: AbortSignal }): Promise<{ ok: boolean; reason?: string }>;
  };
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Sends a page of an on-demand round to the leader (cs.scrubReport); false: stop the round. */
  reportRound?: (page: ScrubRoundPage) => Promise<boolean>;
}

/** Where the background scrub stood (see the header). */
export interface ScrubPosition {
  /** A pass was under way at this chunk-id prefix (0..255, the first two hex digits); null: between passes. */
  prefix: number | null;
  /** Between passes: milliseconds until the next one begins. */
  waitMs: number;
}

export interface ScrubberOptions {
  /** Every replica is verified at least once per period. @default 14 days */
  periodMs?: number;
  /** Read rate while verifying (0: unlimited). @default 8 MiB/s */
  bytesPerSecMax?: number;
  /** Continue from here (the last stop was clean); absent: a full pass at once. */
  resume?: ScrubPosition;
}

/** An on-demand round as the leader's command names it. */
export interface ScrubCommand {
  round: string;
  /** 0: full disk speed. */
  bytesPerSecMax: number;
}

export interface ScrubRoundPage {
  round: string;
  page: number;
  verified: string[];
  corrupt: string[];
  done: boolean;
}

/** Ids per round report page, and the longest time between two pages (progress for `cairn status`). */
const ROUND_PAGE_IDS = 1000;
const ROUND_PAGE_MS = 1000;
/** Attempts at sending one round page (the session retries each within its own deadline too). */
const ROUND_REPORT_ATTEMPTS = 5;
const ROUND_REPORT_RETRY_MS = 1000;
/** Round ids remembered so a repeated command does not run a round twice. */
const ROUNDS_REMEMBERED = 64;

/** The leader's scrub command ({op:'scrub', round, bytesPerSecMax}); null when malformed. */
export function parseScrubCommand(v: unknown): ScrubCommand | null {
  if (v === null || typeof v !== 'object') return null;
  const c = v as Record<string, unknown>;
  if (c.op !== 'scrub' || typeof c.round !== 'string' || c.round.length === 0 || c.round.length > 64) return null;
  const rate = c.bytesPerSecMax;
  if (typeof rate !== 'number' || !Number.isSafeInteger(rate) || rate < 0) return null;
  return { round: c.round, bytesPerSecMax: rate };
}

export class Scrubber {
  private readonly c: ScrubberComponents;
  private readonly periodMs: number;
  private readonly bytesPerSecMax: number;
  private resume: ScrubPosition | undefined;
  private readonly ac = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly rounds = new Map<string, Promise<void>>();
  /** The prefix the pass under way has reached; null between passes. */
  private passPrefix: number | null = null;
  private nextPassAtMs = 0;
  /**
   * Background passes and what they found; on-demand rounds run and those running, replicas they
   * verified and found corrupt (chunk-server counters).
   */
  readonly counters = { passes: 0, verified: 0, corrupt: 0, rounds: 0, roundsRunning: 0, roundVerified: 0, roundCorrupt: 0 };

  constructor(c: ScrubberComponents, o: ScrubberOptions = {}) {
    this.c = c;
    this.periodMs = o.periodMs ?? SCRUB_PERIOD_MS_DEFAULT;
    this.bytesPerSecMax = o.bytesPerSecMax ?? SCRUB_BYTES_PER_SEC_DEFAULT;
    this.resume = o.resume;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.ac.signal.aborted) this.c.logger.error('scrubber stopped', { err: (err as Error).message });
    });
  }

  /** Ends the background pass or wait and every round (their last pages are not sent). */
  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
    await Promise.all(this.rounds.values());
  }

  /** Where the background scrub stands now (saved at a clean stop, passed back as `resume`). */
  position(): ScrubPosition {
    if (this.passPrefix !== null) return { prefix: this.passPrefix, waitMs: 0 };
    return { prefix: null, waitMs: Math.max(0, this.nextPassAtMs - this.c.clock.nowMs()) };
  }

  /** Start an on-demand round (a command from the leader); one already run or running is ignored. */
  startRound(cmd: ScrubCommand): void {
    if (this.ac.signal.aborted || this.rounds.has(cmd.round)) return;
    const done = this.round(cmd)
      .catch((err: unknown) => {
        if (!this.ac.signal.aborted) this.c.logger.warn('scrub round stopped', { round: cmd.round, err: (err as Error).message });
      })
      .finally(() => this.counters.roundsRunning--);
    this.counters.rounds++;
    this.counters.roundsRunning++;
    this.rounds.set(cmd.round, done);
    for (const id of this.rounds.keys()) {
      if (this.rounds.size <= ROUNDS_REMEMBERED) break;
      this.rounds.delete(id);
    }
  }

  private async run(): Promise<void> {
    const signal = this.ac.signal;
    while (!signal.aborted) {
      const resume = this.resume;
      this.resume = undefined;
      if (resume && resume.prefix === null) {
        await this.wait(resume.waitMs);
        continue;
      }
      const t0 = this.c.clock.nowMs();
      const from = resume?.prefix ?? 0;
      this.passPrefix = from;
      for await (const id of this.c.store.list()) {
        if (signal.aborted) return;
        const prefix = parseInt(id.slice(0, 2), 16);
        if (prefix < from) continue;
        this.passPrefix = prefix;
        const r = await this.verify(id, this.bytesPerSecMax);
        if (r === 'aborted') return;
        if (r === 'ok') this.counters.verified++;
        if (r === 'corrupt') {
          this.counters.verified++;
          this.counters.corrupt++;
        }
      }
      this.counters.passes++;
      this.passPrefix = null;
      await this.wait(Math.max(50, this.periodMs - (this.c.clock.nowMs() - t0)));
    }
  }

  private async round(cmd: ScrubCommand): Promise<void> {
    const report = this.c.reportRound;
    if (!report) return;
    const { clock } = this.c;
    let page = 0;
    let verified: string[] = [];
    let corrupt: string[] = [];
    let sentMs = clock.nowMs();
    const send = async (done: boolean): Promise<boolean> => {
      const p = { round: cmd.round, page: ++page, verified, corrupt, done };
      verified = [];
      corrupt = [];
      sentMs = clock.nowMs();
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.unlessStopped(report(p));
        } catch (err) {
          if (this.ac.signal.aborted || attempt >= ROUND_REPORT_ATTEMPTS) throw err;
          await this.wait(ROUND_REPORT_RETRY_MS, false);
        }
      }
    };
    this.c.logger.info('scrub round started', { round: cmd.round, bytesPerSecMax: cmd.bytesPerSecMax });
    // The first page (empty) tells the leader the command arrived, so it stops repeating it.
    if (!(await send(false))) return;
    for await (const id of this.c.store.list()) {
      const r = await this.verify(id, cmd.bytesPerSecMax);
      if (r === 'aborted') return;
      if (r === 'ok') verified.push(id);
      if (r === 'corrupt') corrupt.push(id);
      if (r === 'ok' || r === 'corrupt') this.counters[r === 'ok' ? 'roundVerified' : 'roundCorrupt']++;
      if (verified.length + corrupt.length >= ROUND_PAGE_IDS || clock.nowMs() - sentMs >= ROUND_PAGE_MS) {
        if (!(await send(false))) return;
      }
    }
    await send(true);
    this.c.logger.info('scrub round finished', { round: cmd.round });
  }

  /** `p`, or a rejection as soon as the scrubber stops (a report the leader is slow to answer must not hold up stop()). */
  private unlessStopped<T>(p: Promise<T>): Promise<T> {
    const signal = this.ac.signal;
    let onAbort = (): void => undefined;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Error('scrubber stopped'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([p, stopped]).finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** One replica: ok, corrupt (the store has marked it), gone (deleted meanwhile, or unreadable), or aborted. */
  private async verify(id: string, bytesPerSecMax: number): Promise<'ok' | 'corrupt' | 'gone' | 'aborted'> {
    const signal = this.ac.signal;
    if (signal.aborted) return 'aborted';
    try {
      const r = await this.c.store.verify(id, { bytesPerSecMax, signal });
      return r.ok ? 'ok' : 'corrupt';
    } catch (err) {
      if (signal.aborted) return 'aborted';
      if (!isCairnError(err, 'NotFound')) this.c.logger.warn('scrub of a replica failed', { chunk: id, err: (err as Error).message });
      return 'gone';
    }
  }

  /** Waits `ms` (ends early when stopped); `nextPass`: the wait between passes, which position() counts down. */
  private wait(ms: number, nextPass = true): Promise<void> {
    const signal = this.ac.signal;
    if (nextPass) this.nextPassAtMs = this.c.clock.nowMs() + ms;
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const t = this.c.timers.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        t.cancel();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

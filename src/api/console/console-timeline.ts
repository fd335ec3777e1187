/**
 * The web console's last hour: a ring buffer of samples the gateway takes every few seconds,
 * so a console opened now draws the hour before it, not only what it watched itself.
 *
 * Each sample costs one cluster.repair call (the leader's counters, no scan) and a read of the
 * gateway's own byte counters; a failed call records nulls (no leader then), never throws.
 * Memory: samplesMax samples of a few numbers each.
 */
import type { Clock, Timers } from '../../env/clock.js';

/** One moment. Rates are per second over the interval since the previous sample; null: unknown. */
export interface TimelineSample {
  /** Monotonic ms (the gateway's clock); the answer carries `nowMs` to turn it into an age. */
  atMs: number;
  /** Bytes per second through this gateway, in (uploads) and out (downloads). */
  bytesInPerSec: number | null;
  bytesOutPerSec: number | null;
  /** The leader's repair copy rate, bytes per second. */
  repairBytesPerSec: number | null;
  /** Chunks with fewer live replicas than wanted, and with none, at the leader's last repair scan. */
  underReplicated: number | null;
  lost: number | null;
}

export interface ConsoleTimelineComponents {
  clock: Clock;
  timers: Timers;
  /** The leader's repair counters (cluster.repair). */
  repairStats(): Promise<Record<string, unknown>>;
  /** Bytes this gateway has received and sent so far (monotonic). */
  bytesTotals(): Promise<{ bytesIn: number; bytesOut: number }>;
}

export interface ConsoleTimelineOptions {
  /** @default CONSOLE_SAMPLE_MS */
  sampleMs?: number;
  /** @default CONSOLE_SAMPLES_MAX (one hour at the default interval) */
  samplesMax?: number;
}

export const CONSOLE_SAMPLE_MS = 5000;
export const CONSOLE_SAMPLES_MAX = 720;

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export class ConsoleTimeline {
  readonly sampleMs: number;
  private readonly c: ConsoleTimelineComponents;
  private readonly samplesMax: number;
  /** Oldest first; at most samplesMax. */
  private readonly samples: TimelineSample[] = [];
  private prev: { atMs: number; bytesIn: number; bytesOut: number } | null = null;
  private timer: { cancel(): void } | null = null;
  private busy = false;

  constructor(c: ConsoleTimelineComponents, o: ConsoleTimelineOptions = {}) {
    this.c = c;
    this.sampleMs = o.sampleMs ?? CONSOLE_SAMPLE_MS;
    this.samplesMax = o.samplesMax ?? CONSOLE_SAMPLES_MAX;
  }

  /** Samples at once, then every sampleMs until stop(). */
  start(): void {
    if (this.timer !== null) return;
    void this.sample();
    this.timer = this.c.timers.setInterval(() => void this.sample(), this.sampleMs);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Takes one sample (a sample still in flight makes this a no-op: a slow leader does not pile calls up). */
  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const [repair, bytes] = await Promise.all([this.c.repairStats().catch(() => null), this.c.bytesTotals()]);
      const atMs = this.c.clock.nowMs();
      const prev = this.prev;
      const secs = prev === null ? 0 : (atMs - prev.atMs) / 1000;
      const rate = (now: number, before: number | undefined): number | null => (prev === null || secs <= 0 || before === undefined ? null : Math.max(0, (now - before) / secs));
      this.samples.push({
        atMs,
        bytesInPerSec: rate(bytes.bytesIn, prev?.bytesIn),
        bytesOutPerSec: rate(bytes.bytesOut, prev?.bytesOut),
        repairBytesPerSec: numOrNull(repair?.copyBytesPerSec),
        underReplicated: numOrNull(repair?.underReplicated),
        lost: numOrNull(repair?.lost),
      });
      if (this.samples.length > this.samplesMax) this.samples.splice(0, this.samples.length - this.samplesMax);
      this.prev = { atMs, ...bytes };
    } finally {
      this.busy = false;
    }
  }

  /** The samples, oldest first, with the clock's now (ages are nowMs - atMs). */
  snapshot(): { nowMs: number; sampleMs: number; samples: TimelineSample[] } {
    return { nowMs: this.c.clock.nowMs(), sampleMs: this.sampleMs, samples: [...this.samples] };
  }
}

/**
 * Bytes per second over the last few seconds (not since the start), for progress lines: an
 * average since the start hides a stall and makes the ETA jump when the rate changes.
 */
const RATE_WINDOW_MS = 5000;
const SAMPLE_EVERY_MS = 100;

export class RecentRate {
  private readonly samples: Array<[number, number]> = [];

  /** Record `bytes` done at `nowMs`; answers the recent rate (null until 200 ms of history). */
  sample(nowMs: number, bytes: number): number | null {
    const lastAt = this.samples.at(-1)?.[0];
    if (lastAt === undefined || nowMs - lastAt >= SAMPLE_EVERY_MS) this.samples.push([nowMs, bytes]);
    while (this.samples.length > 2 && nowMs - this.samples[0]![0] > RATE_WINDOW_MS) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    return nowMs - t0 > 200 ? ((bytes - b0) * 1000) / (nowMs - t0) : null;
  }
}

/** Milliseconds on a monotonic clock (progress display only). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

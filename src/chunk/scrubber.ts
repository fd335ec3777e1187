/**
 * Re-reads every replica on this server within each period and checks it against its CRC-32Cs
 * (HDFS's block scanner): a pass walks the store, verifying one replica at a time at no more than
 * bytesPerSecMax, then waits for the rest of the period. A replica that fails is marked corrupt
 * by the store, whose onCorrupt hook makes the chunk server delete it and report it gone — it
 * is never served again, and the leader's repair copies the chunk from a good replica.
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
}

export interface ScrubberOptions {
  /** Every replica is verified at least once per period. @default 14 days */
  periodMs?: number;
  /** Read rate while verifying (0: unlimited). @default 8 MiB/s */
  bytesPerSecMax?: number;
}


export class Scrubber {
  private readonly c: ScrubberComponents;
  private readonly periodMs: number;
  private readonly bytesPerSecMax: number;
  private readonly ac = new AbortController();
  private loop: Promise<void> | null = null;
  readonly counters = { passes: 0, verified: 0, corrupt: 0 };

  constructor(c: ScrubberComponents, o: ScrubberOptions = {}) {
    this.c = c;
    this.periodMs = o.periodMs ?? SCRUB_PERIOD_MS_DEFAULT;
    this.bytesPerSecMax = o.bytesPerSecMax ?? SCRUB_BYTES_PER_SEC_DEFAULT;
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.ac.signal.aborted) this.c.logger.error('scrubber stopped', { err: (err as Error).message });
    });
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.ac.signal;
    while (!signal.aborted) {
      const t0 = this.c.clock.nowMs();
      for await (const id of this.c.store.list()) {
        if (signal.aborted) return;
        try {
          const r = await this.c.store.verify(id, { bytesPerSecMax: this.bytesPerSecMax, signal });
          this.counters.verified++;
          if (!r.ok) this.counters.corrupt++;
        } catch (err) {
          if (signal.aborted) return;
          if (!isCairnError(err, 'NotFound')) this.c.logger.warn('scrub of a replica failed', { chunk: id, err: (err as Error).message });
        }
      }
      this.counters.passes++;
      const wait = Math.max(50, this.periodMs - (this.c.clock.nowMs() - t0));
      await new Promise<void>((resolve) => {
        const t = this.c.timers.setTimeout(resolve, wait);
        signal.addEventListener(
          'abort',
          () => {
            t.cancel();
            resolve();
          },
          { once: true },
        );
      });
    }
  }
}

import type { Clock, Timers } from '../../src/env/clock.js';

/** Monotonic time and timers that move only when told to. */
export class ManualTime implements Clock, Timers {
  private now = 1_000_000;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void; everyMs: number | null }>();

  nowMs(): number {
    return this.now;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): { cancel(): void } {
    return this.add(fn, ms, ms);
  }

  /** Timers waiting. */
  pending(): number {
    return this.due.size;
  }

  /** Move time forward by `ms`, running every timer due on the way in time order. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (true) {
      let next: [number, { at: number; fn: () => void; everyMs: number | null }] | null = null;
      for (const e of this.due) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      const [id, t] = next;
      this.now = t.at;
      if (t.everyMs === null) this.due.delete(id);
      else t.at += t.everyMs;
      t.fn();
    }
    this.now = end;
  }

  private add(fn: () => void, ms: number, everyMs: number | null): { cancel(): void } {
    const id = ++this.seq;
    this.due.set(id, { at: this.now + ms, fn, everyMs });
    return { cancel: () => void this.due.delete(id) };
  }
}

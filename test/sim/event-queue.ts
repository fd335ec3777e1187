/**
 * The simulator's clock and event queue: a binary min-heap ordered by (time, insertion seq), so
 * events at the same simulated time run in the order they were scheduled. Nothing here reads
 * real time; one seed and the same schedule calls give the same order on every machine.
 */

interface QueuedEvent {
  time: number;
  seq: number;
  run: () => void;
}

export class EventQueue {
  /** Current simulated time (ms-like units). Only moves forward. */
  now = 0;
  private heap: QueuedEvent[] = [];
  private seq = 0;
  /** Events run so far (for stats and a hard bound). */
  executed = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Run `run` after `delay` (>= 0) units. */
  after(delay: number, run: () => void): void {
    this.push({ time: this.now + Math.max(0, delay), seq: this.seq++, run });
  }

  /**
   * Run events in order until none is due at or before `until`; the clock ends at `until`.
   * Returns early, right after an event, once `pause()` says so (the clock stays at that event).
   */
  runUntil(until: number, eventsMax: number, pause?: () => boolean): void {
    while (this.heap.length > 0 && this.heap[0]!.time <= until) {
      if (this.executed >= eventsMax) throw new Error(`event budget exceeded (${eventsMax} events)`);
      const e = this.pop();
      this.now = e.time;
      this.executed++;
      e.run();
      if (pause?.()) return;
    }
    if (until > this.now) this.now = until;
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(e: QueuedEvent): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): QueuedEvent {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

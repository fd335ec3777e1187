/**
 * Chunk servers' cs.work long polls held by the leader until there is repair work for them (at
 * most one per server). A held poll is answered {commands} by release(), with no work when its
 * wait ends, when a newer poll from the same server replaces it, or when the term that holds it
 * ends (releaseAll); a poll whose connection closed is answered with nothing (the answer cannot
 * be delivered, so nothing may be handed out in it).
 */
import type { Timers } from '../env/clock.js';
import type { MetaAnswers } from '../proto/meta-answers.js';

/** The cs.work answer (proto/meta-answers.ts). */
export type WorkAnswer = MetaAnswers['cs.work'];

export interface WorkPollsComponents {
  timers: Timers;
}

interface Held {
  resolve(v: WorkAnswer): void;
  timer: { cancel(): void };
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class WorkPolls {
  private readonly c: WorkPollsComponents;
  private readonly held = new Map<string, Held>();

  constructor(c: WorkPollsComponents) {
    this.c = c;
  }

  /** Hold `server`'s poll for at most waitMs; `signal` aborts when its connection closes. */
  hold(server: string, waitMs: number, signal: AbortSignal | undefined): Promise<WorkAnswer> {
    this.release(server);
    if (signal?.aborted) return Promise.resolve({ commands: [] });
    return new Promise((resolve) => {
      const timer = this.c.timers.setTimeout(() => this.release(server), waitMs);
      const onAbort = (): void => this.release(server);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.held.set(server, { resolve, timer, signal, onAbort });
    });
  }

  /** Answer `server`'s held poll, if any, with `commands`. */
  release(server: string, commands: unknown[] = []): void {
    const w = this.held.get(server);
    if (!w) return;
    this.held.delete(server);
    w.timer.cancel();
    w.signal?.removeEventListener('abort', w.onAbort);
    w.resolve({ commands });
  }

  releaseAll(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }

  /** Servers with a poll held. */
  servers(): string[] {
    return [...this.held.keys()];
  }
}

/**
 * Proposals waiting to be applied, by log index. Each settles exactly once: with the state
 * machine's result when the entry at its index and term is applied, ProposalDropped when a newer
 * leader overwrote that index, Timeout when it waited too long or a snapshot replaced it (outcome
 * unknown: the caller retries with the same request id and the state machine deduplicates).
 */
import type { Timers } from '../env/clock.js';
import type { Entry } from '../raft/types.js';
import { CairnError } from '../util/errors.js';

interface PendingProposal {
  term: number;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: { cancel(): void };
}

export interface ProposalTrackerOptions {
  /** How long a proposal may wait to be applied. */
  proposeTimeoutMs: number;
}

export class ProposalTracker {
  private readonly pending = new Map<number, PendingProposal>();

  constructor(
    private readonly c: { timers: Timers },
    private readonly opts: ProposalTrackerOptions,
  ) {}

  /** Wait for the entry proposed at `index` in `term`. */
  track(index: number, term: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = this.c.timers.setTimeout(() => {
        if (this.pending.get(index)?.timer === timer) this.pending.delete(index);
        reject(new CairnError('Timeout', `proposal at index ${index} not applied within ${this.opts.proposeTimeoutMs} ms`));
      }, this.opts.proposeTimeoutMs);
      // An older proposal at the same index lost to a newer term: it was overwritten.
      const old = this.pending.get(index);
      if (old) {
        old.timer.cancel();
        old.reject(new CairnError('ProposalDropped', 'proposal was overwritten by a newer leader'));
      }
      this.pending.set(index, { term, resolve, reject, timer });
    });
  }

  /** `e` was applied with `result`: settle the proposal at its index, if any. */
  applied(e: Entry, result: unknown): void {
    const p = this.pending.get(e.index);
    if (!p) return;
    this.pending.delete(e.index);
    p.timer.cancel();
    if (p.term === e.term) p.resolve(result);
    else p.reject(new CairnError('ProposalDropped', 'proposal was overwritten by a newer leader'));
  }

  /** A snapshot up to `index` was installed: the outcome of proposals at or below it is inside the image, unknown to us. */
  replacedThrough(index: number): void {
    for (const [idx, p] of this.pending) {
      if (idx <= index) {
        p.timer.cancel();
        p.reject(new CairnError('Timeout', 'outcome unknown: replaced by a snapshot; retry with the same request id'));
        this.pending.delete(idx);
      }
    }
  }

  failAll(err: Error): void {
    for (const [idx, p] of this.pending) {
      p.timer.cancel();
      p.reject(err);
      this.pending.delete(idx);
    }
  }
}

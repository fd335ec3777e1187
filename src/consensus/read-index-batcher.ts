/**
 * Linearizable reads on the leader (ReadIndex, Raft thesis §6.4). Reads arriving while a
 * confirmation round is in flight wait for the next one, so concurrent reads share one round; a
 * confirmed batch is released once the applied index reaches its read index. At most one round
 * is in flight; a round that never completes is abandoned after `readTimeoutMs`.
 */
import type { Timers } from '../env/clock.js';
import type { ReadState } from '../raft/types.js';
import { CairnError } from '../util/errors.js';

interface ReadWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: { cancel(): void };
}

interface ReadBatch {
  waiters: ReadWaiter[];
  /** Set once the core has confirmed the read index. */
  index: number | null;
}

export interface ReadIndexBatcherComponents {
  timers: Timers;
  /** Start a confirmation round in the core; throws NotLeader (or another error) when it cannot. */
  readIndex(ctx: Uint8Array): void;
  /** The error a read gets when this node is not (or no longer) the leader. */
  notLeader(): CairnError;
  isLeader(): boolean;
  /** The core has new input: run the Ready loop. */
  kick(): void;
}

export interface ReadIndexBatcherOptions {
  /** Names this node in round keys. */
  id: string;
  readTimeoutMs: number;
}

export class ReadIndexBatcher {
  /** Reads waiting for the next ReadIndex round. */
  private nextReads: ReadWaiter[] = [];
  /** ReadIndex rounds in flight or waiting to be applied, by ctx key. */
  private readonly batches = new Map<string, ReadBatch>();
  private seq = 0;
  private inFlight = false;
  /** Abandons a confirmation round that never completes (e.g. the leader lost its quorum). */
  private roundTimer: { cancel(): void } | null = null;

  constructor(
    private readonly c: ReadIndexBatcherComponents,
    private readonly opts: ReadIndexBatcherOptions,
  ) {}

  /** Resolves once a round started after this call is confirmed and `released` reaches its index. */
  read(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: ReadWaiter = { resolve, reject, timer: { cancel() {} } };
      waiter.timer = this.c.timers.setTimeout(() => {
        this.nextReads = this.nextReads.filter((w) => w !== waiter);
        for (const b of this.batches.values()) b.waiters = b.waiters.filter((w) => w !== waiter);
        reject(new CairnError('Timeout', 'linearizable read timed out'));
      }, this.opts.readTimeoutMs);
      this.nextReads.push(waiter);
      this.flush();
    });
  }

  /** ReadIndex results of a Ready: confirm their batches, release what is applied, start the next round. */
  confirmed(readStates: ReadState[], applied: number): void {
    for (const rs of readStates) {
      const batch = this.batches.get(new TextDecoder().decode(rs.ctx));
      if (batch) batch.index = rs.index;
      this.inFlight = false;
      this.roundTimer?.cancel();
      this.roundTimer = null;
    }
    this.release(applied);
    if (readStates.length > 0) this.flush();
  }

  /** Resolve the batches whose read index is applied. */
  release(applied: number): void {
    for (const [key, batch] of this.batches) {
      if (batch.index !== null && batch.index <= applied) {
        this.batches.delete(key);
        for (const w of batch.waiters) {
          w.timer.cancel();
          w.resolve();
        }
      }
    }
  }

  failAll(err: Error): void {
    for (const w of this.nextReads) {
      w.timer.cancel();
      w.reject(err);
    }
    this.nextReads = [];
    for (const batch of this.batches.values()) {
      for (const w of batch.waiters) {
        w.timer.cancel();
        w.reject(err);
      }
    }
    this.batches.clear();
    this.inFlight = false;
    this.roundTimer?.cancel();
    this.roundTimer = null;
  }

  private flush(): void {
    if (this.inFlight || this.nextReads.length === 0 || !this.c.isLeader()) return;
    const key = `${this.opts.id}:${++this.seq}`;
    const batch: ReadBatch = { waiters: this.nextReads, index: null };
    this.nextReads = [];
    this.batches.set(key, batch);
    this.inFlight = true;
    try {
      this.c.readIndex(new TextEncoder().encode(key));
    } catch (err) {
      this.inFlight = false;
      this.batches.delete(key);
      for (const w of batch.waiters) {
        w.timer.cancel();
        w.reject(err instanceof CairnError && err.code === 'NotLeader' ? this.c.notLeader() : (err as Error));
      }
      return;
    }
    // If the round never completes, its waiters time out on their own; the round must not
    // block every later read, so it is abandoned after the same time.
    this.roundTimer = this.c.timers.setTimeout(() => {
      this.roundTimer = null;
      const b = this.batches.get(key);
      if (b && b.index === null) {
        this.batches.delete(key);
        this.inFlight = false;
        this.flush();
      }
    }, this.opts.readTimeoutMs);
    this.c.kick();
  }
}

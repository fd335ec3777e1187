/**
 * In-memory twin of the LMDB key-value state store (consensus/KvStore): the same contract,
 * for tests and the simulator. A batch and its applied index change together; `crashCopy()`
 * models what survives a crash (everything applied, since a batch is atomic).
 *
 * Keys are ordered as LMDB orders them (UTF-8 bytes, see ordered-keys.ts), so range() and the
 * transaction's range() list exactly what LmdbStateStore lists.
 */
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import type { StagingWriter, StateReadSnapshot } from './lmdb-state-store.js';
import { OrderedKeys, mergeStaged, rangeLimit } from './ordered-keys.js';

export interface KvTxnLike {
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  /**
   * Pairs with start <= key < end in key order (at most `limit`), seeing this batch's own staged
   * puts and deletes. Lazy: iterate it within the batch function.
   */
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
}

export class MemoryKvStore {
  private data = new Map<string, Uint8Array>();
  private order = new OrderedKeys((k) => this.data.has(k));
  private applied = 0;
  /** A finished staged image (received snapshot) not yet installed: its index (0: none) and data. */
  private staged = 0;
  private stagedData: Map<string, Uint8Array> | null = null;
  private stagingGen = 0;
  /** How many batches were applied (tests check nothing is applied twice). */
  batches = 0;

  appliedIndex(): number {
    return this.applied;
  }

  async applyBatch<T>(index: number, fn: (txn: KvTxnLike) => T): Promise<T> {
    if (index <= this.applied) throw new CairnError('Internal', `batch at ${index} already applied (applied ${this.applied})`);
    // Stage writes so a throwing fn leaves nothing behind (like an aborted transaction).
    const staged = new Map<string, Uint8Array | null>();
    const stagedOrder = new OrderedKeys((k) => staged.has(k));
    const stage = (k: string, v: Uint8Array | null) => {
      if (!staged.has(k)) stagedOrder.add(k);
      staged.set(k, v);
    };
    const result = fn({
      get: (k) => (staged.has(k) ? (staged.get(k) ?? undefined) : this.data.get(k)),
      put: (k, v) => stage(k, Uint8Array.from(v)),
      del: (k) => stage(k, null),
      range: (start, end, limit) =>
        iterable(() => mergeStaged(this.committedPairs(start, end), stagedOrder.range(start, end), staged, rangeLimit(limit))),
    });
    for (const [k, v] of staged) {
      if (v === null) {
        if (this.data.delete(k)) this.order.remove();
      } else {
        if (!this.data.has(k)) this.order.add(k);
        this.data.set(k, v);
      }
    }
    this.applied = index;
    this.batches++;
    return result;
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  /** Committed pairs with start <= key < end (at most `limit`), in key order, lazily. */
  *range(start?: string, end?: string, limit?: number): Generator<[string, Uint8Array]> {
    const max = rangeLimit(limit);
    let n = 0;
    if (n >= max) return;
    for (const pair of this.committedPairs(start, end)) {
      yield pair;
      if (++n >= max) return;
    }
  }

  async flush(): Promise<void> {}

  /** A consistent copy of every pair in key order, at the current applied index. */
  async readSnapshot(): Promise<StateReadSnapshot> {
    const pairs = [...this.range()];
    return { applied: this.applied, [Symbol.iterator]: () => pairs[Symbol.iterator](), close() {} };
  }

  stagedIndex(): number {
    return this.staged;
  }

  /** Receive an image out of sight of readers; supersedes any earlier writer (see LmdbStateStore). */
  beginStaging(): StagingWriter {
    const gen = ++this.stagingGen;
    const data = new Map<string, Uint8Array>();
    this.staged = 0;
    this.stagedData = null;
    const current = (): void => {
      if (gen !== this.stagingGen) throw new CairnError('Unavailable', 'staging superseded by a newer snapshot transfer');
    };
    return {
      put: async (pairs) => {
        current();
        for (const [k, v] of pairs) data.set(k, Uint8Array.from(v));
      },
      finish: async (index) => {
        current();
        this.staged = index;
        this.stagedData = data;
      },
      abort: async () => {
        if (gen !== this.stagingGen) return;
        this.stagingGen++;
        this.staged = 0;
        this.stagedData = null;
      },
    };
  }

  async installStaged(index: number): Promise<void> {
    if (this.staged !== index || !this.stagedData) throw new CairnError('Internal', `no staged image at ${index} (staged: ${this.staged})`);
    this.data = this.stagedData;
    this.order.clear();
    for (const k of this.data.keys()) this.order.add(k);
    this.applied = index;
    this.staged = 0;
    this.stagedData = null;
    this.stagingGen++;
  }

  async exportImage(): Promise<Uint8Array> {
    return pack([this.applied, [...this.range()]]);
  }

  async importImage(image: Uint8Array, index: number): Promise<void> {
    const [, pairs] = unpack(image) as [number, Array<[string, Uint8Array]>];
    this.data = new Map(pairs.map(([k, v]) => [k, Uint8Array.from(v)]));
    this.order.clear();
    for (const k of this.data.keys()) this.order.add(k);
    this.applied = index;
  }

  async close(): Promise<void> {}

  private *committedPairs(start?: string, end?: string): Generator<[string, Uint8Array]> {
    for (const k of this.order.range(start, end)) {
      const v = this.data.get(k);
      if (v) yield [k, v];
    }
  }
}

function iterable<T>(make: () => Iterator<T>): Iterable<T> {
  return { [Symbol.iterator]: make };
}

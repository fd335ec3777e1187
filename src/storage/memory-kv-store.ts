/**
 * In-memory twin of the LMDB key-value state store (consensus/KvStore): the same contract,
 * for tests and the simulator. A batch and its applied index change together; `crashCopy()`
 * models what survives a crash (everything applied, since a batch is atomic).
 */
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';

export interface KvTxnLike {
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
}

export class MemoryKvStore {
  private data = new Map<string, Uint8Array>();
  private applied = 0;
  /** How many batches were applied (tests check nothing is applied twice). */
  batches = 0;

  appliedIndex(): number {
    return this.applied;
  }

  async applyBatch(index: number, fn: (txn: KvTxnLike) => void): Promise<void> {
    if (index <= this.applied) throw new CairnError('Internal', `batch at ${index} already applied (applied ${this.applied})`);
    // Stage writes so a throwing fn leaves nothing behind (like an aborted transaction).
    const staged = new Map<string, Uint8Array | null>();
    fn({
      get: (k) => (staged.has(k) ? (staged.get(k) ?? undefined) : this.data.get(k)),
      put: (k, v) => void staged.set(k, Uint8Array.from(v)),
      del: (k) => void staged.set(k, null),
    });
    for (const [k, v] of staged) {
      if (v === null) this.data.delete(k);
      else this.data.set(k, v);
    }
    this.applied = index;
    this.batches++;
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  async exportImage(): Promise<Uint8Array> {
    return pack([this.applied, [...this.data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
  }

  async importImage(image: Uint8Array, index: number): Promise<void> {
    const [, pairs] = unpack(image) as [number, Array<[string, Uint8Array]>];
    this.data = new Map(pairs.map(([k, v]) => [k, Uint8Array.from(v)]));
    this.applied = index;
  }

  async close(): Promise<void> {}
}

/**
 * Durable key-value state for a replicated state machine, in LMDB (implements consensus/KvStore).
 *
 * A batch of applied entries and the applied index are written in ONE LMDB transaction, so after
 * any crash they agree. Batches resolve when COMMITTED (visible), not when flushed: a batch lost
 * to an OS crash is re-applied from the Raft log, because its applied index is lost with it.
 * Anything that lets the Raft log forget entries (a snapshot + compaction) first waits for
 * `flushed()`, so the state it relies on is on disk.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { pack, unpack } from '../proto/msgpack.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';

export interface KvWriteTxn {
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
}

const APPLIED = 'applied';

export class LmdbKvStore {
  private applied: number;

  private constructor(
    private readonly env: RootDatabase,
    private readonly data: Database<Uint8Array, string>,
    private readonly meta: Database<number, string>,
  ) {
    this.applied = meta.get(APPLIED) ?? 0;
  }

  static async open(dir: string, options: { mapSizeBytes?: number } = {}): Promise<LmdbKvStore> {
    const env = open({ path: dir, maxDbs: 4, mapSize: options.mapSizeBytes ?? 2 ** 34, compression: false });
    const data = env.openDB<Uint8Array, string>({ name: 'data', encoding: 'binary' });
    const meta = env.openDB<number, string>({ name: 'meta', encoding: 'msgpack' });
    return new LmdbKvStore(env, data, meta);
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** Run `fn` and set the applied index to `index` in one transaction; resolves once committed. */
  async applyBatch(index: number, fn: (txn: KvWriteTxn) => void): Promise<void> {
    assert(index > this.applied, `batch at ${index} already applied (applied ${this.applied})`);
    await this.env.transaction(() => {
      fn({
        get: (k) => this.data.get(k),
        put: (k, v) => void this.data.put(k, v),
        del: (k) => void this.data.remove(k),
      });
      void this.meta.put(APPLIED, index);
    });
    this.applied = index;
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  /** Resolves when every committed batch is on disk. */
  async flushed(): Promise<void> {
    await this.env.flushed;
  }

  /**
   * A consistent image (one LMDB read snapshot) of every pair and the applied index, flushed
   * first so the image never describes state a crash could take back.
   */
  async exportImage(): Promise<Uint8Array> {
    await this.flushed();
    const pairs: Array<[string, Uint8Array]> = [];
    let applied = 0;
    this.env.transactionSync(() => {
      applied = this.meta.get(APPLIED) ?? 0;
      for (const { key, value } of this.data.getRange({})) pairs.push([key, value]);
    });
    return pack([applied, pairs]);
  }

  /** Replace everything with an image taken at `index`, durably. */
  async importImage(image: Uint8Array, index: number): Promise<void> {
    let pairs: Array<[string, Uint8Array]>;
    try {
      const v = unpack(image) as [number, Array<[string, Uint8Array]>];
      pairs = v[1];
      if (!Array.isArray(pairs)) throw new Error('not an array');
    } catch (err) {
      throw new CairnError('Corrupt', `snapshot image is malformed: ${(err as Error).message}`);
    }
    await this.env.transaction(() => {
      const old = [...this.data.getKeys({})];
      for (const k of old) void this.data.remove(k);
      for (const [k, v] of pairs) void this.data.put(k, v);
      void this.meta.put(APPLIED, index);
    });
    await this.flushed();
    this.applied = index;
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.env.close();
  }
}

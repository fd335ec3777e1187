/**
 * A small LMDB home for replicated state machines: string keys → byte values, plus the index of
 * the last Raft entry applied. `applyBatch(index, fn)` runs fn against a transaction view and
 * commits its writes AND the new applied index in ONE LMDB transaction, so after any crash the
 * state and its applied index agree and the runtime re-applies the log from exactly there.
 * Implements consensus/KvStore; storage/memory-kv-store.ts is its in-memory twin.
 *
 * Durability. This environment uses lmdb-js's overlappingSync (its default on Linux): a commit
 * becomes visible first and is fsynced right after, off the event loop, with a meta-page scheme
 * that stays consistent through kill -9 and OS crashes. So `applyBatch` resolves once the batch
 * is committed and visible, not yet durable: an OS crash may lose the last batches together with
 * their applied index, which is safe because those entries are still in the Raft log and are
 * re-applied. `applyBatch` does not even wait for the commit: it queues the batch and resolves
 * once fn has run, and until LMDB has committed the batch its writes stay in an in-memory overlay
 * ("unsettled", state-overlay.ts) that get, range and later batches read through — so the next
 * batch's fn, and the answers to the clients, no longer wait one write-thread commit per batch
 * (the applier was a serial stage of the Raft commit cycle, and that wait was most of it). At
 * most one LMDB batch of ours is under way, and the next starts no sooner than `commitLingerMs`
 * after it started: batches applied meanwhile go to LMDB together, as ONE transaction recording
 * the last one's applied index (each transaction costs a write-thread hand-off, a commit and an
 * fsync, ~0.4 ms of CPU, and rewrites every page it touches: applying 4–16 commands per batch in
 * one process took 22–40 % more CPU per command without sharing, and a leader without the linger
 * started 4× as many state transactions as its followers, ~42 pages each). A kill -9 before the
 * commit loses the same thing as an OS crash above: batches the Raft log re-applies. Everything
 * else (snapshots, staging, install, flush, close) first waits until every queued batch has
 * committed, so it sees LMDB holding the whole state; a batch that fails to commit fails every
 * later write (the server stops). Two operations must not outrun durability and wait for the flush:
 *   - exportImage/readSnapshot(): the Raft log may be compacted up to the image's index once it is
 *     taken, so the state at that index must be on disk first (else a crash could leave applied <
 *     firstIndex-1 with the entries in between gone);
 *   - importImage/replaceAll(): the Raft log discards entries covered by the installed snapshot.
 *
 * Received snapshots (InstallSnapshot) are written piece by piece into a second data database
 * that readers never see: two slots, `data0` and `data1`, and a meta record naming the active
 * one. `beginStaging()` clears the inactive slot and fills it; `finish(index)` records it as a
 * complete image at `index` (durably); `installStaged(index)` flips the active slot and the
 * applied index in one transaction. So a crash at any point leaves either the old state or the
 * new one, never a mix, and a finished image survives a crash until it is installed.
 *
 * fn runs against a staging map (its reads see its own earlier writes) and only then are the
 * staged writes queued as one lmdb-js `batch()`: if fn throws, nothing at all reaches LMDB. (An
 * lmdb-js async `transaction(cb)` cannot roll back: puts made before a throw are still
 * committed, which for a state machine would mean half an entry applied.) Batches are
 * serialized, so reads inside fn see every earlier batch.
 */
import type { Database, RootDatabase, Transaction } from 'lmdb';
import { LMDB_MAP_SIZE_BYTES_DEFAULT, STATE_COMMIT_LINGER_MS_DEFAULT } from '../config/defaults.js';
import type { Clock, Timers } from '../env/clock.js';
import { systemClock, systemTimers } from '../env/system.js';
import { pack, unpack } from '../proto/msgpack.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import { compareKeys, lowerBound, mergeStaged, rangeLimit } from './ordered-keys.js';
import { StateOverlay } from './state-overlay.js';
import { lmdbOpen } from './lmdb-open.js';
import { makePrivateDirSync, privateLmdbFiles } from './private-files.js';

export interface LmdbStateStoreOptions {
  /** Virtual address space reserved for the map. @default LMDB_MAP_SIZE_BYTES_DEFAULT (64 GiB) */
  mapSizeBytes?: number;
  /**
   * Least time between the starts of two LMDB transactions of applied batches (state-overlay.ts).
   * @default STATE_COMMIT_LINGER_MS_DEFAULT
   */
  commitLingerMs?: number;
  clock?: Clock;
  timers?: Timers;
}

/** The write transaction a state machine sees inside applyBatch. */
export interface StateTxn {
  get(key: string): Uint8Array | undefined;
  /**
   * Takes `value` as it is, without a copy (an inline file's record is tens of KiB, and the
   * state machine's encoders all return bytes of their own): the caller leaves it unchanged.
   */
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  /**
   * Pairs with start <= key < end in key order (at most `limit`), merging this batch's staged puts
   * and deletes over the committed state (read-your-writes). Lazy: iterate it inside fn.
   */
  range(start?: string, end?: string, limit?: number): Iterable<[string, Uint8Array]>;
}

/**
 * A consistent read view (one LMDB read transaction) of every pair and the applied index.
 * Holds an LMDB reader slot: call close() when done (iterating to the end does not close it).
 */
export interface StateReadSnapshot extends Iterable<[string, Uint8Array]> {
  readonly applied: number;
  close(): void;
}

/** LMDB's key limit is 1978 bytes; the ordered-binary string encoding adds a little. */
export const STATE_KEY_BYTES_MAX = 1900;
/**
 * The read cache (see get): values read from LMDB up to this size, this many at most, the oldest
 * read first out. Hot keys (a directory's entry, a session) skip the B-tree: a read from LMDB was
 * ~3 µs under `bench:raft` (a follower's profile: 8.9 % of ~92 µs per command, ~3 reads).
 */
const READ_CACHE_ENTRIES = 4096;
const READ_CACHE_VALUE_BYTES_MAX = 1024;
const KEY_APPLIED = 'applied';
const KEY_ACTIVE = 'active';
const KEY_STAGED = 'staged';

/** Writes a received image into the inactive slot (see the file comment). */
export interface StagingWriter {
  put(pairs: Iterable<[string, Uint8Array]>): Promise<void>;
  /** The image is complete as the state at `index`; durable when this resolves. */
  finish(index: number): Promise<void>;
  /** Discard it (no-op once a newer writer began). */
  abort(): Promise<void>;
}

export class LmdbStateStore {
  private readonly env: RootDatabase;
  private readonly slots: [Database<Uint8Array, string>, Database<Uint8Array, string>];
  private readonly metaDb: Database<Uint8Array, string>;
  private active: 0 | 1;
  private applied: number;
  private staged: number;
  /** Generation of the newest staging writer; older writers fail. */
  private stagingGen = 0;
  private writeTail: Promise<unknown> = Promise.resolve();
  /** Applied writes on their way to LMDB (state-overlay.ts); reads look there first. */
  private readonly overlay: StateOverlay;
  /**
   * Values as LMDB holds them, for keys read lately and not written since (see get). A key is
   * dropped when a batch writes it (the overlay answers for it from then on), and everything when
   * the whole content changes (replaceAll, installStaged).
   */
  private readonly cache = new Map<string, Uint8Array>();
  private closed = false;
  /** How many batches were applied since open (tests check nothing is applied twice). */
  batches = 0;
  /** How many get() calls read LMDB since open (tests check the cache answers for hot keys). */
  lmdbReads = 0;

  private constructor(env: RootDatabase, options: LmdbStateStoreOptions) {
    this.env = env;
    const lingerMs = options.commitLingerMs ?? STATE_COMMIT_LINGER_MS_DEFAULT;
    assert(Number.isFinite(lingerMs) && lingerMs >= 0, 'commitLingerMs must be a non-negative number');
    this.overlay = new StateOverlay((writes, index) => this.commitGroup(writes, index), lingerMs, options.clock ?? systemClock, options.timers ?? systemTimers);
    this.slots = [env.openDB<Uint8Array, string>('data0', { encoding: 'binary' }), env.openDB<Uint8Array, string>('data1', { encoding: 'binary' })];
    this.metaDb = env.openDB<Uint8Array, string>('meta', { encoding: 'binary' });
    this.applied = readApplied(this.metaDb, undefined);
    this.active = readIndexRecord(this.metaDb, KEY_ACTIVE, undefined) === 1 ? 1 : 0;
    this.staged = readIndexRecord(this.metaDb, KEY_STAGED, undefined);
  }

  /** How many LMDB transactions applied batches went to since open (tests check they share them). */
  get lmdbBatches(): number {
    return this.overlay.transactions;
  }

  /** One LMDB transaction of applied writes and their applied index (see state-overlay.ts). */
  private commitGroup(writes: Map<string, Uint8Array | null>, index: number): Promise<unknown> {
    const db = this.dataDb;
    return db.batch(() => {
      for (const [k, v] of writes) {
        if (v === null) db.remove(k);
        else db.put(k, v);
      }
      this.metaDb.put(KEY_APPLIED, pack(index));
    });
  }

  /** The live data (the active slot). */
  private get dataDb(): Database<Uint8Array, string> {
    return this.slots[this.active];
  }

  private get inactiveDb(): Database<Uint8Array, string> {
    return this.slots[this.active === 0 ? 1 : 0];
  }

  static async open(dir: string, options: LmdbStateStoreOptions = {}): Promise<LmdbStateStore> {
    makePrivateDirSync(dir);
    const env = lmdbOpen({ path: dir, maxDbs: 8, mapSize: options.mapSizeBytes ?? LMDB_MAP_SIZE_BYTES_DEFAULT, overlappingSync: true });
    privateLmdbFiles(dir);
    return new LmdbStateStore(env, options);
  }

  /** Index of the last applied entry as committed (0 for a new store). */
  appliedIndex(): number {
    return this.applied;
  }

  /**
   * Value of `key` as of the last batch applied, or undefined. The bytes may be shared with other
   * readers (the overlay's and the cache's): the caller leaves them unchanged.
   * Order: the overlay (applied, not yet committed), the cache, LMDB. The cache is right whenever
   * the overlay does not hold the key: a key leaves the overlay only once its group committed,
   * and lmdb-js renews its read transaction before that commit's promise resolves, so LMDB is
   * read at or after the commit; a key entering the overlay leaves the cache.
   */
  get(key: string): Uint8Array | undefined {
    this.checkOpen();
    const u = this.overlay.lookup(key);
    if (u !== undefined) return u ?? undefined;
    const c = this.cache.get(key);
    if (c !== undefined) return c;
    this.lmdbReads++;
    const v = this.dataDb.get(key);
    if (!v) return undefined;
    const p = plain(v);
    if (p.byteLength <= READ_CACHE_VALUE_BYTES_MAX) {
      if (this.cache.size >= READ_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, p);
    }
    return p;
  }

  /** Pairs with start <= key < end (at most `limit`) as of the last batch applied, in key order, read lazily. */
  *range(start?: string, end?: string, limit?: number): Generator<[string, Uint8Array]> {
    this.checkOpen();
    const max = rangeLimit(limit);
    if (max === 0) return;
    const opts: { start?: string; end?: string; limit?: number } = {};
    if (start !== undefined) opts.start = start;
    if (end !== undefined) opts.end = end;
    if (this.overlay.empty) {
      if (limit !== undefined) opts.limit = max;
      for (const { key, value } of this.dataDb.getRange(opts)) yield [key, plain(value)];
      return;
    }
    // No LMDB limit here: unsettled deletes may hide some of what LMDB returns.
    let n = 0;
    const committed = (function* (db) {
      for (const { key, value } of db.getRange(opts)) yield [key, plain(value)] as [string, Uint8Array];
    })(this.dataDb);
    for (const pair of this.overlay.over(committed, start, end)) {
      yield pair;
      if (++n >= max) return;
    }
  }

  /**
   * Run fn in one transaction that also sets the applied index to `index` (> appliedIndex()).
   * Resolves with fn's result once queued: visible to get()/range() and later batches at once
   * (through the unsettled overlay), committed in LMDB shortly after, durable after that.
   * If fn throws, nothing is written and the promise rejects with fn's error.
   */
  applyBatch<T>(index: number, fn: (txn: StateTxn) => T): Promise<T> {
    return this.enqueue(async () => {
      // Backpressure: the overlay and lmdb-js's write queue stay bounded when LMDB falls behind.
      if (this.overlay.mustWait()) await this.overlay.allCommitted();
      if (this.overlay.error) throw this.overlay.error;
      if (index <= this.applied) throw new CairnError('Internal', `batch at ${index} already applied (applied ${this.applied})`);
      const staged = new Map<string, Uint8Array | null>();
      // The staged keys, sorted in key order only when a range read needs them: most commands
      // stage keys and read none by range, so a new key costs a push; the sort before a range
      // finds the sorted prefix as one run and merges only the keys added since (an insertion
      // into a sorted array per key was quadratic in a batch of many commands).
      const stagedKeys: string[] = [];
      let sorted = true;
      const stage = (k: string, v: Uint8Array | null) => {
        checkKey(k);
        if (!staged.has(k)) {
          stagedKeys.push(k);
          sorted = false;
        }
        staged.set(k, v);
      };
      // Staged keys in [start, end), copied: the range's reader may stage more while it iterates.
      const stagedIn = (start?: string, end?: string): Iterator<string> => {
        if (!sorted) {
          stagedKeys.sort(compareKeys);
          sorted = true;
        }
        const lo = start === undefined ? 0 : lowerBound(stagedKeys, start);
        const hi = end === undefined ? stagedKeys.length : lowerBound(stagedKeys, end);
        return stagedKeys.slice(lo, Math.max(lo, hi))[Symbol.iterator]();
      };
      const committed = (start?: string, end?: string): Iterator<[string, Uint8Array]> => {
        const opts: { start?: string; end?: string } = {};
        if (start !== undefined) opts.start = start;
        if (end !== undefined) opts.end = end;
        // No limit here: staged deletes may hide some of what LMDB returns. Lazy, so only what is consumed is read.
        return this.overlay.over(
          (function* (db) {
            for (const { key, value } of db.getRange(opts)) yield [key, plain(value)] as [string, Uint8Array];
          })(this.dataDb),
          start,
          end,
        );
      };
      const result = fn({
        get: (k) => {
          const s = staged.get(k);
          if (s !== undefined) return s ?? undefined;
          return this.get(k);
        },
        put: (k, v) => stage(k, plain(v)),
        del: (k) => stage(k, null),
        range: (start, end, limit) => {
          const max = rangeLimit(limit);
          return { [Symbol.iterator]: () => mergeStaged(committed(start, end), stagedIn(start, end), staged, max) };
        },
      });
      // Queued, not awaited: the writes are visible through the unsettled overlay until LMDB
      // has committed them (see the file comment), so the next batch's fn need not wait.
      this.overlay.queue(staged, index);
      for (const k of staged.keys()) this.cache.delete(k);
      this.applied = index;
      this.batches++;
      return result;
    });
  }

  /** Resolve once every batch committed so far is on disk. */
  async flush(): Promise<void> {
    await this.writeTail;
    await this.settle();
    await this.dataDb.flushed;
  }

  /**
   * A consistent view of everything as of the last committed batch, after making it durable
   * (see the file comment). The caller must close() it.
   */
  readSnapshot(): Promise<StateReadSnapshot> {
    // Inside the write queue: no batch is in flight, so what the read transaction sees is
    // exactly what `flushed` covered.
    return this.enqueueSettled(async () => {
      await this.dataDb.flushed;
      return this.openReadView();
    });
  }

  private openReadView(): StateReadSnapshot {
    const txn: Transaction = this.env.useReadTransaction();
    let done = false;
    const applied = readApplied(this.metaDb, txn);
    const active = readIndexRecord(this.metaDb, KEY_ACTIVE, txn) === 1 ? 1 : 0;
    const dataDb = this.slots[active];
    return {
      applied,
      *[Symbol.iterator]() {
        assert(!done, 'state snapshot used after close()');
        for (const { key, value } of dataDb.getRange({ transaction: txn })) yield [key, plain(value)] as [string, Uint8Array];
      },
      close() {
        if (done) return;
        done = true;
        txn.done();
      },
    };
  }

  /**
   * Replace the whole content with `pairs` and set the applied index to `index`, in one
   * transaction, durable when the promise resolves (InstallSnapshot).
   */
  replaceAll(pairs: Iterable<[string, Uint8Array]>, index: number): Promise<void> {
    return this.enqueueSettled(async () => {
      const next = new Map<string, Uint8Array>();
      for (const [k, v] of pairs) {
        checkKey(k);
        next.set(k, v);
      }
      await this.dataDb.batch(() => {
        for (const key of this.dataDb.getKeys()) if (!next.has(key)) this.dataDb.remove(key);
        for (const [k, v] of next) this.dataDb.put(k, v);
        this.metaDb.put(KEY_APPLIED, pack(index));
      });
      // Reads while the batch was under way may have cached values it replaced.
      this.cache.clear();
      this.applied = index;
      await this.dataDb.flushed;
    });
  }

  /** Index of a finished, not yet installed staged image, or 0. */
  stagedIndex(): number {
    return this.staged;
  }

  /** Start receiving an image into the inactive slot; supersedes any earlier writer. */
  beginStaging(): StagingWriter {
    const gen = ++this.stagingGen;
    const current = (): void => {
      if (gen !== this.stagingGen) throw new CairnError('Unavailable', 'staging superseded by a newer snapshot transfer');
    };
    const cleared = this.enqueueSettled(async () => {
      current();
      await this.metaDb.put(KEY_STAGED, pack(0));
      this.staged = 0;
      await this.inactiveDb.clearAsync();
    });
    return {
      put: (pairs) =>
        cleared.then(() =>
          this.enqueueSettled(async () => {
            current();
            const list: Array<[string, Uint8Array]> = [];
            for (const [k, v] of pairs) {
              checkKey(k);
              list.push([k, v]);
            }
            const db = this.inactiveDb;
            await db.batch(() => {
              for (const [k, v] of list) db.put(k, v);
            });
          }),
        ),
      finish: (index) =>
        cleared.then(() =>
          this.enqueueSettled(async () => {
            current();
            assert(Number.isSafeInteger(index) && index > 0, `staged image index ${index}`);
            await this.metaDb.put(KEY_STAGED, pack(index));
            await this.metaDb.flushed;
            this.staged = index;
          }),
        ),
      abort: () =>
        cleared.then(
          () =>
            this.enqueueSettled(async () => {
              if (gen !== this.stagingGen) return;
              this.stagingGen++;
              await this.metaDb.put(KEY_STAGED, pack(0));
              this.staged = 0;
              await this.inactiveDb.clearAsync();
            }),
          () => undefined,
        ),
    };
  }

  /** Make the image staged at `index` the live state, atomically and durably. */
  installStaged(index: number): Promise<void> {
    return this.enqueueSettled(async () => {
      if (this.staged !== index) throw new CairnError('Internal', `no staged image at ${index} (staged: ${this.staged})`);
      const next = this.active === 0 ? 1 : 0;
      await this.metaDb.batch(() => {
        this.metaDb.put(KEY_ACTIVE, pack(next));
        this.metaDb.put(KEY_APPLIED, pack(index));
        this.metaDb.put(KEY_STAGED, pack(0));
      });
      await this.metaDb.flushed;
      this.active = next;
      this.cache.clear();
      this.applied = index;
      this.staged = 0;
      this.stagingGen++;
      // The old state is garbage now; a crash before this clear is harmless (the next staging clears it).
      await this.inactiveDb.clearAsync();
    });
  }

  /** A durable, consistent image (msgpack [applied, [[key, value], ...]] in key order). */
  async exportImage(): Promise<Uint8Array> {
    const snap = await this.readSnapshot();
    try {
      return pack([snap.applied, [...snap]]);
    } finally {
      snap.close();
    }
  }

  /** Replace everything with an image from exportImage() (or MemoryKvStore) taken at `index`. */
  importImage(image: Uint8Array, index: number): Promise<void> {
    let v: unknown;
    try {
      v = unpack(image);
    } catch {
      return Promise.reject(new CairnError('Corrupt', 'state image: not msgpack'));
    }
    if (!Array.isArray(v) || !Array.isArray(v[1])) return Promise.reject(new CairnError('Corrupt', 'state image: bad shape'));
    const pairs: Array<[string, Uint8Array]> = [];
    for (const p of v[1] as unknown[]) {
      if (!Array.isArray(p) || typeof p[0] !== 'string' || !(p[1] instanceof Uint8Array)) {
        return Promise.reject(new CairnError('Corrupt', 'state image: bad pair'));
      }
      pairs.push([p[0], p[1]]);
    }
    return this.replaceAll(pairs, index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writeTail.catch(() => undefined);
    await this.overlay.allCommitted();
    await this.env.close();
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new CairnError('Unavailable', 'state store is closed'));
    const run = this.writeTail.then(op, op);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  /** Like enqueue, but op runs only once every queued batch has committed (LMDB holds the whole state). */
  private enqueueSettled<T>(op: () => Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      await this.settle();
      return op();
    });
  }

  private async settle(): Promise<void> {
    await this.overlay.allCommitted();
    if (this.overlay.error) throw this.overlay.error;
  }

  private checkOpen(): void {
    if (this.closed) throw new CairnError('Unavailable', 'state store is closed');
  }
}

function readApplied(db: Database<Uint8Array, string>, txn: Transaction | undefined): number {
  return readIndexRecord(db, KEY_APPLIED, txn);
}

function readIndexRecord(db: Database<Uint8Array, string>, key: string, txn: Transaction | undefined): number {
  const bytes = txn ? db.get(key, { transaction: txn }) : db.get(key);
  if (!bytes) return 0;
  const v = unpack(bytes);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CairnError('Corrupt', `state store: malformed ${key} record`);
  return v;
}

/** Keys are validated before anything is written, so a bad key never half-applies a batch. */
function checkKey(k: string): void {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: short keys need no byte count.
  if (k.length === 0 || (k.length * 3 > STATE_KEY_BYTES_MAX && Buffer.byteLength(k) > STATE_KEY_BYTES_MAX)) {
    throw new CairnError('InvalidArgument', `state key must be 1..${STATE_KEY_BYTES_MAX} bytes`);
  }
}

/** lmdb returns fresh Buffers; hand out plain Uint8Array views of them. */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Durable Raft log storage on LMDB: the production RaftLogStore (see src/raft/types.ts for the
 * contract; test/unit/storage/raft-storage-contract.ts checks it against the in-memory twin).
 *
 * Layout: one LMDB environment (a directory) with three named databases:
 *   - `entries`:  key = entry index (lmdb ordered-binary number, so ranges iterate in index
 *                 order), value = ENTRY_HEADER_BYTES of header + the entry's data, raw bytes.
 *   - `meta`:     msgpack values under fixed keys: hardState, the latest snapshot's meta, and
 *                 the log start (index/term of the last compacted entry).
 *   - `snapshot`: the latest snapshot's state-machine image, raw bytes, under one key.
 *
 * Durability. The environment is opened with overlappingSync OFF and noSync OFF, i.e. LMDB's
 * classic commit: write the dirty pages, fdatasync, write the meta page, fdatasync. Writes go
 * through lmdb-js's write thread as one `batch()` (one LMDB transaction) and the promise
 * resolves only after that commit returned, so when `save()` resolves the write is on stable
 * storage: it survives kill -9 (the data is in the file, not in our process) AND an OS crash or
 * power loss (it was fsynced, in an order that never exposes a meta page pointing at unwritten
 * pages). Rejected alternatives: `noSync`/`noMetaSync` (an OS crash can lose acknowledged writes
 * or corrupt the file); `overlappingSync` (commit resolves before the flush, durability needs a
 * second wait on `flushed` and relies on boot-id detection at open; measured no faster here);
 * `transactionSync` (blocks the event loop for the fsyncs). We use `batch()` rather than an async
 * `transaction(cb)`: writers are serialized here, so every key to write or delete is known before
 * the batch starts, and a failed plan (assertion) throws before anything is queued.
 * One exception, as etcd skips its fsync: a save with sync=false of a hard state alone whose term
 * and vote are unchanged (the core asks for that when only the commit index moved) writes
 * nothing. The new hard state is held and goes to disk inside the next transaction (or at
 * close), and save() resolves at once. Losing it to a crash is harmless: the commit index is
 * volatile in Raft, and the core restarts from max(stored commit, applied). Every entry, term and
 * vote is still fsynced before save() resolves. (Measured in bench/RESULTS.md, 2026-12-05: about
 * 45 % of the log's transactions carried nothing but a commit index.)
 *
 * Reads are synchronous LMDB reads through one pinned read transaction, re-pinned right after
 * each of our commits resolves, together with the cached firstIndex/lastIndex/hardState/snapshot
 * meta. So every read sees exactly the state the caches describe: never a commit that landed on
 * the write thread but whose caches are not updated yet (a truncated suffix would otherwise look
 * like a hole in the log). Writes are serialized (one at a time, in call order) so the caches a
 * write is planned against are exact.
 *
 * Each entry value carries a CRC-32 of its header and data, verified on every read
 * (CairnError 'Corrupt' on mismatch): LMDB itself does not checksum pages.
 *
 * The newest entries (up to TAIL_ENTRIES_MAX / TAIL_BYTES_MAX) are also kept in memory, exactly as
 * committed: the core reads back what it just wrote (committed entries to apply, terms to match,
 * appends to send) and is answered from there without an LMDB read and checksum per entry. The
 * tail changes with the other caches, only when a write's commit resolves.
 */
import { crc32 } from 'node:zlib';
import type { Database, RootDatabase, Transaction } from 'lmdb';
import { LMDB_MAP_SIZE_BYTES_DEFAULT } from '../config/defaults.js';
import { pack, unpack } from '../proto/msgpack.js';
import {
  RaftCompactedError,
  RaftUnavailableError,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type RaftLogStore,
  type Snapshot,
  type SnapshotMeta,
} from '../raft/types.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import { lmdbOpen } from './lmdb-open.js';
import { makePrivateDirSync, privateLmdbFiles } from './private-files.js';

export interface LmdbRaftStorageOptions {
  /** Virtual address space reserved for the map; the file grows as needed up to this. @default LMDB_MAP_SIZE_BYTES_DEFAULT (64 GiB) */
  mapSizeBytes?: number;
}

/** Entry value layout: [format u8][type u8][term f64 BE][crc32 u32 BE of bytes 0..9 + data][data]. */
const ENTRY_FORMAT = 1;
const ENTRY_HEADER_BYTES = 14;

const KEY_HARD_STATE = 'hardState';
const KEY_SNAP_META = 'snapMeta';
const KEY_LOG_START = 'logStart';
const KEY_SNAP_DATA = 'data';

/** Index and term of the last entry discarded from the log (0/0 for a fresh log). */
interface LogStart {
  index: number;
  term: number;
}

/** Bounds of the in-memory tail of the log (see the file comment). */
const TAIL_ENTRIES_MAX = 4096;
const TAIL_BYTES_MAX = 16 << 20;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };
const EMPTY_SNAP_META: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };

export class LmdbRaftStorage implements RaftLogStore {
  private readonly env: RootDatabase;
  private readonly entriesDb: Database<Uint8Array, number>;
  private readonly metaDb: Database<Uint8Array, string>;
  private readonly snapDb: Database<Uint8Array, string>;

  // Caches of committed state; changed only when a write's commit resolves.
  private hs: HardState;
  /** `hs` holds a commit index not yet written (see the file comment); the next commit writes it. */
  private hsHeld = false;
  private snapMeta: SnapshotMeta;
  private bootstrapped: boolean;
  private logStart: LogStart;
  private last: number;
  /** The last tail.length entries of the log, ending at `last`, as committed (see the file comment). */
  private tail: Entry[] = [];
  private tailBytes = 0;
  /** The read snapshot every read uses; matches the caches above. */
  private readTxn: Transaction;

  /** Tail of the write queue: every write starts after the previous one settled. */
  private writeTail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(env: RootDatabase) {
    this.env = env;
    this.entriesDb = env.openDB<Uint8Array, number>('entries', { encoding: 'binary' });
    this.metaDb = env.openDB<Uint8Array, string>('meta', { encoding: 'binary' });
    this.snapDb = env.openDB<Uint8Array, string>('snapshot', { encoding: 'binary' });
    // Pinned after the databases exist (a read transaction only sees dbis opened before it).
    this.readTxn = env.useReadTransaction();

    const txn = { transaction: this.readTxn };
    const hsBytes = this.metaDb.get(KEY_HARD_STATE, txn);
    this.hs = hsBytes ? decodeHardState(hsBytes) : { ...EMPTY_HARD_STATE };
    const snapBytes = this.metaDb.get(KEY_SNAP_META, txn);
    this.bootstrapped = snapBytes !== undefined;
    this.snapMeta = snapBytes ? decodeSnapMeta(snapBytes) : cloneSnapMeta(EMPTY_SNAP_META);
    const startBytes = this.metaDb.get(KEY_LOG_START, txn);
    this.logStart = startBytes ? decodeLogStart(startBytes) : { index: this.snapMeta.index, term: this.snapMeta.term };
    // The last key in `entries`, or the log start when the log is empty.
    let last = this.logStart.index;
    for (const key of this.entriesDb.getKeys({ reverse: true, limit: 1, transaction: this.readTxn })) last = key;
    this.last = last;
    assert(this.last >= this.logStart.index, `log end ${this.last} below log start ${this.logStart.index}`);
  }

  /** Open (creating if needed) the log storage in directory `dir`. */
  static async open(dir: string, options: LmdbRaftStorageOptions = {}): Promise<LmdbRaftStorage> {
    makePrivateDirSync(dir);
    const env = lmdbOpen({
      path: dir,
      maxDbs: 4,
      mapSize: options.mapSizeBytes ?? LMDB_MAP_SIZE_BYTES_DEFAULT,
      // Durability choice explained in the file comment: fsync inside every commit.
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
    });
    privateLmdbFiles(dir);
    return new LmdbRaftStorage(env);
  }

  // -- RaftStorage (synchronous reads) ---------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hs }, confState: cloneConf(this.snapMeta.conf) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.checkOpen();
    if (lo <= this.logStart.index) throw new RaftCompactedError(`entries(${lo}, ${hi}): compacted through ${this.logStart.index}`);
    if (hi > this.last + 1) throw new RaftUnavailableError(`entries(${lo}, ${hi}): last index is ${this.last}`);
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    const out: Entry[] = [];
    let bytes = 0;
    const tailStart = this.last - this.tail.length + 1;
    if (this.tail.length > 0 && lo >= tailStart) {
      for (let i = lo; i < hi; i++) {
        const e = this.tail[i - tailStart]!;
        bytes += e.data.byteLength;
        if (out.length > 0 && bytes > maxBytes) return out;
        out.push({ index: e.index, term: e.term, type: e.type, data: e.data });
      }
      return out;
    }
    let next = lo;
    // Lazy cursor: stops reading as soon as the byte budget is spent (etcd's limitSize: the
    // entry that would exceed maxBytes is left out, unless it is the first).
    for (const { key, value } of this.entriesDb.getRange({ start: lo, end: hi, transaction: this.readTxn })) {
      if (key !== next) throw new CairnError('Corrupt', `raft log: expected entry ${next}, found ${key}`);
      const e = decodeEntry(key, value);
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) return out;
      out.push(e);
      next++;
    }
    if (next !== hi) throw new CairnError('Corrupt', `raft log: entry ${next} missing (last index ${this.last})`);
    return out;
  }

  term(index: number): number {
    this.checkOpen();
    if (index === this.logStart.index) return this.logStart.term;
    if (index < this.logStart.index) throw new RaftCompactedError(`term(${index}): compacted through ${this.logStart.index}`);
    if (index > this.last) throw new RaftUnavailableError(`term(${index}): last index is ${this.last}`);
    const fromTail = index - (this.last - this.tail.length + 1);
    if (fromTail >= 0) return this.tail[fromTail]!.term;
    const value = this.entriesDb.get(index, { transaction: this.readTxn });
    if (!value) throw new CairnError('Corrupt', `raft log: entry ${index} missing`);
    return decodeEntry(index, value).term;
  }

  firstIndex(): number {
    return this.logStart.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  snapshot(): Snapshot {
    this.checkOpen();
    const data = this.snapDb.get(KEY_SNAP_DATA, { transaction: this.readTxn });
    return { meta: cloneSnapMeta(this.snapMeta), data: data ? toPlainBytes(data) : new Uint8Array(0) };
  }

  // -- RaftLogStore (durable writes) -----------------------------------------------------------

  isBootstrapped(): boolean {
    return this.bootstrapped;
  }

  save(hardState: HardState | null, entries: Entry[], sync: boolean): Promise<void> {
    return this.enqueue(async () => {
      const hs = hardState ? { term: hardState.term, vote: hardState.vote, commit: hardState.commit } : null;
      if (!sync && hs && entries.length === 0 && hs.term === this.hs.term && hs.vote === this.hs.vote) {
        // A new commit index alone: held for the next transaction (see the file comment).
        if (hs.commit !== this.hs.commit) {
          this.hs = hs;
          this.hsHeld = true;
        }
        return;
      }
      // Entries at or below the log start are already covered by a snapshot: skip them (etcd).
      let ents = entries;
      if (ents.length > 0 && ents[0]!.index <= this.logStart.index) ents = ents.filter((e) => e.index > this.logStart.index);
      for (let i = 1; i < ents.length; i++) {
        assert(ents[i]!.index === ents[i - 1]!.index + 1, `save: entries not contiguous at ${ents[i - 1]!.index} → ${ents[i]!.index}`);
      }
      const first = ents[0]?.index;
      if (first !== undefined && first > this.last + 1) {
        throw new RaftUnavailableError(`save: entry ${first} would leave a gap after last index ${this.last}`);
      }
      if (!hs && ents.length === 0) return;
      const encoded = ents.map((e) => encodeEntry(e));
      const newLast = first === undefined ? this.last : first + ents.length - 1;
      const oldLast = this.last;
      await this.commit(() => {
        if (hs) this.metaDb.put(KEY_HARD_STATE, encodeHardState(hs));
        // Conflict truncation: drop the stored suffix beyond the new last entry; the rest of the
        // overlapped range is overwritten by the puts below.
        for (let i = newLast + 1; i <= oldLast; i++) this.entriesDb.remove(i);
        ents.forEach((e, i) => this.entriesDb.put(e.index, encoded[i]!));
      });
      if (hs) this.hs = hs;
      if (first !== undefined) this.appendTail(first, ents);
      this.last = newLast;
    });
  }

  applySnapshot(snap: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      const meta = cloneSnapMeta(snap.meta);
      if (meta.index < this.snapMeta.index) {
        throw new RaftCompactedError(`applySnapshot: snapshot at ${meta.index} is older than the stored one at ${this.snapMeta.index}`);
      }
      // Keep the suffix after the snapshot if our log agrees with it at meta.index.
      let keep = false;
      if (meta.index > this.logStart.index && meta.index <= this.last) keep = this.term(meta.index) === meta.term;
      else if (meta.index === this.logStart.index) keep = this.logStart.term === meta.term;
      const newLast = keep ? this.last : meta.index;
      const dropFrom = this.logStart.index + 1;
      const dropTo = keep ? meta.index : this.last;
      const logStart: LogStart = { index: meta.index, term: meta.term };
      // The snapshot's content is committed: never let the stored commit lag behind it, so a
      // restart between this write and the next hardState save still has commit >= firstIndex-1.
      const hs: HardState | null = this.hs.commit < meta.index ? { ...this.hs, commit: meta.index } : null;
      const data = snap.data;
      await this.commit(() => {
        for (let i = dropFrom; i <= dropTo; i++) this.entriesDb.remove(i);
        this.metaDb.put(KEY_SNAP_META, encodeSnapMeta(meta));
        this.metaDb.put(KEY_LOG_START, encodeLogStart(logStart));
        this.snapDb.put(KEY_SNAP_DATA, data);
        if (hs) this.metaDb.put(KEY_HARD_STATE, encodeHardState(hs));
      });
      this.snapMeta = meta;
      this.bootstrapped = true;
      this.logStart = logStart;
      if (keep) this.dropTailThrough(meta.index);
      else this.clearTail();
      this.last = newLast;
      if (hs) this.hs = hs;
    });
  }

  createSnapshot(snap: Snapshot, compactIndex: number): Promise<void> {
    return this.enqueue(async () => {
      const meta = cloneSnapMeta(snap.meta);
      if (meta.index < this.snapMeta.index) {
        throw new RaftCompactedError(`createSnapshot: index ${meta.index} is older than the stored snapshot at ${this.snapMeta.index}`);
      }
      if (meta.index > this.last) throw new RaftUnavailableError(`createSnapshot: index ${meta.index} beyond last index ${this.last}`);
      assert(compactIndex <= meta.index, `createSnapshot: compactIndex ${compactIndex} > snapshot index ${meta.index}`);
      assert(this.term(meta.index) === meta.term, `createSnapshot: term ${meta.term} does not match the log at ${meta.index}`);
      // Compacting at or below the current log start is a no-op (already discarded).
      const logStart: LogStart | null = compactIndex > this.logStart.index ? { index: compactIndex, term: this.term(compactIndex) } : null;
      const dropFrom = this.logStart.index + 1;
      const data = snap.data;
      await this.commit(() => {
        if (logStart) {
          for (let i = dropFrom; i <= logStart.index; i++) this.entriesDb.remove(i);
          this.metaDb.put(KEY_LOG_START, encodeLogStart(logStart));
        }
        this.metaDb.put(KEY_SNAP_META, encodeSnapMeta(meta));
        this.snapDb.put(KEY_SNAP_DATA, data);
      });
      this.snapMeta = meta;
      this.bootstrapped = true;
      if (logStart) {
        this.logStart = logStart;
        this.dropTailThrough(logStart.index);
      }
    });
  }

  bootstrap(conf: ConfState): Promise<void> {
    return this.enqueue(async () => {
      if (this.bootstrapped) return;
      assert(this.last === 0 && this.logStart.index === 0, 'bootstrap: log is not empty');
      const meta: SnapshotMeta = { index: 0, term: 0, conf: cloneConf(conf) };
      await this.commit(() => {
        this.metaDb.put(KEY_SNAP_META, encodeSnapMeta(meta));
        this.metaDb.put(KEY_LOG_START, encodeLogStart({ index: 0, term: 0 }));
      });
      this.snapMeta = meta;
      this.bootstrapped = true;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.hsHeld) await this.enqueue(() => this.commit(() => undefined)).catch(() => undefined);
    this.closed = true;
    await this.writeTail.catch(() => undefined);
    this.readTxn.done();
    await this.env.close();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Queue `writes` as ONE LMDB transaction and wait for its durable commit; then re-pin the read
   * snapshot (the caller updates the caches right after, in the same synchronous continuation).
   */
  private async commit(writes: () => void): Promise<void> {
    const held = this.hsHeld;
    // A held hard state goes first: a hard state the writes put themselves supersedes it.
    const heldHs = held ? encodeHardState(this.hs) : null;
    await this.entriesDb.batch(() => {
      if (heldHs) this.metaDb.put(KEY_HARD_STATE, heldHs);
      writes();
    });
    if (held) this.hsHeld = false;
    const old = this.readTxn;
    this.readTxn = this.env.useReadTransaction();
    old.done();
  }

  /** `ents` (contiguous, from `first`) were just committed: they replace the tail from `first` on. Call before `last` moves. */
  private appendTail(first: number, ents: Entry[]): void {
    const keep = Math.max(0, first - (this.last - this.tail.length + 1));
    for (let i = keep; i < this.tail.length; i++) this.tailBytes -= this.tail[i]!.data.byteLength;
    if (keep < this.tail.length) this.tail.length = keep;
    for (const e of ents) {
      this.tail.push({ index: e.index, term: e.term, type: e.type, data: e.data });
      this.tailBytes += e.data.byteLength;
    }
    // Trimmed in steps of a quarter of the bound, so a steady stream of appends copies little.
    if (this.tail.length > TAIL_ENTRIES_MAX + (TAIL_ENTRIES_MAX >>> 2) || this.tailBytes > TAIL_BYTES_MAX) {
      let drop = Math.max(0, this.tail.length - TAIL_ENTRIES_MAX);
      for (let i = 0; i < drop; i++) this.tailBytes -= this.tail[i]!.data.byteLength;
      while (drop < this.tail.length && this.tailBytes > TAIL_BYTES_MAX) this.tailBytes -= this.tail[drop++]!.data.byteLength;
      this.tail.splice(0, drop);
    }
  }

  /** Entries at or below `index` left the log. */
  private dropTailThrough(index: number): void {
    const drop = Math.min(this.tail.length, index - (this.last - this.tail.length + 1) + 1);
    if (drop <= 0) return;
    for (let i = 0; i < drop; i++) this.tailBytes -= this.tail[i]!.data.byteLength;
    this.tail.splice(0, drop);
  }

  private clearTail(): void {
    this.tail = [];
    this.tailBytes = 0;
  }

  /** Run `op` after every earlier write settled; a failed write does not block later ones. */
  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new CairnError('Unavailable', 'raft log storage is closed'));
    const run = this.writeTail.then(op, op);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new CairnError('Unavailable', 'raft log storage is closed');
  }
}

// -- encodings ---------------------------------------------------------------------------------

function encodeEntry(e: Entry): Uint8Array {
  assert(Number.isSafeInteger(e.index) && e.index > 0, `entry index ${e.index}`);
  assert(Number.isSafeInteger(e.term) && e.term > 0, `entry term ${e.term}`);
  // Unzeroed (every byte is written below); from malloc's arena for an entry under its mmap threshold.
  const out = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + e.data.byteLength);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint8(0, ENTRY_FORMAT);
  view.setUint8(1, e.type);
  view.setFloat64(2, e.term);
  out.set(e.data, ENTRY_HEADER_BYTES);
  view.setUint32(10, entryCrc(out));
  return out;
}

function decodeEntry(index: number, value: Uint8Array): Entry {
  if (value.byteLength < ENTRY_HEADER_BYTES) throw new CairnError('Corrupt', `raft log: entry ${index} is truncated`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (view.getUint8(0) !== ENTRY_FORMAT) throw new CairnError('Corrupt', `raft log: entry ${index} has unknown format ${view.getUint8(0)}`);
  if (view.getUint32(10) !== entryCrc(value)) throw new CairnError('Corrupt', `raft log: entry ${index} failed its checksum`);
  return {
    index,
    term: view.getFloat64(2),
    type: view.getUint8(1) as EntryType,
    // A plain Uint8Array view of the freshly copied value (lmdb copies range values).
    data: new Uint8Array(value.buffer, value.byteOffset + ENTRY_HEADER_BYTES, value.byteLength - ENTRY_HEADER_BYTES),
  };
}

/** CRC-32 over the header without its crc field, then the data. */
function entryCrc(value: Uint8Array): number {
  return crc32(value.subarray(ENTRY_HEADER_BYTES), crc32(value.subarray(0, 10)));
}

function encodeHardState(hs: HardState): Uint8Array {
  return pack([hs.term, hs.vote, hs.commit]);
}

function decodeHardState(bytes: Uint8Array): HardState {
  const v = unpack(bytes) as unknown;
  if (!Array.isArray(v) || typeof v[0] !== 'number' || (v[1] !== null && typeof v[1] !== 'string') || typeof v[2] !== 'number') {
    throw new CairnError('Corrupt', 'raft log: malformed hard state');
  }
  return { term: v[0], vote: v[1] as string | null, commit: v[2] };
}

function encodeSnapMeta(m: SnapshotMeta): Uint8Array {
  return pack([m.index, m.term, m.conf.voters, m.conf.learners]);
}

function decodeSnapMeta(bytes: Uint8Array): SnapshotMeta {
  const v = unpack(bytes) as unknown;
  if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'number' || !isStringArray(v[2]) || !isStringArray(v[3])) {
    throw new CairnError('Corrupt', 'raft log: malformed snapshot meta');
  }
  return { index: v[0], term: v[1], conf: { voters: v[2], learners: v[3] } };
}

function encodeLogStart(s: LogStart): Uint8Array {
  return pack([s.index, s.term]);
}

function decodeLogStart(bytes: Uint8Array): LogStart {
  const v = unpack(bytes) as unknown;
  if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'number') throw new CairnError('Corrupt', 'raft log: malformed log start');
  return { index: v[0], term: v[1] };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

function cloneSnapMeta(m: SnapshotMeta): SnapshotMeta {
  return { index: m.index, term: m.term, conf: cloneConf(m.conf) };
}

function toPlainBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

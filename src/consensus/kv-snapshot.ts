/**
 * Snapshot images of key-value state stores, in the pieces snapshot-transfer.ts streams: each
 * piece is a msgpack array of [key, value] pairs in key order, about `bytesMax` long. The leader
 * reads them from a consistent read view; the follower writes them into the store's staging area.
 * Any state machine kept in a key-value store (the KV service, the namespace) uses these.
 */
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import type { SnapshotReader, SnapshotWriter } from './snapshot-transfer.js';

/** A consistent read view of every pair at `applied` (storage/LmdbStateStore.readSnapshot()). */
export interface PairReadView extends Iterable<[string, Uint8Array]> {
  readonly applied: number;
  close(): void;
}

/** Staging for a received image (storage/LmdbStateStore.beginStaging()). */
export interface PairStagingWriter {
  put(pairs: Iterable<[string, Uint8Array]>): Promise<void>;
  finish(index: number): Promise<void>;
  abort(): Promise<void>;
}

/** What a store must offer for its state machine to send and receive snapshots. */
export interface SnapshotStore {
  flush(): Promise<void>;
  readSnapshot(): Promise<PairReadView>;
  beginStaging(): PairStagingWriter;
  stagedIndex(): number;
  installStaged(index: number): Promise<void>;
}

/** Per-pair overhead allowance when sizing a piece (msgpack headers). */
const PAIR_OVERHEAD_BYTES = 16;

export function pairSnapshotReader(view: PairReadView): SnapshotReader {
  const it = view[Symbol.iterator]();
  let done = false;
  let closed = false;
  return {
    index: view.applied,
    async next(bytesMax) {
      if (done) return null;
      const pairs: Array<[string, Uint8Array]> = [];
      let bytes = 0;
      while (bytes < bytesMax) {
        const r = it.next();
        if (r.done) {
          done = true;
          break;
        }
        pairs.push(r.value);
        bytes += r.value[0].length * 3 + r.value[1].byteLength + PAIR_OVERHEAD_BYTES;
      }
      if (pairs.length === 0) return null;
      return pack(pairs);
    },
    close() {
      if (closed) return;
      closed = true;
      view.close();
    },
  };
}

export function pairSnapshotWriter(w: PairStagingWriter): SnapshotWriter {
  return {
    write(piece) {
      let v: unknown;
      try {
        v = unpack(piece);
      } catch {
        return Promise.reject(new CairnError('ProtocolError', 'snapshot piece: not msgpack'));
      }
      if (!Array.isArray(v)) return Promise.reject(new CairnError('ProtocolError', 'snapshot piece: not an array'));
      const pairs: Array<[string, Uint8Array]> = [];
      for (const p of v as unknown[]) {
        if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || !(p[1] instanceof Uint8Array))
          return Promise.reject(new CairnError('ProtocolError', 'snapshot piece: bad pair'));
        pairs.push([p[0], p[1]]);
      }
      return w.put(pairs);
    },
    finish: (index) => w.finish(index),
    abort: () => w.abort(),
  };
}

/**
 * The simulation's second state machine: the REAL metadata machine (src/meta applyMetaCommand,
 * with its exactly-once sessions) over an ordered in-memory store, plus linearizable stat/list
 * reads (src/meta namespace.ts stat/list), a client workload over a small path space, and the
 * checker of a namespace history against the committed log.
 *
 * Its store, its applied index and the membership as of that index change together (one image
 * restores all), as SimKvMachine's do.
 */
import { decodeMetaCommand, encodeMetaCommand, type MetaCommand } from '../../src/meta/meta-command.js';
import { applyMetaCommand } from '../../src/meta/namespace-machine.js';
import type { MetaTxn } from '../../src/meta/namespace-keys.js';
import { list, stat } from '../../src/meta/namespace.js';
import { parsePath } from '../../src/proto/path.js';
import type { SeededRng } from '../../src/env/rng.js';
import { EntryType, type ConfState, type Entry } from '../../src/raft/types.js';
import { applyConfEntry } from './sim-kv-machine.js';

/** A namespace write as a client sends it; the leader adds the session and its clock. */
export type NsWrite =
  | { op: 'mkdir'; path: string; parents: boolean }
  | { op: 'commitFile'; path: string; file: { size: number; etag: string; chunks: Array<{ id: string; size: number; crc: number }> }; overwrite: boolean; createParents: boolean }
  | { op: 'delete'; path: string; recursive: boolean }
  | { op: 'rename'; from: string; to: string };

export type NsRead = { op: 'stat'; path: string } | { op: 'list'; path: string };

export type NsOp = NsWrite | NsRead;

export const isNsRead = (op: NsOp): op is NsRead => op.op === 'stat' || op.op === 'list';

/** The command a leader proposes for a client's write (ackedBelow = seq: one request at a time). */
export function nsCommand(w: NsWrite, client: string, seq: number, nowMs: number): Uint8Array {
  const cmd = { ...w, session: { client, seq, ackedBelow: seq }, nowMs } as MetaCommand;
  return encodeMetaCommand(cmd);
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Image {
  applied: number;
  conf: ConfState;
  pairs: Array<[string, string]>;
}

export class SimNsMachine {
  /**
   * A deliberately broken machine for the checker's own test: every application runs under a
   * fresh session, so a retried command applies again instead of returning its first outcome.
   */
  constructor(private readonly ignoreSessions = false) {}

  applied = 0;
  conf: ConfState = { voters: [], learners: [] };
  /** The store. Keys are ASCII here (paths of [a-z0-9/], hex ids), so string order is LMDB's byte order. */
  private data = new Map<string, Uint8Array>();

  private sortedKeys(start?: string, end?: string, over?: Map<string, Uint8Array | null>): string[] {
    const keys = new Set(this.data.keys());
    if (over) for (const k of over.keys()) keys.add(k);
    return [...keys].filter((k) => (start === undefined || k >= start) && (end === undefined || k < end)).sort();
  }

  private view(over?: Map<string, Uint8Array | null>): MetaTxn {
    const get = (k: string): Uint8Array | undefined => {
      if (over?.has(k)) return over.get(k) ?? undefined;
      return this.data.get(k);
    };
    return {
      get,
      put: (k, v) => {
        if (!over) throw new Error('read-only view');
        over.set(k, Uint8Array.from(v));
      },
      del: (k) => {
        if (!over) throw new Error('read-only view');
        over.set(k, null);
      },
      range: (start, end, limit) => {
        const out: Array<[string, Uint8Array]> = [];
        for (const k of this.sortedKeys(start, end, over)) {
          if (limit !== undefined && out.length >= limit) break;
          const v = get(k);
          if (v !== undefined) out.push([k, v]);
        }
        return out;
      },
    };
  }

  apply(e: Entry): unknown {
    if (e.index !== this.applied + 1) throw new Error(`apply gap: applied ${this.applied}, next ${e.index}`);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.conf = applyConfEntry(this.conf, e.data);
      return undefined;
    }
    if (e.data.byteLength === 0) return undefined;
    // One atomic batch per entry: writes land only if the command returns.
    const staged = new Map<string, Uint8Array | null>();
    let cmd = decodeMetaCommand(e.data);
    if (this.ignoreSessions && 'session' in cmd) cmd = { ...cmd, session: { client: `${cmd.session.client}.${e.index}`, seq: 1, ackedBelow: 0 } };
    const result = applyMetaCommand(this.view(staged), cmd);
    for (const [k, v] of staged) {
      if (v === null) this.data.delete(k);
      else this.data.set(k, v);
    }
    return result;
  }

  read(q: NsRead): unknown {
    const v = this.view();
    return q.op === 'stat' ? stat(v, parsePath(q.path)) : list(v, parsePath(q.path), { limit: 100 });
  }

  snapshot(): Uint8Array {
    const img: Image = { applied: this.applied, conf: this.conf, pairs: [...this.data].map(([k, v]) => [k, hexOf(v)]) };
    return new TextEncoder().encode(JSON.stringify(img));
  }

  restore(bytes: Uint8Array, index: number): void {
    const img = JSON.parse(new TextDecoder().decode(bytes)) as Image;
    if (img.applied !== index) throw new Error(`snapshot image is at ${img.applied}, not ${index}`);
    this.applied = img.applied;
    this.conf = img.conf;
    this.data = new Map(img.pairs.map(([k, v]) => [k, Uint8Array.from(Buffer.from(v, 'hex'))]));
  }

  /** Every pair of the store, sorted: replicas at the same index must agree byte for byte. */
  digest(): string {
    return JSON.stringify(this.sortedKeys().map((k) => [k, hexOf(this.data.get(k)!)]));
  }

  clone(): SimNsMachine {
    const c = new SimNsMachine(this.ignoreSessions);
    c.applied = this.applied;
    c.conf = { voters: [...this.conf.voters], learners: [...this.conf.learners] };
    c.data = new Map(this.data);
    return c;
  }
}

// ---------------------------------------------------------------------------------------------
// Workload

const DIRS = ['/a', '/b', '/a/x', '/b/y', '/a/x/z'];
const NAMES = ['f', 'g'];

/** A random namespace operation over a small path space, so operations collide often. */
export function randomNsOp(rng: SeededRng, client: string, opId: number): NsOp {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const anyPath = (): string => (rng.int(2) === 0 ? pick(DIRS) : `${pick(DIRS)}/${pick(NAMES)}`);
  const r = rng.int(100);
  if (r < 20) return { op: 'stat', path: anyPath() };
  if (r < 35) return { op: 'list', path: rng.int(4) === 0 ? '/' : pick(DIRS) };
  if (r < 50) return { op: 'mkdir', path: pick(DIRS), parents: rng.int(2) === 0 };
  if (r < 72) {
    const size = 1 + rng.int(1000);
    return {
      op: 'commitFile',
      path: `${pick(DIRS)}/${pick(NAMES)}`,
      file: { size, etag: `e${client}.${opId}`, chunks: [{ id: hexId(client, opId), size, crc: rng.int(2 ** 32) }] },
      overwrite: rng.int(3) > 0,
      createParents: rng.int(2) === 0,
    };
  }
  if (r < 85) return { op: 'delete', path: anyPath(), recursive: rng.int(2) === 0 };
  // Renames of files and whole directories, sometimes into themselves.
  const from = anyPath();
  const to = rng.int(5) === 0 ? `${from}/in` : anyPath().replace(/\/[fg]$/, `/${pick(NAMES)}2`);
  return { op: 'rename', from, to };
}

/** 32 lowercase hex digits, unique per (client, opId): a chunk id is never committed twice. */
function hexId(client: string, opId: number): string {
  const c = Number(client.replace(/\D/g, '')) || 0;
  return c.toString(16).padStart(8, '0') + opId.toString(16).padStart(24, '0');
}

// ---------------------------------------------------------------------------------------------
// Checker

export interface NsHistoryOp {
  client: string;
  opId: number;
  op: NsOp;
  /** Writes: the session seq; reads: 0. */
  seq: number;
  callTime: number;
  /** Infinity when the client gave up (outcome unknown). */
  returnTime: number;
  /** What the client was answered (undefined when unknown). */
  result?: unknown;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Check a namespace history against the committed log (entries 1..n in order, as applied):
 *  - the log replayed on a fresh machine reproduces every replica's outcome: each acknowledged
 *    write's answer equals the outcome of its FIRST appearance in the log (exactly once: a retry
 *    answered by applying again would differ), and every acknowledged write is in the log;
 *  - real-time order: a write acknowledged before another write was invoked comes first in the log;
 *  - linearizable reads: each read's answer equals the replayed state at some log position no
 *    earlier than every write acknowledged before the read was invoked and no later than any write
 *    invoked after the read returned, and reads ordered in real time see non-decreasing positions.
 * Returns null or the first violation.
 */
export function checkNsHistory(history: NsHistoryOp[], log: Entry[]): string | null {
  for (let i = 0; i < log.length; i++) if (log[i]!.index !== i + 1) return `committed log has a gap at ${i + 1}`;
  // Replay: where each (client, seq) first took effect and what it returned.
  const first = new Map<string, { index: number; result: unknown }>();
  const m = new SimNsMachine();
  const at: SimNsMachine[] = [m.clone()]; // the state after position p (p = 0..n)
  const readers = history.filter((h) => isNsRead(h.op) && h.returnTime !== Infinity);
  const writes = history.filter((h) => !isNsRead(h.op));
  for (const e of log) {
    const result = m.apply(e);
    if (e.type !== EntryType.ConfChange && e.data.byteLength > 0) {
      const cmd = decodeMetaCommand(e.data);
      if ('session' in cmd) {
        const key = `${cmd.session.client}/${cmd.session.seq}`;
        if (!first.has(key)) first.set(key, { index: e.index, result });
      }
    }
    at.push(m.clone());
  }
  const n = log.length;
  const pos = new Map<NsHistoryOp, number>();
  for (const w of writes) {
    const f = first.get(`${w.client}/${w.seq}`);
    if (w.returnTime === Infinity) {
      if (f) pos.set(w, f.index);
      continue;
    }
    if (!f) return `durability: ${w.client} ${w.op.op}#${w.opId} (seq ${w.seq}) was acknowledged but is not in the committed log`;
    if (!same(f.result, w.result)) {
      return `exactly-once: ${w.client} ${w.op.op}#${w.opId} was answered ${JSON.stringify(w.result)} but first took effect at ${f.index} with ${JSON.stringify(f.result)}`;
    }
    pos.set(w, f.index);
  }
  // Real-time order of writes.
  const acked = writes.filter((w) => w.returnTime !== Infinity).sort((a, b) => a.returnTime - b.returnTime);
  for (const b of writes) {
    const pb = pos.get(b);
    if (pb === undefined) continue;
    for (const a of acked) {
      if (a.returnTime >= b.callTime) break;
      if (pos.get(a)! >= pb) return `real-time order: ${a.client} ${a.op.op}#${a.opId} returned before ${b.client} ${b.op.op}#${b.opId} was invoked, yet is at ${pos.get(a)} >= ${pb}`;
    }
  }
  // Reads: the earliest position allowed by real time whose state gives the same answer.
  readers.sort((a, b) => a.callTime - b.callTime);
  const chosen = new Map<NsHistoryOp, number>();
  for (const r of readers) {
    let lo = 0;
    let hi = n;
    for (const w of writes) {
      const p = pos.get(w);
      if (p === undefined) continue;
      if (w.returnTime < r.callTime) lo = Math.max(lo, p);
      if (w.callTime > r.returnTime) hi = Math.min(hi, p - 1);
    }
    for (const [r0, p0] of chosen) if (r0.returnTime < r.callTime) lo = Math.max(lo, p0);
    let found = -1;
    for (let p = lo; p <= hi && found < 0; p++) {
      if (same(at[p]!.read(r.op as NsRead), r.result)) found = p;
    }
    if (found < 0) {
      return `linearizable reads: ${r.client} ${r.op.op}(${(r.op as NsRead).path})#${r.opId} [${r.callTime}, ${r.returnTime}] answered ${JSON.stringify(r.result)}, which no log position in [${lo}, ${hi}] gives`;
    }
    chosen.set(r, found);
  }
  return null;
}

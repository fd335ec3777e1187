/**
 * The simulation's replicated state machine: string registers with put / append / cas, and the
 * same exactly-once session rule as test/support/kv-machine.ts — per client, the highest seq applied
 * and its result; a retry of that seq returns the remembered result, an older seq is refused
 * (StaleRequest) and changes nothing.
 *
 * Its state, its applied index and the membership as of that index change together (as
 * LmdbStateStore keeps state + applied index in one transaction), so one image restores all.
 */
import { applyConfChange, decodeConfChange } from '../../src/raft/conf-change.js';
import { EntryType, type ConfState, type Entry } from '../../src/raft/types.js';

export type SimCommand =
  | { op: 'put'; client: string; seq: number; key: string; value: string }
  | { op: 'append'; client: string; seq: number; key: string; value: string }
  | { op: 'cas'; client: string; seq: number; key: string; expected: string | null; value: string };

export type SimResult = { ok: true; swapped?: boolean } | { ok: false; code: 'StaleRequest' };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeSimCommand(cmd: SimCommand): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

export function decodeSimCommand(data: Uint8Array): SimCommand {
  return JSON.parse(dec.decode(data)) as SimCommand;
}

/** The membership after a conf-change entry (a new object: callers notice the change by identity). */
export function applyConfEntry(conf: ConfState, data: Uint8Array): ConfState {
  return applyConfChange(conf, decodeConfChange(data));
}

interface Session {
  seq: number;
  result: SimResult;
}

interface Image {
  applied: number;
  conf: ConfState;
  data: Array<[string, string]>;
  sessions: Array<[string, Session]>;
}

export class SimKvMachine {
  applied = 0;
  conf: ConfState = { voters: [], learners: [] };
  private data = new Map<string, string>();
  private sessions = new Map<string, Session>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /**
   * Apply one committed entry (index must be applied + 1). Returns the command's result, or
   * undefined for leader no-ops and conf changes (which still advance the applied index and,
   * for conf changes, the membership).
   */
  apply(e: Entry): SimResult | undefined {
    if (e.index !== this.applied + 1) throw new Error(`apply gap: applied ${this.applied}, next ${e.index}`);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      this.conf = applyConfEntry(this.conf, e.data);
      return undefined;
    }
    if (e.data.byteLength === 0) return undefined;
    const cmd = decodeSimCommand(e.data);
    const s = this.sessions.get(cmd.client);
    if (s) {
      if (cmd.seq === s.seq) return s.result;
      if (cmd.seq < s.seq) return { ok: false, code: 'StaleRequest' };
    }
    let result: SimResult;
    const cur = this.data.get(cmd.key) ?? null;
    switch (cmd.op) {
      case 'put':
        this.data.set(cmd.key, cmd.value);
        result = { ok: true };
        break;
      case 'append':
        this.data.set(cmd.key, (cur ?? '') + cmd.value);
        result = { ok: true };
        break;
      case 'cas': {
        const swapped = cur === cmd.expected;
        if (swapped) this.data.set(cmd.key, cmd.value);
        result = { ok: true, swapped };
        break;
      }
    }
    this.sessions.set(cmd.client, { seq: cmd.seq, result });
    return result;
  }

  /** A consistent image as of `applied` (the data of a Raft snapshot). */
  snapshot(): Uint8Array {
    const img: Image = { applied: this.applied, conf: this.conf, data: [...this.data], sessions: [...this.sessions] };
    return enc.encode(JSON.stringify(img));
  }

  /** Replace everything with an image taken at `index`. */
  restore(bytes: Uint8Array, index: number): void {
    const img = JSON.parse(dec.decode(bytes)) as Image;
    if (img.applied !== index) throw new Error(`snapshot image is at ${img.applied}, not ${index}`);
    this.applied = img.applied;
    this.conf = img.conf;
    this.data = new Map(img.data);
    this.sessions = new Map(img.sessions);
  }

  /** A digest of the user-visible state and sessions (for convergence checks). */
  digest(): string {
    return JSON.stringify([[...this.data].sort(), [...this.sessions].sort((a, b) => (a[0] < b[0] ? -1 : 1))]);
  }

  clone(): SimKvMachine {
    const c = new SimKvMachine();
    c.applied = this.applied;
    c.conf = { voters: [...this.conf.voters], learners: [...this.conf.learners] };
    c.data = new Map(this.data);
    c.sessions = new Map(this.sessions);
    return c;
  }
}

/**
 * The values whose writes changed a register when `log` (every committed entry from index 1) is
 * applied in order: the linearizability checker's hint for writes whose clients never learned the
 * outcome. Null when the log has a gap (no hint then).
 */
export function writesThatTookEffect(log: readonly Entry[]): Set<string> | null {
  const m = new SimKvMachine();
  const took = new Set<string>();
  for (const e of log) {
    if (e.index !== m.applied + 1) return null;
    const r = m.apply(e);
    if (r === undefined || !r.ok || e.type === EntryType.ConfChange) continue;
    const cmd = decodeSimCommand(e.data);
    if (cmd.op !== 'cas' || r.swapped === true) took.add(cmd.value);
  }
  return took;
}

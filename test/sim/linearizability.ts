/**
 * Linearizability checker for a key-value history: the Wing & Gong search with Lowe's
 * memoization, as in Porcupine (Athalye) and Knossos.
 *
 * - Model: every key is an independent register holding a string or null (absent).
 *   Operations: get(k) -> value, put(k, v), append(k, v) (null counts as ''), cas(k, expected, v) -> ok.
 * - P-compositionality (Herlihy & Wing): a history is linearizable iff its restriction to each
 *   key is, so the history is split by key and each part searched alone (exponentially smaller).
 * - Memoization: a search state is (set of linearized operations, model state); a state seen
 *   before is never explored again.
 * - Unknown outcomes (the client gave up): `output` is 'unknown' and `returnTime` is Infinity —
 *   the operation may take effect at any point after its call, including never (= at the end).
 * - The search is bounded by `stepsMax` per key; past it the verdict is 'unknown-timeout'.
 *
 * Times are any totally ordered numbers; an operation A precedes B iff A.returnTime < B.callTime.
 * Equal times count as concurrent (the permissive reading).
 */

export type KvOpKind = 'get' | 'put' | 'append' | 'cas';

export interface KvInput {
  key: string;
  /** put / append / cas: the value written. */
  value?: string;
  /** cas: the value the key must hold (null: absent) for the write to happen. */
  expected?: string | null;
}

export interface KvOutput {
  /** get: the value read (null: absent). */
  value?: string | null;
  /** cas: whether it swapped. */
  ok?: boolean;
}

export interface HistoryOp {
  clientId: string;
  op: KvOpKind;
  input: KvInput;
  /** 'unknown' when the client never learned the outcome. */
  output: KvOutput | 'unknown';
  callTime: number;
  /** Infinity when the outcome is unknown. */
  returnTime: number;
}

export type Verdict = 'ok' | 'violation' | 'unknown-timeout';

export interface CheckResult {
  verdict: Verdict;
  /** The key whose sub-history failed (violation) or timed out. */
  key?: string;
  /** Human-readable detail for a failure report. */
  detail?: string;
  /** Search steps used, summed over keys. */
  steps: number;
}

export interface CheckOptions {
  /** Search steps allowed per key. @default 2_000_000 */
  stepsMax?: number;
  /**
   * checkLinearizableTokens only: the values whose writes changed the register, as the system
   * under test reports it (the simulator replays its committed log). A hint that narrows the
   * search, never a verdict: see checkLinearizableTokens.
   */
  tookEffect?: ReadonlySet<string>;
}

type State = string | null;

/** One model step: is `output` possible from `state`, and what state follows. */
function step(state: State, h: HistoryOp): { ok: boolean; next: State } {
  const out = h.output;
  switch (h.op) {
    case 'get':
      return { ok: out === 'unknown' || (out.value ?? null) === state, next: state };
    case 'put':
      return { ok: true, next: h.input.value ?? '' };
    case 'append':
      return { ok: true, next: (state ?? '') + (h.input.value ?? '') };
    case 'cas': {
      const swap = state === (h.input.expected ?? null);
      const ok = out === 'unknown' || out.ok === swap;
      return { ok, next: swap ? (h.input.value ?? '') : state };
    }
  }
}

interface ListNode {
  /** Operation index within the partition; -1 for the head sentinel. */
  op: number;
  isCall: boolean;
  time: number;
  /** For a call node: its return node. */
  match: ListNode | null;
  prev: ListNode | null;
  next: ListNode | null;
}

function stateKey(s: State): string {
  return s === null ? '\u0000' : `=${s}`;
}

/** Check one key's sub-history. */
function checkPartition(ops: HistoryOp[], stepsMax: number): { verdict: Verdict; steps: number; detail?: string } {
  const n = ops.length;
  if (n === 0) return { verdict: 'ok', steps: 0 };
  // Build the event list: calls before returns at equal times (concurrent), then by op index.
  const events: ListNode[] = [];
  for (let i = 0; i < n; i++) {
    const o = ops[i]!;
    const ret: ListNode = { op: i, isCall: false, time: o.returnTime, match: null, prev: null, next: null };
    const call: ListNode = { op: i, isCall: true, time: o.callTime, match: ret, prev: null, next: null };
    events.push(call, ret);
  }
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: ListNode = { op: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const lift = (e: ListNode): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: ListNode): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    e.next!.prev = e;
  };

  const words = new Uint32Array(Math.ceil(n / 32));
  const bitsKey = (): string => {
    let s = '';
    for (let i = 0; i < words.length; i++) s += words[i]!.toString(36) + ',';
    return s;
  };
  const cache = new Set<string>();
  const stack: Array<{ node: ListNode; state: State }> = [];
  let state: State = null;
  let entry: ListNode | null = head.next;
  let steps = 0;
  let deepest = 0;

  while (head.next !== null) {
    if (++steps > stepsMax) return { verdict: 'unknown-timeout', steps };
    if (entry === null) {
      // Cannot happen: the last node in the list is always a return node.
      return { verdict: 'violation', steps, detail: 'internal: ran off the event list' };
    }
    if (entry.isCall) {
      const r = step(state, ops[entry.op]!);
      if (r.ok) {
        const w = entry.op >>> 5;
        const bit = 1 << (entry.op & 31);
        words[w] = words[w]! | bit;
        const key = bitsKey() + stateKey(r.next);
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          if (stack.length > deepest) deepest = stack.length;
          state = r.next;
          lift(entry);
          entry = head.next;
          continue;
        }
        words[w] = words[w]! & ~bit;
      }
      entry = entry.next;
    } else {
      // A return reached: some operation that must precede it could not be linearized. Backtrack.
      const top = stack.pop();
      if (!top) {
        const stuck = ops[entry.op]!;
        return {
          verdict: 'violation',
          steps,
          detail: `no linearization: at most ${deepest} of ${n} ops ordered; stuck before ${describeOp(stuck)} returned`,
        };
      }
      state = top.state;
      const w = top.node.op >>> 5;
      words[w] = words[w]! & ~(1 << (top.node.op & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { verdict: 'ok', steps };
}

export function describeOp(h: HistoryOp): string {
  const args =
    h.op === 'get'
      ? h.input.key
      : h.op === 'cas'
        ? `${h.input.key}, ${JSON.stringify(h.input.expected ?? null)} -> ${JSON.stringify(h.input.value)}`
        : `${h.input.key}, ${JSON.stringify(h.input.value)}`;
  const out = h.output === 'unknown' ? '?' : h.op === 'get' ? JSON.stringify(h.output.value ?? null) : h.op === 'cas' ? String(h.output.ok) : 'ok';
  return `${h.clientId} ${h.op}(${args}) = ${out} [${h.callTime}, ${h.returnTime}]`;
}

/** Check a whole history: split by key, search each; the first violation wins. */
export function checkLinearizable(history: readonly HistoryOp[], opts: CheckOptions = {}): CheckResult {
  const stepsMax = opts.stepsMax ?? 2_000_000;
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    let list = byKey.get(h.input.key);
    if (!list) byKey.set(h.input.key, (list = []));
    list.push(h);
  }
  let steps = 0;
  let timedOut: string | null = null;
  for (const [key, ops] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const r = checkPartition(ops, stepsMax);
    steps += r.steps;
    if (r.verdict === 'violation') return { verdict: 'violation', key, steps, detail: r.detail ?? '' };
    if (r.verdict === 'unknown-timeout' && timedOut === null) timedOut = key;
  }
  if (timedOut !== null) return { verdict: 'unknown-timeout', key: timedOut, steps, detail: `search exceeded ${stepsMax} steps` };
  return { verdict: 'ok', steps };
}

// ---------------------------------------------------------------------------------------------
// Unknown outcomes: shrinking the search when written values are unique tokens.

/** Tokens of a register value built from ';'-terminated tokens ("a;b;" -> a, b). */
function tokensOf(v: string | null | undefined): string[] {
  if (!v) return [];
  const parts = v.split(';');
  parts.pop();
  return parts;
}

/**
 * Every write with an unknown outcome may take effect at any time after its call, so each one
 * multiplies the search. When every written value is a unique token ending in ';' (so a value
 * read names exactly the writes in it), two sound reductions apply:
 *  - a write whose token a get returned (or a cas that swapped expected) took effect before that
 *    operation returned: its return time becomes the earliest such return, and an observed cas
 *    is known to have swapped;
 *  - a write nobody observed can be dropped: any linearization of the rest stays one with the
 *    write placed last. (The converse can fail — only a failed cas can need an unobserved write
 *    to explain it — so a violation found without them is re-checked with them.)
 * Precondition (asserted): written values are unique and ';'-terminated.
 */
export function shrinkUnknowns(history: readonly HistoryOp[]): { tightened: HistoryOp[]; pruned: HistoryOp[] } {
  const seenAt = new Map<string, number>();
  const writers = new Set<string>();
  for (const h of history) {
    const seen = (v: string | null | undefined): void => {
      for (const t of tokensOf(v)) seenAt.set(t, Math.min(seenAt.get(t) ?? Infinity, h.returnTime));
    };
    // A get observes the value it returns; a cas that swapped observes its expected value.
    if (h.op === 'get') {
      if (h.output !== 'unknown') seen(h.output.value);
      continue;
    }
    if (h.op === 'cas' && h.output !== 'unknown' && h.output.ok === true) seen(h.input.expected);
    {
      const v = h.input.value ?? '';
      const toks = tokensOf(v);
      if (toks.length !== 1 || !v.endsWith(';') || writers.has(toks[0]!)) throw new Error(`shrinkUnknowns: value ${JSON.stringify(v)} is not a unique token`);
      writers.add(toks[0]!);
    }
  }
  // An unknown cas seen to have swapped observed its expected value too, no later than its own
  // value was seen: propagate to a fixpoint (each round lowers some time; bounded by the ops).
  const unknownCas = history.filter((h) => h.op === 'cas' && h.output === 'unknown');
  for (let changed = true, round = 0; changed && round <= unknownCas.length; round++) {
    changed = false;
    for (const h of unknownCas) {
      const at = seenAt.get(tokensOf(h.input.value)[0]!);
      if (at === undefined) continue;
      for (const t of tokensOf(h.input.expected)) {
        if ((seenAt.get(t) ?? Infinity) > at) {
          seenAt.set(t, at);
          changed = true;
        }
      }
    }
  }
  const tightened: HistoryOp[] = [];
  const pruned: HistoryOp[] = [];
  for (const h of history) {
    if (h.op === 'get' || h.output !== 'unknown') {
      tightened.push(h);
      pruned.push(h);
      continue;
    }
    const seen = seenAt.get(tokensOf(h.input.value)[0]!);
    if (seen === undefined) {
      tightened.push(h); // unobserved: kept here, dropped from `pruned`
      continue;
    }
    const t: HistoryOp = { ...h, output: h.op === 'cas' ? { ok: true } : {}, returnTime: Math.max(seen, h.callTime) };
    tightened.push(t);
    pruned.push(t);
  }
  return { tightened, pruned };
}

/**
 * Linearizability of a history whose written values are unique ';'-terminated tokens (the
 * simulator's). Per key: check without unobserved unknown writes first; only if that fails, again
 * with those that could explain a failed cas (called before it returned).
 *
 * With `tookEffect`, each key is first checked with just the unobserved unknown writes the hint
 * names (a cas among them as one that swapped). Both narrowings are sound for an 'ok': dropping
 * an unknown write means placing it after everything, and a linearization in which an unknown
 * cas swaps is one its unknown outcome allows. A hinted search that fails proves nothing (the
 * hint may be wrong), so the key is then checked as without the hint.
 */
export function checkLinearizableTokens(history: readonly HistoryOp[], opts: CheckOptions = {}): CheckResult {
  const { tightened, pruned } = shrinkUnknowns(history);
  const kept = new Set(pruned);
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of tightened) {
    let list = byKey.get(h.input.key);
    if (!list) byKey.set(h.input.key, (list = []));
    list.push(h);
  }
  let steps = 0;
  let timedOut: CheckResult | null = null;
  const hint = opts.tookEffect;
  for (const [, ops] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const base = ops.filter((h) => kept.has(h));
    if (hint) {
      const hinted: HistoryOp[] = [];
      for (const h of ops) {
        if (kept.has(h)) hinted.push(h);
        else if (hint.has(h.input.value ?? '')) hinted.push(h.op === 'cas' ? { ...h, output: { ok: true } } : h);
      }
      const r0 = checkLinearizable(hinted, opts);
      steps += r0.steps;
      if (r0.verdict === 'ok') continue;
    }
    let r = checkLinearizable(base, opts);
    steps += r.steps;
    if (r.verdict === 'violation') {
      let failedCasEnd = -Infinity;
      for (const h of base) if (h.op === 'cas' && h.output !== 'unknown' && h.output.ok === false) failedCasEnd = Math.max(failedCasEnd, h.returnTime);
      const extra = ops.filter((h) => !kept.has(h) && h.callTime <= failedCasEnd);
      if (extra.length > 0) {
        const first = r;
        r = checkLinearizable([...base, ...extra], opts);
        steps += r.steps;
        if (r.verdict === 'unknown-timeout') r = { ...r, detail: `${r.detail ?? ''}; without unobserved unknown writes: ${first.detail ?? ''}` };
      }
    }
    if (r.verdict === 'violation') return { ...r, steps };
    if (r.verdict === 'unknown-timeout' && timedOut === null) timedOut = r;
  }
  if (timedOut !== null) return { ...timedOut, steps };
  return { verdict: 'ok', steps };
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { checkLinearizable, checkLinearizableTokens, shrinkUnknowns, type HistoryOp, type KvInput, type KvOpKind, type KvOutput } from './linearizability.js';
import { encodeSimCommand, writesThatTookEffect, type SimCommand } from './sim-kv-machine.js';

function op(clientId: string, kind: KvOpKind, input: KvInput, output: KvOutput | 'unknown', callTime: number, returnTime: number): HistoryOp {
  return { clientId, op: kind, input, output, callTime, returnTime };
}
const put = (c: string, key: string, value: string, t0: number, t1: number): HistoryOp => op(c, 'put', { key, value }, {}, t0, t1);
const append = (c: string, key: string, value: string, t0: number, t1: number): HistoryOp => op(c, 'append', { key, value }, {}, t0, t1);
const get = (c: string, key: string, value: string | null, t0: number, t1: number): HistoryOp => op(c, 'get', { key }, { value }, t0, t1);
const cas = (c: string, key: string, expected: string | null, value: string, ok: boolean, t0: number, t1: number): HistoryOp =>
  op(c, 'cas', { key, expected, value }, { ok }, t0, t1);
const unknownPut = (c: string, key: string, value: string, t0: number): HistoryOp => op(c, 'put', { key, value }, 'unknown', t0, Infinity);

describe('linearizability checker: known histories', () => {
  it('accepts the empty history and a sequential one', () => {
    expect(checkLinearizable([]).verdict).toBe('ok');
    const h = [get('a', 'x', null, 0, 1), put('a', 'x', '1', 2, 3), get('b', 'x', '1', 4, 5), append('b', 'x', '2', 6, 7), get('a', 'x', '12', 8, 9)];
    expect(checkLinearizable(h).verdict).toBe('ok');
  });

  it('rejects a stale read (the old value after a completed write)', () => {
    const h = [put('a', 'x', '1', 0, 1), put('a', 'x', '2', 2, 3), get('b', 'x', '1', 4, 5)];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('violation');
    expect(r.key).toBe('x');
  });

  it('rejects a read that misses a completed write (lost write)', () => {
    expect(checkLinearizable([put('a', 'x', '1', 0, 1), get('b', 'x', null, 2, 3)]).verdict).toBe('violation');
    expect(checkLinearizable([append('a', 'x', 'p', 0, 1), append('b', 'x', 'q', 2, 3), get('c', 'x', 'q', 4, 5)]).verdict).toBe('violation');
  });

  it('rejects a value nobody wrote', () => {
    expect(checkLinearizable([put('a', 'x', '1', 0, 10), get('b', 'x', '7', 2, 3)]).verdict).toBe('violation');
  });

  it('accepts either order for overlapping operations', () => {
    // The get overlaps the put: it may see the old or the new value.
    expect(checkLinearizable([put('a', 'x', '1', 0, 10), get('b', 'x', null, 2, 3)]).verdict).toBe('ok');
    expect(checkLinearizable([put('a', 'x', '1', 0, 10), get('b', 'x', '1', 2, 3)]).verdict).toBe('ok');
    // Two concurrent appends, read in either order.
    const ab = [append('a', 'x', 'A', 0, 10), append('b', 'x', 'B', 0, 10), get('c', 'x', 'BA', 11, 12)];
    expect(checkLinearizable(ab).verdict).toBe('ok');
    // Equal times count as concurrent.
    expect(checkLinearizable([put('a', 'x', '1', 0, 5), get('b', 'x', null, 5, 6)]).verdict).toBe('ok');
  });

  it('rejects new-then-old reads during one overlapping write', () => {
    // Both gets overlap the put, but the first saw the new value before the second began.
    const h = [put('a', 'x', '1', 0, 100), get('b', 'x', '1', 10, 20), get('c', 'x', null, 30, 40)];
    expect(checkLinearizable(h).verdict).toBe('violation');
  });

  it('checks cas results against the register', () => {
    expect(checkLinearizable([put('a', 'x', '1', 0, 1), cas('b', 'x', '1', '2', true, 2, 3), get('a', 'x', '2', 4, 5)]).verdict).toBe('ok');
    expect(checkLinearizable([put('a', 'x', '1', 0, 1), cas('b', 'x', '9', '2', true, 2, 3)]).verdict).toBe('violation');
    expect(checkLinearizable([cas('b', 'x', null, '2', false, 2, 3)]).verdict).toBe('violation');
    expect(checkLinearizable([cas('b', 'x', null, '2', true, 2, 3), get('a', 'x', '2', 4, 5)]).verdict).toBe('ok');
  });

  it('lets an unknown write take effect at any later time, or never, but not before its call', () => {
    expect(checkLinearizable([unknownPut('a', 'x', '1', 0), get('b', 'x', null, 5, 6), get('b', 'x', '1', 50, 60)]).verdict).toBe('ok');
    expect(checkLinearizable([unknownPut('a', 'x', '1', 0), get('b', 'x', null, 50, 60)]).verdict).toBe('ok');
    expect(checkLinearizable([get('b', 'x', '1', 0, 1), unknownPut('a', 'x', '1', 5)]).verdict).toBe('violation');
    // Once seen, it cannot be unseen.
    expect(checkLinearizable([unknownPut('a', 'x', '1', 0), get('b', 'x', '1', 5, 6), get('b', 'x', null, 7, 8)]).verdict).toBe('violation');
  });

  it('splits by key (P-compositionality) and names the failing key', () => {
    const h = [put('a', 'x', '1', 0, 1), put('a', 'y', '1', 0, 1), get('b', 'x', '1', 2, 3), get('b', 'y', null, 2, 3)];
    const r = checkLinearizable(h);
    expect(r.verdict).toBe('violation');
    expect(r.key).toBe('y');
    expect(r.detail).toMatch(/no linearization/);
  });

  it('gives up past its step budget instead of running forever', () => {
    const h: HistoryOp[] = [];
    for (let i = 0; i < 14; i++) h.push(op(`c${i}`, 'append', { key: 'x', value: `v${i};` }, 'unknown', 0, Infinity));
    h.push(get('r', 'x', 'nope;', 1, 2));
    expect(checkLinearizable(h, { stepsMax: 1000 }).verdict).toBe('unknown-timeout');
  });
});

describe('unknown-outcome reduction for unique-token histories', () => {
  it('tightens an observed unknown write to the first read that saw it', () => {
    const w = op('a', 'cas', { key: 'x', expected: null, value: 'a1;' }, 'unknown', 0, Infinity);
    const { tightened, pruned } = shrinkUnknowns([w, get('b', 'x', 'a1;', 5, 9), get('b', 'x', 'a1;', 3, 12)]);
    expect(tightened[0]).toMatchObject({ returnTime: 9, output: { ok: true } });
    expect(pruned).toHaveLength(3);
  });

  it('drops unobserved unknown writes, but re-checks with them when a failed cas needs one', () => {
    const h = [put('a', 'x', 'a1;', 0, 1), unknownPut('b', 'x', 'b1;', 2), cas('c', 'x', 'a1;', 'c1;', false, 10, 11)];
    expect(shrinkUnknowns(h).pruned).toHaveLength(2);
    expect(checkLinearizable(shrinkUnknowns(h).pruned).verdict).toBe('violation');
    expect(checkLinearizableTokens(h).verdict).toBe('ok');
    // Without the unknown write the failed cas is impossible.
    expect(checkLinearizableTokens([h[0]!, h[2]!]).verdict).toBe('violation');
  });

  it('re-checks only the failing key with its unobserved writes (seed 28578 of an earlier version)', () => {
    const h: HistoryOp[] = [unknownPut('c2', 'k1', 'c2.1;', 11), get('c2', 'k1', null, 1015, 1054)];
    for (let i = 0; i < 6; i++) h.push(op(`u${i}`, 'append', { key: 'k1', value: `u${i};` }, 'unknown', 1100 + i, Infinity));
    h.push(cas('c3', 'k1', null, 'c3.14;', false, 3305, 3357));
    // Another key full of unobserved unknown writes and a failed cas: never searched with them.
    for (let i = 0; i < 40; i++) h.push(op(`v${i}`, 'append', { key: 'k0', value: `v${i};` }, 'unknown', i, Infinity));
    h.push(put('a', 'k0', 'a1;', 0, 1), cas('b', 'k0', 'zz;', 'b1;', false, 50, 51), get('b', 'k0', 'a1;', 52, 53));
    const r = checkLinearizableTokens(h, { stepsMax: 100_000 });
    expect(r.verdict).toBe('ok');
  });

  it('still rejects a stale read among many unknown writes', () => {
    const h: HistoryOp[] = [put('a', 'x', 'a1;', 0, 1), put('a', 'x', 'a2;', 2, 3)];
    for (let i = 0; i < 30; i++) h.push(op(`u${i}`, 'append', { key: 'x', value: `u${i};` }, 'unknown', 4 + i, Infinity));
    h.push(get('b', 'x', 'a1;', 100, 101));
    expect(checkLinearizableTokens(h).verdict).toBe('violation');
  });

  it('takes a hint of the writes that took effect, but never a verdict from it', () => {
    // A failed cas that only one of 20 unobserved unknown cas explains, each of which a read of
    // null forbids before it: without the hint the search tries their subsets.
    const h: HistoryOp[] = [];
    for (let i = 0; i < 20; i++) h.push(op(`u${i}`, 'cas', { key: 'x', expected: null, value: `u${i};` }, 'unknown', i, Infinity));
    h.push(get('g', 'x', null, 50, 51), cas('c', 'x', null, 'c1;', false, 100, 101));
    expect(checkLinearizableTokens(h, { stepsMax: 100_000 }).verdict).toBe('unknown-timeout');
    const hinted = checkLinearizableTokens(h, { stepsMax: 100_000, tookEffect: new Set(['u7;']) });
    expect(hinted.verdict).toBe('ok');
    expect(hinted.steps).toBeLessThan(100);
    // A hint that explains nothing: the key is checked as without it.
    expect(checkLinearizableTokens([...h.slice(0, 3), ...h.slice(-2)], { tookEffect: new Set() }).verdict).toBe('ok');
    // A hint cannot excuse a stale read, nor make a needed write vanish.
    const stale = [put('a', 'x', 'a1;', 0, 1), put('a', 'x', 'a2;', 2, 3), get('b', 'x', 'a1;', 4, 5)];
    expect(checkLinearizableTokens(stale, { tookEffect: new Set(['a1;', 'a2;']) }).verdict).toBe('violation');
    const needed = [put('a', 'x', 'a1;', 0, 1), unknownPut('b', 'x', 'b1;', 2), cas('c', 'x', 'a1;', 'c1;', false, 10, 11)];
    expect(checkLinearizableTokens(needed, { tookEffect: new Set(['a1;']) }).verdict).toBe('ok');
  });

  it('reads the hint from the committed log: only writes that changed a register', () => {
    const cmds: SimCommand[] = [
      { op: 'put', client: 'a', seq: 2, key: 'x', value: 'a2;' },
      { op: 'cas', client: 'b', seq: 1, key: 'x', expected: null, value: 'b1;' }, // fails: x is a2;
      { op: 'cas', client: 'c', seq: 1, key: 'x', expected: 'a2;', value: 'c1;' }, // swaps
      { op: 'put', client: 'a', seq: 2, key: 'x', value: 'a2;' }, // a retry: no new effect
      { op: 'append', client: 'a', seq: 1, key: 'x', value: 'a1;' }, // stale: refused
      { op: 'append', client: 'd', seq: 1, key: 'y', value: 'd1;' },
    ];
    const log: Entry[] = [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array() }];
    for (const c of cmds) log.push({ term: 1, index: log.length + 1, type: EntryType.Normal, data: encodeSimCommand(c) });
    expect([...writesThatTookEffect(log)!].sort()).toEqual(['a2;', 'c1;', 'd1;']);
    expect(writesThatTookEffect(log.slice(1))).toBeNull();
  });

  it('refuses values that are not unique tokens', () => {
    expect(() => shrinkUnknowns([put('a', 'x', 'v', 0, 1)])).toThrow(/unique token/);
    expect(() => shrinkUnknowns([put('a', 'x', 'v;', 0, 1), put('b', 'x', 'v;', 0, 1)])).toThrow(/unique token/);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: histories cut from a real sequential execution are linearizable.

interface GenOp {
  kind: KvOpKind;
  key: number;
  /** cas: expect the current value (true) or a wrong one (false). */
  casHit: boolean;
  /** How far the call reaches back and the return forward from the linearization point. */
  before: number;
  after: number;
  unknown: boolean;
}

const genOp = fc.record({
  kind: fc.constantFrom<KvOpKind>('get', 'put', 'append', 'cas'),
  key: fc.integer({ min: 0, max: 2 }),
  casHit: fc.boolean(),
  before: fc.integer({ min: 0, max: 12 }),
  after: fc.integer({ min: 0, max: 12 }),
  unknown: fc.boolean(),
});

/** Run ops one at a time against a model; each op's interval contains its linearization point. */
function historyFrom(ops: GenOp[]): HistoryOp[] {
  const state = new Map<string, string | null>();
  const out: HistoryOp[] = [];
  ops.forEach((g, i) => {
    const key = `k${g.key}`;
    const cur = state.get(key) ?? null;
    const at = 10 * (i + 1); // linearization points are distinct and in order
    const callTime = at - g.before;
    const returnTime = at + g.after;
    const value = `w${i};`;
    let input: KvInput;
    let output: KvOutput;
    switch (g.kind) {
      case 'get':
        input = { key };
        output = { value: cur };
        break;
      case 'put':
        input = { key, value };
        output = {};
        state.set(key, value);
        break;
      case 'append':
        input = { key, value };
        output = {};
        state.set(key, (cur ?? '') + value);
        break;
      case 'cas': {
        const expected = g.casHit ? cur : `never${i};`;
        input = { key, expected, value };
        output = { ok: g.casHit };
        if (g.casHit) state.set(key, value);
        break;
      }
    }
    // A write whose client gave up: unknown outcome (it did take effect, at `at`).
    if (g.unknown && g.kind !== 'get') out.push({ clientId: `c${i}`, op: g.kind, input, output: 'unknown', callTime, returnTime: Infinity });
    else out.push({ clientId: `c${i}`, op: g.kind, input, output, callTime, returnTime });
  });
  return out;
}

describe('linearizability checker: properties', () => {
  it('accepts every history cut from a real sequential execution', () => {
    fc.assert(
      fc.property(fc.array(genOp, { minLength: 1, maxLength: 40 }), (ops) => {
        const h = historyFrom(ops);
        expect(checkLinearizable(h).verdict).toBe('ok');
        expect(checkLinearizableTokens(h).verdict).toBe('ok');
      }),
      { numRuns: 300, seed: 20240601 },
    );
  });

  it('rejects the same histories once a read returns a value never written', () => {
    fc.assert(
      fc.property(fc.array(genOp, { minLength: 1, maxLength: 40 }), fc.nat(), (ops, pick) => {
        const h = historyFrom(ops);
        const reads = h.map((o, i) => [o, i] as const).filter(([o]) => o.op === 'get');
        fc.pre(reads.length > 0);
        const [victim, at] = reads[pick % reads.length]!;
        h[at] = { ...victim, output: { value: 'impossible;' } };
        expect(checkLinearizable(h).verdict).toBe('violation');
        expect(checkLinearizableTokens(h).verdict).toBe('violation');
      }),
      { numRuns: 300, seed: 20240602 },
    );
  });

  it('the unknown-outcome reduction never changes a verdict (random, often wrong, small histories)', () => {
    const arbOp = fc.record({
      kind: fc.constantFrom<KvOpKind>('get', 'put', 'append', 'cas'),
      key: fc.integer({ min: 0, max: 1 }),
      /** get: index of the write whose state is claimed (or -1: absent); cas: expected the same way. */
      ref: fc.integer({ min: -1, max: 9 }),
      ok: fc.boolean(),
      call: fc.integer({ min: 0, max: 30 }),
      len: fc.integer({ min: 0, max: 15 }),
      unknown: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 10 }), (ops) => {
        const h: HistoryOp[] = ops.map((g, i) => {
          const key = `k${g.key}`;
          const claimed = g.ref < 0 ? null : `w${g.ref};`;
          const value = `w${i};`;
          const t = { callTime: g.call, returnTime: g.call + g.len };
          if (g.kind === 'get') return { clientId: `c${i}`, op: 'get', input: { key }, output: { value: claimed }, ...t };
          const input: KvInput = g.kind === 'cas' ? { key, expected: claimed, value } : { key, value };
          if (g.unknown) return { clientId: `c${i}`, op: g.kind, input, output: 'unknown', callTime: g.call, returnTime: Infinity };
          return { clientId: `c${i}`, op: g.kind, input, output: g.kind === 'cas' ? { ok: g.ok } : {}, ...t };
        });
        expect(checkLinearizableTokens(h).verdict).toBe(checkLinearizable(h).verdict);
      }),
      { numRuns: 2000, seed: 20240603 },
    );
  });
});

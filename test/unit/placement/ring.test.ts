import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addServer,
  decodeRingLayout,
  emptyRing,
  encodeRingLayout,
  removeServer,
  Ring,
  RING_LIMITS,
  ringLayoutFromValue,
  setState,
  setWeight,
  type RingLayout,
} from '../../../src/placement/index.js';
import { vnodeTokens } from '../../../src/placement/ring.js';
import { hash32 } from '../../../src/util/hash.js';
import { pack } from '../../../src/proto/msgpack.js';
import { isCairnError, type ErrorCode } from '../../../src/util/errors.js';
import { arbLayout, equalServers } from './arbitraries.js';

function codeOf(f: () => unknown): ErrorCode | 'none' | 'other' {
  try {
    f();
    return 'none';
  } catch (e) {
    return isCairnError(e) ? e.code : 'other';
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const base: RingLayout = { version: 1, vnodesPerWeight: 8, servers: equalServers(4, 2) };

describe('Ring.build', () => {
  it('is deterministic: any order of the same servers gives the same tokens, owners and layout', () => {
    const arb = arbLayout().chain((l) =>
      fc.tuple(fc.constant(l), fc.shuffledSubarray([...l.servers], { minLength: l.servers.length, maxLength: l.servers.length })),
    );
    fc.assert(
      fc.property(arb, ([layout, shuffled]) => {
        const a = Ring.build(layout);
        const b = Ring.build({ ...layout, servers: shuffled });
        expect(b.tokens).toEqual(a.tokens);
        expect(b.owner).toEqual(a.owner);
        expect(b.layout()).toEqual(a.layout());
      }),
      { numRuns: 200 },
    );
  });

  it('gives each server max(1, round(weight × vnodesPerWeight)) vnodes, tokens sorted', () => {
    fc.assert(
      fc.property(arbLayout(), (layout) => {
        const ring = Ring.build(layout);
        const counts = new Map<string, number>();
        for (const s of ring.owner) counts.set(ring.servers[s]!.id, (counts.get(ring.servers[s]!.id) ?? 0) + 1);
        for (const s of layout.servers) {
          expect(counts.get(s.id)).toBe(Math.max(1, Math.round(s.weight * layout.vnodesPerWeight)));
          expect(ring.vnodeCount(s.id)).toBe(counts.get(s.id));
        }
        for (let i = 1; i < ring.tokens.length; i++) expect(ring.tokens[i]!).toBeGreaterThanOrEqual(ring.tokens[i - 1]!);
      }),
      { numRuns: 100 },
    );
  });

  it('places vnode i of server id at token hash32(`${id}#${i}`)', () => {
    fc.assert(
      fc.property(arbLayout(), (layout) => {
        const ring = Ring.build(layout);
        const expected: number[] = [];
        for (const s of layout.servers) for (let i = 0; i < ring.vnodeCount(s.id); i++) expected.push(hash32(`${s.id}#${i}`));
        expect([...ring.tokens]).toEqual(expected.sort((a, b) => a - b));
      }),
      { numRuns: 100 },
    );
    const tok = vnodeTokens('ünï-cødé');
    for (const i of [0, 9, 10, 99, 100, 12345, 2 ** 21]) expect(tok(i)).toBe(hash32(`ünï-cødé#${i}`));
  });

  it('successor() finds the first token ≥ the point and wraps past the last', () => {
    const ring = Ring.build(base);
    const t = ring.tokens;
    const expected = (p: number): number => {
      const i = t.findIndex((x) => x >= p);
      return i === -1 ? 0 : i;
    };
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...t).chain((x) => fc.constantFrom(x, x + 1, x - 1))), (p) => {
        expect(ring.successor(p)).toBe(expected(p));
      }),
    );
    expect(ring.successor(t[t.length - 1]! + 1)).toBe(0);
  });

  it('rejects invalid layouts with InvalidArgument', () => {
    const s = base.servers[0]!;
    const bad: RingLayout[] = [
      { ...base, version: -1 },
      { ...base, version: 1.5 },
      { ...base, vnodesPerWeight: 0 },
      { ...base, vnodesPerWeight: Infinity },
      { ...base, servers: [s, { ...s }] },
      { ...base, servers: [{ ...s, id: '' }] },
      { ...base, servers: [{ ...s, id: 'a/b' }] },
      { ...base, servers: [{ ...s, id: 'x'.repeat(65) }] },
      { ...base, servers: [{ ...s, zone: 'rack 1' }] },
      { ...base, servers: [{ ...s, weight: 0 }] },
      { ...base, servers: [{ ...s, weight: -1 }] },
      { ...base, servers: [{ ...s, weight: NaN }] },
      { ...base, servers: [{ ...s, weight: RING_LIMITS.weightMax * 2 }] },
      { ...base, servers: [{ ...s, state: 'gone' as 'up' }] },
      // too many vnodes for one server, and in total
      { ...base, vnodesPerWeight: 1000, servers: [{ ...s, weight: 100 }] },
      { ...base, vnodesPerWeight: 60_000, servers: equalServers(40, 2) },
    ];
    for (const layout of bad) expect(codeOf(() => Ring.build(layout))).toBe('InvalidArgument');
    expect(codeOf(() => Ring.build({ ...base, servers: [{ ...s, id: 'A-z_0.9', zone: 'x'.repeat(64) }] }))).toBe('none');
  });
});

describe('ring edits', () => {
  it('return a new ring with version + 1 and leave the old one unchanged', () => {
    const r0 = Ring.build(base);
    const before = r0.layout();
    const r1 = addServer(r0, { id: 'cs9', zone: 'z1', weight: 2 });
    expect(r1.version).toBe(2);
    expect(r1.server('cs9')).toEqual({ id: 'cs9', zone: 'z1', weight: 2, state: 'up' });
    expect(r1.vnodeCount('cs9')).toBe(16);
    const r2 = setState(r1, 'cs0', 'draining');
    expect(r2.server('cs0')!.state).toBe('draining');
    expect(r2.upCount).toBe(4);
    const r3 = setWeight(r2, 'cs1', 0.5);
    expect(r3.vnodeCount('cs1')).toBe(4);
    const r4 = removeServer(r3, 'cs2');
    expect(r4.server('cs2')).toBeUndefined();
    expect(r4.version).toBe(5);
    expect(r0.layout()).toEqual(before);
    // A state change does not move any vnode.
    expect(r2.tokens).toEqual(r1.tokens);
    expect(r2.owner).toEqual(r1.owner);
  });

  it('report AlreadyExists, NotFound and InvalidArgument', () => {
    const r = Ring.build(base);
    expect(codeOf(() => addServer(r, { id: 'cs0', zone: 'z0', weight: 1 }))).toBe('AlreadyExists');
    expect(codeOf(() => addServer(r, { id: 'bad id', zone: 'z0', weight: 1 }))).toBe('InvalidArgument');
    expect(codeOf(() => addServer(r, { id: 'ok', zone: 'z0', weight: 0 }))).toBe('InvalidArgument');
    expect(codeOf(() => removeServer(r, 'nope'))).toBe('NotFound');
    expect(codeOf(() => setState(r, 'nope', 'dead'))).toBe('NotFound');
    expect(codeOf(() => setState(r, 'cs0', 'asleep' as 'dead'))).toBe('InvalidArgument');
    expect(codeOf(() => setWeight(r, 'cs0', Number.POSITIVE_INFINITY))).toBe('InvalidArgument');
    expect(codeOf(() => setWeight(r, 'nope', 1))).toBe('NotFound');
  });

  it('an empty ring places nothing and grows from version 0', () => {
    const r = emptyRing(8);
    expect(r.vnodeTotal).toBe(0);
    const r1 = addServer(r, { id: 'a', zone: 'z', weight: 1 });
    expect(r1.version).toBe(1);
    expect(r1.vnodeTotal).toBe(8);
  });
});

describe('ring layout codec', () => {
  it('round-trips any valid layout, canonical in server order', () => {
    fc.assert(
      fc.property(arbLayout(), (layout) => {
        const bytes = encodeRingLayout(layout);
        const back = decodeRingLayout(bytes);
        expect(Ring.build(back).layout()).toEqual(Ring.build(layout).layout());
        expect(hex(encodeRingLayout(Ring.build(layout)))).toBe(hex(bytes));
        expect(hex(encodeRingLayout({ ...layout, servers: [...layout.servers].reverse() }))).toBe(hex(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects malformed input with ProtocolError and nothing else', () => {
    const good = [1, 3, 8, [['a', 'z', 1, 0]]];
    expect(ringLayoutFromValue(good).servers[0]).toEqual({ id: 'a', zone: 'z', weight: 1, state: 'up' });
    const bad: unknown[] = [
      null,
      'ring',
      [1, 3, 8],
      [2, 3, 8, []],
      [1, '3', 8, []],
      [1, 3, 8, {}],
      [1, 3, 8, [['a', 'z', 1]]],
      [1, 3, 8, [['a', 'z', 1, 3]]],
      [1, 3, 8, [['a', 'z', '1', 0]]],
      [1, 3, 8, [['a', 'z', 1, 0], ['a', 'y', 1, 0]]],
      [1, 3, 8, [['a b', 'z', 1, 0]]],
      [1, -3, 8, []],
      [1, 3, 0, []],
    ];
    for (const v of bad) expect(codeOf(() => ringLayoutFromValue(v))).toBe('ProtocolError');
    expect(codeOf(() => decodeRingLayout(pack(bad[9])))).toBe('ProtocolError');
    expect(codeOf(() => decodeRingLayout(new Uint8Array([0xc1])))).toBe('ProtocolError');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(['none', 'ProtocolError']).toContain(codeOf(() => decodeRingLayout(bytes)));
      }),
      { numRuns: 300 },
    );
  });
});

import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { RAFT_CODEC_LIMITS, decodeRaftMessage, encodeRaftMessage, encodeRaftMessageParts } from '../../../src/proto/raft-codec.js';
import type { Entry, Message } from '../../../src/raft/types.js';
import { CairnError } from '../../../src/util/errors.js';
import { markOwned } from '../../../src/util/owned-bytes.js';

const packr = new Packr({ useRecords: false, moreTypes: false });
const raw = (v: unknown): Uint8Array => packr.pack(v);

const id = fc.string({ minLength: 1, maxLength: 12 });
const n = fc.nat({ max: Number.MAX_SAFE_INTEGER - (1 << 20) });
const bytes = (max = 64): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
const base = { from: id, to: id, term: n };

const entriesAfter = (prevIndex: number): fc.Arbitrary<Entry[]> =>
  fc.array(fc.record({ term: n, type: fc.constantFrom(0, 1), data: bytes() }), { maxLength: 8 }).map((es) =>
    es.map((e, i) => ({ ...e, index: prevIndex + 1 + i }) as Entry),
  );

const members = fc.uniqueArray(id, { maxLength: 7 });

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ ...base, type: fc.constantFrom('vote' as const, 'pre-vote' as const), lastLogIndex: n, lastLogTerm: n, transfer: fc.boolean() }),
  fc.record({ ...base, type: fc.constantFrom('vote-resp' as const, 'pre-vote-resp' as const), reject: fc.boolean() }),
  fc
    .record({ ...base, prevIndex: n, prevTerm: n, commit: n })
    .chain((m) => entriesAfter(m.prevIndex).map((entries) => ({ ...m, type: 'app' as const, entries }))),
  fc.record({ ...base, type: fc.constant('app-resp' as const), reject: fc.boolean(), index: n, hintIndex: n, hintTerm: n }),
  fc.record({ ...base, type: fc.constant('heartbeat' as const), commit: n, ctx: bytes() }),
  fc.record({ ...base, type: fc.constant('heartbeat-resp' as const), ctx: bytes() }),
  fc.record({
    ...base,
    type: fc.constant('snap' as const),
    snapshot: fc.record({
      meta: fc.record({
        index: n,
        term: n,
        conf: members.chain((all) => fc.nat({ max: all.length }).map((k) => ({ voters: all.slice(0, k), learners: all.slice(k) }))),
      }),
      data: bytes(256),
    }),
  }),
  fc.record({ ...base, type: fc.constant('timeout-now' as const) }),
);

/** Compare with byte fields as plain arrays (decoded bytes may be Buffer, encoded ones Uint8Array). */
const plain = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

function expectProtocolError(b: Uint8Array): void {
  let err: unknown = null;
  try {
    decodeRaftMessage(b);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CairnError);
  expect((err as CairnError).code).toBe('ProtocolError');
}

describe('raft codec', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(message, (m) => {
        const out = decodeRaftMessage(encodeRaftMessage(m));
        expect(plain(out)).toEqual(plain(m));
        expect(Object.keys(out).sort()).toEqual(Object.keys(m).sort());
      }),
      { numRuns: 500 },
    );
  });

  it('covers all ten message types in the arbitrary', () => {
    const seen = new Set(fc.sample(message, 2000).map((m) => m.type));
    expect(seen.size).toBe(10);
  });

  it('is compact: an empty heartbeat fits in a few dozen bytes', () => {
    const b = encodeRaftMessage({ type: 'heartbeat', from: 'm1', to: 'm2', term: 7, commit: 123456, ctx: new Uint8Array(0) });
    expect(b.length).toBeLessThan(24);
  });

  it('encodes a MsgApp byte for byte as the whole 9-element array packs', () => {
    const appMsg = fc
      .record({ ...base, prevIndex: n, prevTerm: n, commit: n })
      .chain((m) => entriesAfter(m.prevIndex).map((entries) => ({ ...m, type: 'app' as const, entries })));
    fc.assert(
      fc.property(appMsg, (m) => {
        const whole = raw([1, 5, m.from, m.to, m.term, m.prevIndex, m.prevTerm, m.commit, m.entries.map((e) => [e.term, e.type, e.data])]);
        // Twice: the second encoding reuses the entries' bytes.
        expect([...encodeRaftMessage(m)]).toEqual([...whole]);
        expect([...encodeRaftMessage(m)]).toEqual([...whole]);
        // In parts (as the runtime sends it): the head, then the entries, the same bytes together.
        const parts = encodeRaftMessageParts(m);
        expect(parts).toHaveLength(2);
        expect([...Buffer.concat(parts)]).toEqual([...whole]);
      }),
      { numRuns: 300 },
    );
  });

  it('sends the same entries bytes to every follower without copying them behind each head', () => {
    const e1: Entry = { term: 2, index: 11, type: 0, data: new Uint8Array(4096).fill(7) };
    const app = (to: string): Message => ({ type: 'app', from: 'a', to, term: 2, prevIndex: 10, prevTerm: 1, commit: 9, entries: [e1] });
    const [headB, entsB] = encodeRaftMessageParts(app('b'));
    const [headC, entsC] = encodeRaftMessageParts(app('c'));
    expect(entsC).toBe(entsB);
    expect(headC).not.toBe(headB);
    expect(plain(decodeRaftMessage(Buffer.concat([headB!, entsB!])))).toEqual(plain(app('b')));
    expect(plain(decodeRaftMessage(Buffer.concat([headC!, entsC!])))).toEqual(plain(app('c')));
    // The head of one does not change when the other is encoded after it.
    expect(plain(decodeRaftMessage(Buffer.concat([headB!, entsB!])))).toEqual(plain(app('b')));
    // Every other type is one part.
    expect(encodeRaftMessageParts({ type: 'heartbeat', from: 'a', to: 'b', term: 2, commit: 3, ctx: new Uint8Array(2) })).toHaveLength(1);
  });

  it('reuses entries only when they are the same entry objects', () => {
    const e1: Entry = { term: 2, index: 11, type: 0, data: new Uint8Array(4096).fill(1) };
    const e2: Entry = { term: 2, index: 12, type: 0, data: new Uint8Array([2]) };
    const app = (to: string, entries: Entry[]): Message => ({ type: 'app', from: 'a', to, term: 2, prevIndex: 10, prevTerm: 1, commit: 9, entries });
    const toB = decodeRaftMessage(encodeRaftMessage(app('b', [e1, e2])));
    const toC = decodeRaftMessage(encodeRaftMessage(app('c', [e1, e2])));
    expect(plain(toC)).toEqual(plain(app('c', [e1, e2])));
    expect(plain(toB)).toEqual(plain(app('b', [e1, e2])));
    // Same length and first entry, another second entry (a replaced suffix): encoded afresh.
    const e2b: Entry = { term: 3, index: 12, type: 1, data: new Uint8Array([9, 9]) };
    expect(plain(decodeRaftMessage(encodeRaftMessage(app('b', [e1, e2b]))))).toEqual(plain(app('b', [e1, e2b])));
  });

  it('decoded bytes do not alias the input buffer', () => {
    const b = encodeRaftMessage({ type: 'heartbeat-resp', from: 'a', to: 'b', term: 1, ctx: new Uint8Array([1, 2, 3]) });
    const m = decodeRaftMessage(b);
    b.fill(0);
    const ctx = (m as { ctx: Uint8Array }).ctx;
    expect([...ctx]).toEqual([1, 2, 3]);
    expect(Object.getPrototypeOf(ctx)).toBe(Uint8Array.prototype);
  });

  it('decoded entry data do not alias the input buffer, and each entry keeps its own bytes', () => {
    const entries: Entry[] = [
      { term: 1, index: 6, type: 0, data: new Uint8Array([1, 2, 3]) },
      { term: 1, index: 7, type: 1, data: new Uint8Array(0) },
      { term: 2, index: 8, type: 0, data: new Uint8Array(5000).fill(8) },
    ];
    const b = encodeRaftMessage({ type: 'app', from: 'a', to: 'b', term: 2, prevIndex: 5, prevTerm: 1, commit: 4, entries });
    const m = decodeRaftMessage(b) as { entries: Entry[] };
    b.fill(0);
    expect(m.entries.map((e) => [...e.data].slice(0, 4))).toEqual([[1, 2, 3], [], [8, 8, 8, 8]]);
    expect(m.entries[2]!.data.every((x) => x === 8)).toBe(true);
    for (const e of m.entries) expect(Object.getPrototypeOf(e.data)).toBe(Uint8Array.prototype);
  });

  it('keeps views into a frame handed over whole, instead of copying its entries', () => {
    const entries: Entry[] = [
      { term: 1, index: 6, type: 0, data: new Uint8Array([1, 2, 3]) },
      { term: 2, index: 7, type: 0, data: new Uint8Array(5000).fill(8) },
    ];
    const b = Uint8Array.from(encodeRaftMessage({ type: 'app', from: 'a', to: 'b', term: 2, prevIndex: 5, prevTerm: 1, commit: 4, entries }));
    const m = decodeRaftMessage(markOwned(b)) as { entries: Entry[] };
    for (const e of m.entries) {
      expect(e.data.buffer).toBe(b.buffer);
      expect(Object.getPrototypeOf(e.data)).toBe(Uint8Array.prototype);
    }
    expect(m.entries.map((e) => e.data.length)).toEqual([3, 5000]);
    expect([...m.entries[0]!.data]).toEqual([1, 2, 3]);
    expect(m.entries[1]!.data.every((x) => x === 8)).toBe(true);
    // The mark is used up: decoding the same bytes again copies.
    expect((decodeRaftMessage(b) as { entries: Entry[] }).entries[1]!.data.buffer).not.toBe(b.buffer);
  });

  it('rejects random bytes with ProtocolError (never another exception, never a result that fails re-encoding)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        let m: Message;
        try {
          m = decodeRaftMessage(b);
        } catch (e) {
          expect(e).toBeInstanceOf(CairnError);
          expect((e as CairnError).code).toBe('ProtocolError');
          return;
        }
        // Rarely random bytes form a valid message: then it must round-trip.
        expect(plain(decodeRaftMessage(encodeRaftMessage(m)))).toEqual(plain(m));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects every truncation of every message type', () => {
    fc.assert(
      fc.property(message, (m) => {
        const b = encodeRaftMessage(m);
        for (let k = 0; k < b.length; k++) expectProtocolError(b.subarray(0, k));
      }),
      { numRuns: 100 },
    );
  });

  it('rejects trailing bytes', () => {
    const b = encodeRaftMessage({ type: 'timeout-now', from: 'a', to: 'b', term: 3 });
    expectProtocolError(new Uint8Array([...b, 0]));
  });

  const hb = (over: Record<number, unknown>, extra: unknown[] = []): Uint8Array => {
    const arr: unknown[] = [1, 7, 'm1', 'm2', 5, 9, new Uint8Array(2)];
    for (const [k, v] of Object.entries(over)) arr[Number(k)] = v;
    return raw([...arr, ...extra]);
  };

  it('accepts a hand-built heartbeat (the test fixture is valid)', () => {
    expect(decodeRaftMessage(hb({}))).toMatchObject({ type: 'heartbeat', from: 'm1', to: 'm2', term: 5, commit: 9 });
  });

  it.each([
    ['wrong version', { 0: 2 }],
    ['unknown tag', { 1: 11 }],
    ['tag zero', { 1: 0 }],
    ['tag as string', { 1: 'heartbeat' }],
    ['empty from', { 2: '' }],
    ['numeric to', { 3: 2 }],
    ['oversize node id', { 2: 'x'.repeat(RAFT_CODEC_LIMITS.nodeIdCharsMax + 1) }],
    ['negative term', { 4: -1 }],
    ['fractional term', { 4: 1.5 }],
    ['unsafe integer', { 4: 2 ** 60 }],
    ['term as string', { 4: '5' }],
    ['null commit', { 5: null }],
    ['ctx as string', { 6: 'ctx' }],
    ['ctx as array', { 6: [1, 2] }],
    ['oversize ctx', { 6: new Uint8Array(RAFT_CODEC_LIMITS.ctxBytesMax + 1) }],
  ])('rejects a heartbeat with %s', (_name, over) => {
    expectProtocolError(hb(over));
  });

  it('rejects wrong element counts and non-array messages', () => {
    expectProtocolError(hb({}, [0]));
    expectProtocolError(raw([1, 7, 'm1', 'm2', 5, 9]));
    expectProtocolError(raw([1, 7, 'm1', 'm2']));
    expectProtocolError(raw({ type: 'heartbeat', from: 'm1', to: 'm2', term: 5, commit: 9, ctx: new Uint8Array(0) }));
    expectProtocolError(raw('heartbeat'));
    expectProtocolError(raw(null));
    expectProtocolError(new Uint8Array(0));
  });

  it('rejects malformed entries', () => {
    const app = (entries: unknown): Uint8Array => raw([1, 5, 'a', 'b', 2, 10, 1, 10, entries]);
    expect(decodeRaftMessage(app([[2, 0, new Uint8Array(1)], [2, 1, new Uint8Array(0)]]))).toMatchObject({
      entries: [{ index: 11, term: 2, type: 0 }, { index: 12, term: 2, type: 1 }],
    });
    expectProtocolError(app('x'));
    expectProtocolError(app([[2, 0]]));
    expectProtocolError(app([[2, 2, new Uint8Array(0)]]));
    expectProtocolError(app([[2, 0, 'data']]));
    expectProtocolError(app([[-2, 0, new Uint8Array(0)]]));
    expectProtocolError(app([{ term: 2, type: 0, data: new Uint8Array(0) }]));
    // Index overflow past MAX_SAFE_INTEGER.
    expectProtocolError(raw([1, 5, 'a', 'b', 2, Number.MAX_SAFE_INTEGER, 1, 10, [[2, 0, new Uint8Array(0)]]]));
  });

  it('rejects malformed snapshots', () => {
    const snap = (voters: unknown, learners: unknown, data: unknown = new Uint8Array(3)): Uint8Array => raw([1, 9, 'a', 'b', 2, 10, 1, voters, learners, data]);
    expect(decodeRaftMessage(snap(['a', 'b'], ['c']))).toMatchObject({ snapshot: { meta: { conf: { voters: ['a', 'b'], learners: ['c'] } } } });
    expectProtocolError(snap(['a', 'a'], []));
    expectProtocolError(snap(['a'], ['a']));
    expectProtocolError(snap(['a', 3], []));
    expectProtocolError(snap('a', []));
    expectProtocolError(snap(['a'], [], 'data'));
    expectProtocolError(snap(Array.from({ length: RAFT_CODEC_LIMITS.membersMax + 1 }, (_v, i) => `n${i}`), []));
  });

  it('rejects wrong boolean fields', () => {
    expectProtocolError(raw([1, 1, 'a', 'b', 2, 1, 1, 0]));
    expectProtocolError(raw([1, 3, 'a', 'b', 2, 'no']));
  });

  it('encode refuses non-contiguous entries (programmer error)', () => {
    const m: Message = {
      type: 'app',
      from: 'a',
      to: 'b',
      term: 1,
      prevIndex: 4,
      prevTerm: 1,
      commit: 0,
      entries: [{ term: 1, index: 6, type: 0, data: new Uint8Array(0) }],
    };
    expect(() => encodeRaftMessage(m)).toThrow(/contiguous/);
  });
});

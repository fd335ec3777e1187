/**
 * The bookkeeping of `cairn scrub` rounds on the leader: commands until acknowledged, progress,
 * corrupt and missing replicas (and only those) handed back to stop counting, done only once the
 * found replicas are repaired, a server dying or the deadline failing the round, restarts,
 * repeated pages, one round per server.
 */
import { describe, expect, it } from 'vitest';
import { ScrubRounds, type ScrubView } from '../../../src/leader/scrub-rounds.js';
import { isCairnError } from '../../../src/util/errors.js';

const id = (n: number): string => n.toString(16).padStart(32, '0');
const A = id(1);
const B = id(2);
const C = id(3);
const D = id(4);

/** A view whose facts the test sets: who is alive, who holds what, live copies per chunk. */
function view(): ScrubView & { dead: Set<string>; held: Set<string>; copies: Map<string, number>; unreferenced: Set<string> } {
  const v = {
    replicas: 3,
    dead: new Set<string>(),
    held: new Set<string>(),
    copies: new Map<string, number>(),
    unreferenced: new Set<string>(),
    isAlive: (s: string) => !v.dead.has(s),
    holds: (s: string, c: string) => v.held.has(`${c}@${s}`),
    liveCopies: (c: string) => v.copies.get(c) ?? 3,
    isReferenced: (c: string) => !v.unreferenced.has(c),
  };
  return v;
}

const believed: Record<string, string[]> = { c1: [A, B, C], c2: [A, D] };

function begin(r: ScrubRounds, v: ScrubView, servers = ['c1', 'c2'], nowMs = 0, timeoutMs = 60_000): string {
  return r.start({ servers, believed: (s) => believed[s] ?? [], bytesPerSecMax: 0, timeoutMs, nowMs }, v);
}

const page = (round: string, n: number, verified: string[], corrupt: string[], done = false) => ({ round, page: n, verified, corrupt, done });

describe('ScrubRounds', () => {
  it('sends the command until the first report, then counts progress per server', () => {
    const r = new ScrubRounds({ term: 7 });
    const v = view();
    const round = begin(r, v);
    expect(round).toBe('7-1');
    expect(r.commandsFor('c1')).toEqual([{ op: 'scrub', round, bytesPerSecMax: 0 }]);
    expect(r.commandsFor('c3')).toEqual([]);
    expect(r.report('c1', page(round, 1, [], []), v)).toEqual({ active: true, bad: [] });
    expect(r.commandsFor('c1')).toEqual([]);
    expect(r.commandsFor('c2')).toHaveLength(1);
    r.report('c1', page(round, 2, [A, C], []), v);
    const s = r.status(round, v, 1);
    expect(s).toMatchObject({ round, state: 'running', error: null, checked: 2, corrupt: 0, missing: 0, repaired: 0 });
    expect(s.servers).toEqual([
      { id: 'c1', state: 'scrubbing', checked: 2, corrupt: 0, missing: 0, expected: 3 },
      { id: 'c2', state: 'waiting', checked: 0, corrupt: 0, missing: 0, expected: 2 },
    ]);
    expect(r.active()).toBe(true);
  });

  it('hands back corrupt replicas at once and, at done, missing ones the leader still counts on', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    v.held.add(`${C}@c1`); // the leader still believes c1 holds C; B was removed meanwhile (reported deleted)
    const round = begin(r, v);
    expect(r.report('c2', page(round, 1, [A], [D]), v)).toEqual({ active: true, bad: [D] });
    expect(r.report('c1', page(round, 1, [A], []), v)).toEqual({ active: true, bad: [] });
    expect(r.report('c1', page(round, 2, [], [], true), v)).toEqual({ active: false, bad: [C] });
    r.report('c2', page(round, 2, [], [], true), v);
    v.copies.set(C, 2);
    v.copies.set(D, 2);
    expect(r.status(round, v, 1)).toMatchObject({ state: 'running', checked: 3, corrupt: 1, missing: 1, repaired: 0 });
    expect(r.status(round, v, 1).servers).toEqual([
      { id: 'c1', state: 'done', checked: 1, corrupt: 0, missing: 1, expected: 3 },
      { id: 'c2', state: 'done', checked: 2, corrupt: 1, missing: 0, expected: 2 },
    ]);
  });

  it('is done only once every found replica is repaired (or lost, or unreferenced), and then its figures are frozen', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    v.held.add(`${C}@c1`);
    const round = begin(r, v);
    r.report('c1', page(round, 1, [A], [B], true), v);
    r.report('c2', page(round, 1, [A], [D], true), v);
    v.copies.set(B, 2);
    v.copies.set(C, 2);
    v.copies.set(D, 2);
    expect(r.status(round, v, 1).state).toBe('running');
    v.copies.set(B, 3);
    v.copies.set(C, 4);
    expect(r.status(round, v, 2)).toMatchObject({ state: 'running', repaired: 2 });
    v.copies.set(D, 0); // no verified copy left anywhere: cannot be repaired
    expect(r.status(round, v, 3)).toMatchObject({ state: 'done', corrupt: 2, missing: 1, repaired: 2, unrepairable: 1 });
    v.copies.set(B, 1);
    expect(r.status(round, v, 4)).toMatchObject({ state: 'done', repaired: 2, unrepairable: 1 });
    expect(r.active()).toBe(false);
    expect(r.commandsFor('c1')).toEqual([]);
    // A found replica whose chunk no file references any more needs no repair.
    const r2 = new ScrubRounds({ term: 1 });
    const v2 = view();
    const round2 = begin(r2, v2, ['c1']);
    r2.report('c1', page(round2, 1, [B, C], [A], true), v2);
    v2.copies.set(A, 2);
    expect(r2.status(round2, v2, 1).state).toBe('running');
    v2.unreferenced.add(A);
    expect(r2.status(round2, v2, 1)).toMatchObject({ state: 'done', corrupt: 1, repaired: 0, unrepairable: 0 });
  });

  it('applies a repeated page once', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    const round = begin(r, v);
    r.report('c1', page(round, 1, [A, B], []), v);
    expect(r.report('c1', page(round, 1, [A, B], []), v)).toEqual({ active: true, bad: [] });
    expect(r.status(round, v, 1).checked).toBe(2);
  });

  it('fails when a server in it dies before finishing, and tells that server to stop', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    const round = begin(r, v);
    r.report('c1', page(round, 1, [A, B, C], [], true), v);
    r.report('c2', page(round, 1, [A], []), v);
    v.dead.add('c2');
    const s = r.status(round, v, 1);
    expect(s).toMatchObject({ state: 'failed', checked: 4 });
    expect(s.error).toMatch(/c2/);
    expect(s.servers.map((x) => x.state)).toEqual(['done', 'failed']);
    expect(r.report('c2', page(round, 2, [D], [], true), v).active).toBe(false);
    // A server that died after finishing its part does not fail the round.
    const r2 = new ScrubRounds({ term: 1 });
    const v2 = view();
    const round2 = begin(r2, v2);
    r2.report('c1', page(round2, 1, [A, B, C], [], true), v2);
    r2.report('c2', page(round2, 1, [A, D], [], true), v2);
    v2.dead.add('c1');
    expect(r2.status(round2, v2, 1).state).toBe('done');
  });

  it('fails past its deadline', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    const round = begin(r, v, ['c1'], 1000, 5000);
    expect(r.status(round, v, 5999).state).toBe('running');
    expect(r.status(round, v, 6000)).toMatchObject({ state: 'failed', error: expect.stringMatching(/time limit/) as unknown });
  });

  it('starts a restarted server over, keeping what it found before', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    const round = begin(r, v, ['c1']);
    r.report('c1', page(round, 1, [A], [B]), v);
    r.restarted('c1', () => [A, C]);
    expect(r.commandsFor('c1')).toHaveLength(1);
    expect(r.status(round, v, 1).servers[0]).toEqual({ id: 'c1', state: 'waiting', checked: 0, corrupt: 1, missing: 0, expected: 2 });
    // The new process numbers its pages from 1 again.
    r.report('c1', page(round, 1, [A, C], [], true), v);
    expect(r.status(round, v, 1)).toMatchObject({ state: 'done', checked: 2, corrupt: 1 });
  });

  it('runs one round per server: the same servers join it, overlapping ones are refused', () => {
    const r = new ScrubRounds({ term: 1 });
    const v = view();
    const round = begin(r, v);
    expect(begin(r, v, ['c2', 'c1'])).toBe(round);
    let err: unknown;
    try {
      begin(r, v, ['c2']);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'PreconditionFailed')).toBe(true);
    expect(begin(r, v, ['c3'])).toBe('1-2');
    // Without an id: the running round; NotFound for an unknown one.
    expect(r.status(undefined, v, 1).round).toBe(round);
    expect(() => r.status('9-9', v, 1)).toThrow(/no scrub round 9-9/);
    expect(() => new ScrubRounds({ term: 2 }).status(undefined, v, 1)).toThrow(/no scrub round/);
  });
});

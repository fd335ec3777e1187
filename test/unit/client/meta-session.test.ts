import { afterEach, describe, expect, it } from 'vitest';
import { MetaSession } from '../../../src/client/meta-session.js';
import type { Rng } from '../../../src/env/rng.js';
import { systemClock, systemRng, systemTimers } from '../../../src/env/system.js';
import { findFreePortRange } from '../../../src/net/free-ports.js';
import { RpcClient } from '../../../src/net/rpc-client.js';
import { CairnError } from '../../../src/util/errors.js';
import { TOKEN, startServer } from '../net/helpers.js';

// MetaSession over real TCP: how long a call keeps trying depends on whether anything answers.

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

function session(addrs: string[], init: { retryDeadlineMs: number; unreachableGiveUpMs: number }, rng: Rng = systemRng): MetaSession {
  const s = new MetaSession(
    { dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken: TOKEN, connectTimeoutMs: 1000 }), clock: systemClock, timers: systemTimers, rng },
    { addrs, callTimeoutMs: 1000, ...init },
  );
  cleanups.push(() => s.close());
  return s;
}

async function failure(p: Promise<unknown>): Promise<{ err: CairnError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return { err: err as CairnError, ms: Date.now() - t0 };
  }
  throw new Error('expected a rejection');
}

describe('MetaSession', () => {
  it('gives up soon, naming the addresses, when no metadata server accepts a connection', async () => {
    const base = await findFreePortRange(2, (n) => n);
    const addrs = [`127.0.0.1:${base}`, `127.0.0.1:${base + 1}`];
    const { err, ms } = await failure(session(addrs, { retryDeadlineMs: 20_000, unreachableGiveUpMs: 300 }).call('fs.stat', { path: '/' }, { idempotent: true }));
    expect(err.code).toBe('Unavailable');
    expect(err.message).toContain(`no metadata server reachable at ${addrs.join(',')}`);
    expect(ms).toBeLessThan(10_000);
  });

  it('keeps retrying until the retry deadline while a server answers (a leader election, not an outage)', async () => {
    let calls = 0;
    const { addr, server } = await startServer({
      rpc: async () => {
        calls++;
        throw new CairnError('Unavailable', 'no leader yet');
      },
    });
    cleanups.push(() => server.close());
    const base = await findFreePortRange(1, (n) => n);
    const { err, ms } = await failure(
      session([addr, `127.0.0.1:${base}`], { retryDeadlineMs: 1500, unreachableGiveUpMs: 100 }).call('fs.stat', { path: '/' }, { idempotent: true }),
    );
    expect(err.code).toBe('Unavailable');
    expect(err.message).toContain('no metadata leader answered within 1500 ms');
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(calls).toBeGreaterThan(1);
  });

  it('hands StaleRing to the caller at once, even for an idempotent call: the same request would be refused again', async () => {
    let calls = 0;
    const { addr, server } = await startServer({
      rpc: async () => {
        calls++;
        throw new CairnError('StaleRing', 'placed with ring 3, the cluster is at 4', { ringVersion: 4 });
      },
    });
    cleanups.push(() => server.close());
    const { err, ms } = await failure(session([addr], { retryDeadlineMs: 5000, unreachableGiveUpMs: 1000 }).call('fs.commit', { path: '/x' }, { idempotent: true }));
    expect(err.code).toBe('StaleRing');
    expect(err.detail).toEqual({ ringVersion: 4 });
    expect(calls).toBe(1);
    expect(ms).toBeLessThan(1000);
  });

  it('re-sends a call that is not idempotent only when it was certainly not applied (no connection, ProposalDropped)', async () => {
    const seen: string[] = [];
    const { addr, server } = await startServer({
      rpc: async (method) => {
        seen.push(method);
        if (method === 'cluster.remove') throw new CairnError('Timeout', 'outcome unknown');
        // Dropped before it was appended: not applied, so the session may send it again.
        if (method === 'fs.bad' && seen.filter((m) => m === 'fs.bad').length === 1) throw new CairnError('ProposalDropped', 'leadership is being transferred');
        return { ok: true };
      },
    });
    cleanups.push(() => server.close());
    const base = await findFreePortRange(1, (n) => n);
    const first: Rng = { next: () => 0, int: () => 0 }; // the dead address is tried first
    const s = session([`127.0.0.1:${base}`, addr], { retryDeadlineMs: 5000, unreachableGiveUpMs: 5000 }, first);
    // Nothing listens at the first address: the request was never sent, so sending it on is safe.
    expect(await s.call('cluster.drain', { id: 'c1' }, { idempotent: false })).toEqual({ ok: true });
    // A Timeout from the server leaves the outcome unknown: not sent again.
    const { err } = await failure(s.call('cluster.remove', { id: 'c1' }, { idempotent: false }));
    expect(err.code).toBe('Timeout');
    expect(await s.call('fs.bad', { id: 'x' }, { idempotent: false })).toEqual({ ok: true });
    expect(seen).toEqual(['cluster.drain', 'cluster.remove', 'fs.bad', 'fs.bad']);
  });
});

describe('MetaSession member list', () => {
  /** Fake servers by address: m1 leads a group whose membership the test sets. */
  function fakeGroup(): { dialled: string[]; conf: { voters: string[]; learners: string[] }; addrs: Record<string, string>; leaderAddr: string; dial: (addr: string) => { call: (method: string) => Promise<unknown>; close: () => void } } {
    const g = {
      dialled: [] as string[],
      conf: { voters: ['m1', 'm2', 'm3'], learners: [] as string[] },
      addrs: { m1: 'h:1', m2: 'h:2', m3: 'h:3' } as Record<string, string>,
      leaderAddr: 'h:1',
      dial: (addr: string) => {
        g.dialled.push(addr);
        return {
          call: async (method: string): Promise<unknown> => {
            if (addr !== g.leaderAddr) throw new CairnError('NotLeader', 'not the leader', { leader: 'x', leaderAddr: g.leaderAddr });
            if (method === 'raft.status') {
              return { id: 'm1', term: 2, role: 'leader', leader: 'm1', commit: 9, applied: 9, lastIndex: 9, conf: g.conf, addrs: { ...g.addrs, gone: 'h:99' } };
            }
            return {};
          },
          close: () => undefined,
        };
      },
    };
    return g;
  }
  const fixedRng: Rng = { next: () => 0, int: () => 0 };

  it('takes the leader\'s membership after a call (a removed server is dropped, an added one dialled), at most every memberRefreshMs', async () => {
    const g = fakeGroup();
    const s = new MetaSession({ dial: g.dial, clock: systemClock, timers: systemTimers, rng: fixedRng }, { addrs: ['h:1', 'h:2', 'h:3'], memberRefreshMs: 50 });
    cleanups.push(() => s.close());
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.members()).toEqual(['h:1', 'h:2', 'h:3']);
    g.conf = { voters: ['m1', 'm2', 'm4'], learners: ['m5'] };
    g.addrs = { m1: 'h:1', m2: 'h:2', m4: 'h:4', m5: 'h:5' };
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.members()).toEqual(['h:1', 'h:2', 'h:3']); // not yet: refreshed less than 50 ms ago
    await new Promise((r) => setTimeout(r, 60));
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.members()).toEqual(['h:1', 'h:2', 'h:4', 'h:5']); // members only: not the stale 'gone' address
    // The leader moves to the added server: the session follows and keeps dialling members only.
    g.leaderAddr = 'h:4';
    g.dialled.length = 0;
    await s.call('fs.stat', {}, { idempotent: true });
    expect(g.dialled).not.toContain('h:3');
  });

  it('answered by a follower that forwards: moves to the leader once raft.status names it; stays when the leader cannot be reached', async () => {
    // h:1 is a follower that forwards every client call (answers it) and names m2 (h:2) as leader.
    const calls: string[] = [];
    let leaderDown = false;
    const dial = (addr: string) => ({
      call: async (method: string): Promise<unknown> => {
        if (addr === 'h:2' && leaderDown) throw new CairnError('Unavailable', 'connect ECONNREFUSED', { connectFailed: true });
        calls.push(`${addr} ${method}`);
        if (method === 'raft.status') {
          const role = addr === 'h:2' ? 'leader' : 'follower';
          return { id: addr === 'h:2' ? 'm2' : 'm1', term: 2, role, leader: 'm2', commit: 9, applied: 9, lastIndex: 9, conf: { voters: ['m1', 'm2', 'm3'], learners: [] }, addrs: { m1: 'h:1', m2: 'h:2', m3: 'h:3' } };
        }
        // A forwarded call takes longer than the session's check of who leads.
        if (addr !== 'h:2') await new Promise((r) => setTimeout(r, 30));
        return {};
      },
      close: () => undefined,
    });
    const s = new MetaSession({ dial, clock: systemClock, timers: systemTimers, rng: fixedRng }, { addrs: ['h:1', 'h:2', 'h:3'], memberRefreshMs: 60_000 });
    cleanups.push(() => s.close());
    await s.call('fs.stat', {}, { idempotent: true });
    expect(calls[0]).toBe('h:1 fs.stat');
    // The next call leaves at once (a client's next request), still to the follower; the check
    // answers while it is out, and its late answer must not put the session back on the follower.
    await s.call('fs.stat', {}, { idempotent: true });
    calls.length = 0;
    for (let i = 0; i < 3; i++) await s.call('fs.stat', {}, { idempotent: true });
    expect(calls).toEqual(['h:2 fs.stat', 'h:2 fs.stat', 'h:2 fs.stat']);

    // A second session that cannot reach the leader keeps going through the follower.
    leaderDown = true;
    const cut = new MetaSession({ dial, clock: systemClock, timers: systemTimers, rng: fixedRng }, { addrs: ['h:1', 'h:2', 'h:3'], memberRefreshMs: 60_000 });
    cleanups.push(() => cut.close());
    await cut.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 20));
    calls.length = 0;
    for (let i = 0; i < 3; i++) await cut.call('fs.stat', {}, { idempotent: true });
    expect(calls).toEqual(['h:1 fs.stat', 'h:1 fs.stat', 'h:1 fs.stat']);
  });

  it('a confirmed leader that lost an election and now forwards: the session asks again after a while and moves to the new leader', async () => {
    let leader = 'h:1';
    const calls: string[] = [];
    const dial = (addr: string) => ({
      call: async (method: string): Promise<unknown> => {
        calls.push(`${addr} ${method}`);
        if (method === 'raft.status') {
          const id = `m${addr.slice(2)}`;
          return { id, term: 2, role: addr === leader ? 'leader' : 'follower', leader: `m${leader.slice(2)}`, commit: 9, applied: 9, lastIndex: 9, conf: { voters: ['m1', 'm2', 'm3'], learners: [] }, addrs: { m1: 'h:1', m2: 'h:2', m3: 'h:3' } };
        }
        return {}; // a follower forwards: every member answers
      },
      close: () => undefined,
    });
    let now = 0;
    const clock = { nowMs: () => now };
    const s = new MetaSession({ dial, clock, timers: systemTimers, rng: fixedRng }, { addrs: ['h:1', 'h:2', 'h:3'], memberRefreshMs: 3_600_000 });
    cleanups.push(() => s.close());
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 20)); // h:1 confirmed as the leader
    leader = 'h:3'; // an election: h:1 now forwards
    now += 2000;
    calls.length = 0;
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual(['h:1 fs.stat']); // confirmed a moment ago: not asked again yet
    now += 10_000;
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 20));
    calls.length = 0;
    await s.call('fs.stat', {}, { idempotent: true });
    expect(calls).toEqual(['h:3 fs.stat']);
  });

  it('without memberRefreshMs keeps its addresses, but adds a leader address a NotLeader hint names', async () => {
    const g = fakeGroup();
    g.leaderAddr = 'h:7';
    const s = new MetaSession({ dial: g.dial, clock: systemClock, timers: systemTimers, rng: fixedRng }, { addrs: ['h:1', 'h:2'] });
    cleanups.push(() => s.close());
    await s.call('fs.stat', {}, { idempotent: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(s.members()).toEqual(['h:1', 'h:2', 'h:7']);
    expect(g.dialled.filter((a) => a === 'h:1')).toHaveLength(1);
  });
});

/** MetaLeader: dispatch (roles, bodies), NotLeader on a follower, leadership lost mid-call, the liveness ticker. */
import { describe, expect, it } from 'vitest';
import { META_METHODS, META_REQUEST_DECODERS } from '../../../src/proto/meta-requests.js';
import { CLIENT, harness, server, settled } from './helpers.js';

const ID = 'ab'.repeat(16);
const S = (seq: number): unknown[] => ['client-1', seq, 0];

/** Methods any server answers from its own state, leader or not. */
const ANY_SERVER = new Set(['fs.statLocal', 'raft.status']);

/** A valid body per method (the servers and files they name need not exist). */
const GOOD: Record<string, unknown> = {
  'fs.stat': { path: '/f' },
  'fs.list': { path: '/' },
  'fs.walk': { path: '/' },
  'fs.mkdir': { path: '/d', s: S(1) },
  'fs.rm': { path: '/d', s: S(2) },
  'fs.mv': { from: '/a', to: '/b', s: S(3) },
  'fs.copy': { from: '/a', to: '/c', s: S(6) },
  'fs.concat': { dir: '/u', names: ['p1'], to: '/d', s: S(61) },
  'fs.alloc': { count: 1 },
  'fs.retarget': { id: ID, exclude: [] },
  'fs.commit': { path: '/f', size: 0, etag: 'e', chunks: [], s: S(4) },
  'fs.put': { path: '/g', data: new Uint8Array(0), crc: 0, s: S(5) },
  'fs.open': { path: '/f' },
  'fs.bad': { id: ID, server: 'c1' },
  'cluster.status': {},
  'fs.statLocal': { paths: ['/'] },
  'cs.register': { addr: 'c1.chunk:8000', zone: 'z', capacityBytes: 1 },
  'cs.heartbeat': { usedBytes: 0, capacityBytes: 1, freeBytes: 1, chunks: 0, full: false },
  'cs.reportBegin': { report: 1 },
  'cs.reportPage': { report: 1, ids: [] },
  'cs.reportEnd': { report: 1 },
  'cs.update': { added: [], removed: [] },
  'cs.work': { waitMs: 0 },
  'raft.status': {},
  'cluster.drain': { id: 'c1' },
  'cluster.remove': { id: 'c1' },
  'cluster.repair': {},
  'cluster.scrub': {},
  'cluster.scrubStatus': { round: '1-1' },
  'cs.scrubReport': { round: '1-1', page: 1, verified: [], corrupt: [], done: false },
  'cluster.backupOpen': {},
  'cluster.backupNext': { cursor: 'c', seq: 1 },
  'cluster.backupClose': { cursor: 'c' },
  'meta.add': { id: 'm4', addr: 'h:4' },
  'meta.remove': { id: 'm4' },
  'meta.transferLeader': {},
};

describe('MetaLeader dispatch', () => {
  it('refuses unknown methods, and chunk-server methods from clients, before reading the body', async () => {
    const h = harness();
    expect((await h.refusal('fs.nope')).code).toBe('InvalidArgument');
    expect((await h.refusal('toString')).code).toBe('InvalidArgument');
    for (const m of META_METHODS.filter((m) => m.startsWith('cs.'))) {
      const err = await h.refusal(m, 'not a map', CLIENT);
      expect(err.code, m).toBe('Unauthorized');
      expect((await h.refusal(m, GOOD[m], { role: 'service' })).code, m).toBe('Unauthorized');
    }
    expect(h.raft.proposals + h.raft.reads).toBe(0);
  });

  it('decodes every body with its method decoder: a malformed one is refused naming the field, with no effect', async () => {
    const h = harness();
    for (const m of META_METHODS) {
      expect((await h.refusal(m, [1, 2], server('c1'))).code, m).toBe('InvalidArgument');
      expect(() => META_REQUEST_DECODERS[m](GOOD[m])).not.toThrow();
    }
    const err = await h.refusal('fs.alloc', { count: 65 });
    expect(err.code).toBe('InvalidArgument');
    expect(err.message).toMatch(/^count /);
    // A heartbeat with one bad field records nothing (the server stays unknown to this leader).
    await h.call('cs.register', GOOD['cs.register'], server('c1'));
    const before = h.raft.proposals;
    expect((await h.refusal('cs.heartbeat', { ...(GOOD['cs.heartbeat'] as object), usedBytes: 7, copyFailed: ['zz'] }, server('c1'))).message).toMatch(/^copyFailed /);
    expect(h.raft.proposals).toBe(before);
    const st = (await h.call('cluster.status')) as { chunkServers: Array<{ id: string; used: number }> };
    expect(st.chunkServers).toEqual([expect.objectContaining({ id: 'c1', used: 0 })]);
  });

  it('answers NotLeader with the leader hint on a follower, for every method but fs.statLocal and raft.status', async () => {
    const h = harness();
    h.raft.stepDown('m2');
    for (const m of META_METHODS) {
      if (ANY_SERVER.has(m)) {
        await expect(h.call(m, GOOD[m], server('c1'))).resolves.toBeDefined();
        continue;
      }
      const err = await h.refusal(m, GOOD[m], server('c1'));
      expect(err.code, m).toBe('NotLeader');
      expect(err.detail, m).toEqual({ leader: 'm2', leaderAddr: 'm2.meta:7000' });
    }
    expect(h.raft.proposals + h.raft.reads).toBe(0);
    expect(await h.call('fs.statLocal', { paths: ['/', '/nope'] })).toEqual({ applied: 0, types: ['dir', null] });
    expect(await h.call('raft.status')).toMatchObject({ role: 'follower', leader: 'm2' });
  });
});

describe('MetaLeader when leadership is lost mid-call', () => {
  it('a read that completes after leadership was lost fails NotLeader, and the old term soft state is gone', async () => {
    const h = harness();
    await h.joinServers(['c1', 'c2', 'c3']);
    expect(await h.call('cluster.repair')).toMatchObject({ ready: true, reportsPending: [] });
    const poll = h.call('cs.work', { waitMs: 5000 }, server('c1'));
    const open = h.raft.hold();
    const stat = h.call('fs.stat', { path: '/' });
    const status = h.call('cluster.status');
    expect(await settled(stat)).toBe(false);
    h.raft.stepDown('m3');
    open();
    await expect(stat).rejects.toMatchObject({ code: 'NotLeader', detail: { leader: 'm3' } });
    await expect(status).rejects.toMatchObject({ code: 'NotLeader' });
    // The poll held by the ended term was answered (empty) so its server looks for the new leader.
    expect(await poll).toEqual({ commands: [] });
    expect(h.time.pending()).toBe(0);
    // Leading again (a newer term): nothing of the old term's registry is left.
    h.raft.elect();
    expect(await h.call('cluster.repair')).toMatchObject({ ready: false, reportsPending: ['c1', 'c2', 'c3'], copiesScheduled: 0 });
  });

  it('a proposal applied after leadership was lost answers NotLeader where the call needs soft state', async () => {
    const h = harness();
    const open = h.raft.hold();
    const reg = h.call('cs.register', { addr: 'c1.chunk:8000', zone: 'z1', capacityBytes: 1 }, server('c1'));
    const mkdir = h.call('fs.mkdir', { path: '/d', s: S(1) });
    expect(await settled(reg)).toBe(false);
    h.raft.stepDown();
    open();
    await expect(reg).rejects.toMatchObject({ code: 'NotLeader' });
    // A namespace write committed before the loss is done: its outcome is the answer.
    expect(await mkdir).toEqual({});
    expect(h.raft.machine.stat('/d')).toMatchObject({ ok: true });
    expect(h.raft.ring().server('c1')).toBeDefined();
  });

  it('a newer term of this same server starts from empty soft state', async () => {
    const h = harness();
    await h.joinServers(['c1']);
    expect(await h.call('cluster.repair')).toMatchObject({ reportsPending: [] });
    h.raft.elect(); // re-elected at once: a newer term, never a follower in between
    expect(await h.call('cluster.repair')).toMatchObject({ reportsPending: ['c1'] });
  });
});

describe('MetaLeader ticker', () => {
  it('declares a chunk server silent past deadAfterMs dead through Raft, and back up on its next heartbeat', async () => {
    const h = harness({ tickMs: 500 });
    await h.joinServers(['c1', 'c2']);
    h.leader.start();
    const hb = { usedBytes: 0, capacityBytes: 1, freeBytes: 1, chunks: 0, full: false };
    for (let i = 0; i < 24; i++) {
      h.time.advance(500);
      await h.call('cs.heartbeat', hb, server('c1'));
    }
    await settled(Promise.resolve());
    expect(h.raft.ring().server('c1')?.state).toBe('up');
    expect(h.raft.ring().server('c2')?.state).toBe('dead');
    expect(await h.call('cs.heartbeat', hb, server('c2'))).toMatchObject({ registered: true, needReport: false });
    await settled(Promise.resolve());
    expect(h.raft.ring().server('c2')?.state).toBe('up');
    h.leader.stop();
    expect(h.time.pending()).toBe(0);
  });

  it('declares a server dead at the moment it has been silent deadAfterMs, between ticks, and not if it is heard from first', async () => {
    const h = harness({ tickMs: 500, deadAfterMs: 10_000 });
    await h.joinServers(['c1', 'c2', 'c3']); // heard from at 0: dead at 10,000 if silent
    const hb = { usedBytes: 0, capacityBytes: 1, freeBytes: 1, chunks: 0, full: false };
    h.time.advance(250);
    h.leader.start(); // ticks at 750, 1,250, …, 9,750, 10,250
    for (let t = 250; t < 9_750; t += 500) {
      h.time.advance(500);
      await h.call('cs.heartbeat', hb, server('c1'));
    }
    h.time.advance(9_900 - 9_750);
    await h.call('cs.heartbeat', hb, server('c3')); // c3 just in time: now dead at 19,900
    h.time.advance(10_000 - 1 - 9_900);
    await settled(Promise.resolve());
    expect(['c1', 'c2', 'c3'].map((id) => h.raft.ring().server(id)?.state)).toEqual(['up', 'up', 'up']);
    h.time.advance(1); // 10,000: c2 has been silent 10 s, 250 ms before the next tick
    await settled(Promise.resolve());
    expect(['c1', 'c2', 'c3'].map((id) => h.raft.ring().server(id)?.state)).toEqual(['up', 'dead', 'up']);
    // The tick at 19,750 sets a check for c3's moment (19,900); stopping cancels it.
    h.time.advance(250);
    for (let t = 10_250; t < 19_750; t += 500) {
      h.time.advance(500);
      await h.call('cs.heartbeat', hb, server('c1'));
    }
    h.time.advance(50);
    expect(h.time.pending()).toBe(2); // the ticker and the check
    h.leader.stop();
    expect(h.time.pending()).toBe(0);
  });

  it('on a follower drops the term: held polls are answered', async () => {
    const h = harness();
    await h.joinServers(['c1']);
    const poll = h.call('cs.work', { waitMs: 30_000 }, server('c1'));
    expect(await settled(poll)).toBe(false);
    h.raft.stepDown();
    h.leader.tick();
    expect(await poll).toEqual({ commands: [] });
  });
});

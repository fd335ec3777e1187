import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/env/rng.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import { DEFAULT_RAFT_CONFIG, EntryType, type Message, type MsgApp, type Ready } from '../../src/raft/types.js';
import { MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';
import { isCairnError } from '../../src/util/errors.js';
import { Cluster, bytes, storageWithLog, termsOf, type ClusterOptions } from './harness.js';

const noLease = { preVote: false, checkQuorum: false };

/** Replace node ids' storages with the given logs (all in term `hardTerm`) and start them. */
function clusterWithLogs(logs: Record<string, number[]>, hardTerm: number, opts: ClusterOptions = noLease): Cluster {
  const ids = Object.keys(logs);
  const c = new Cluster(ids, opts);
  for (const id of ids) c.add(id, storageWithLog(ids, logs[id]!, hardTerm));
  return c;
}

describe('log replication and repair', () => {
  it('repairs every follower of Figure 7 to the leader’s log', () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const c = clusterWithLogs(
      {
        L: leaderLog,
        a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
        b: [1, 1, 1, 4],
        c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        e: [1, 1, 1, 4, 4, 4, 4],
        f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
      },
      7,
    );
    c.run(`
      campaign L
      stabilize
      expect leader L
      expect term L 8
      propose L x
      stabilize
      expect commit L 12
    `);
    const want = [...leaderLog, 8, 8];
    for (const n of c.nodes.values()) {
      expect(termsOf(n.storage), n.id).toEqual(want);
      expect(n.node.status().commit, n.id).toBe(12);
      expect(n.applied.at(-1)).toBe('x');
    }
  });

  it('fast backtracking skips a whole divergent term per round trip', () => {
    const common = [1, 1, 1];
    const c = clusterWithLogs(
      {
        '1': [...common, ...Array<number>(50).fill(3)],
        '2': [...common, ...Array<number>(50).fill(3)],
        '3': [...common, ...Array<number>(60).fill(2)],
      },
      3,
    );
    c.run(`
      campaign 1
      stabilize
      expect leader 1
    `);
    const rejects = c.sent.filter((m) => m.type === 'app-resp' && m.from === '3' && m.reject);
    expect(rejects.length).toBeLessThanOrEqual(2);
    expect(termsOf(c.get('3').storage)).toEqual(termsOf(c.get('1').storage));
  });

  it('commits only entries of the current term by counting replicas (Figure 8)', () => {
    // (c) of Figure 8: S1 leads again in term 4 holding index 2 from term 2; S5 has index 2 from term 3.
    const c = clusterWithLogs({ s1: [1, 2], s2: [1, 2], s3: [1], s4: [1], s5: [1, 3] }, 3, { ...noLease, maxMsgBytes: 1 });
    c.isolate('s4');
    c.isolate('s5');
    // s3 may receive index 2 but never the term-4 entry at index 3.
    c.dropWhere = (m) => m.type === 'app' && m.to === 's3' && m.entries.some((e) => e.index === 3) && c.get('s3').node.status().lastIndex >= 2;
    c.get('s1').node.campaign();
    // s4 is isolated, so s1 needs s2 and s3: deliver votes without the drops on vote traffic.
    c.stabilize();
    expect(c.get('s1').node.status()).toMatchObject({ role: 'leader', term: 4 });
    const pr = c.get('s1').node.status().progress!;
    expect(pr['s2']!.match).toBe(3);
    expect(pr['s3']!.match).toBe(2);
    // Index 2 is on s1, s2, s3 — a majority — but it is from term 2: not committed.
    expect(c.get('s1').node.status().commit).toBe(0);
    c.dropWhere = null;
    c.tickAll(2); // heartbeat → s3 asks for more → index 3 replicated → both commit
    expect(c.get('s1').node.status().commit).toBe(3);
    expect(c.get('s3').node.status().commit).toBe(3);
  });

  it('batches entries up to maxMsgBytes per MsgApp', () => {
    const c = new Cluster(['1', '2'], { maxMsgBytes: 250 });
    c.run('campaign 1\nstabilize');
    c.isolate('2');
    for (let i = 0; i < 10; i++) c.propose('1', 'x'.repeat(100));
    c.stabilize();
    c.heal();
    c.sent = [];
    c.tickAll(1);
    c.stabilize();
    const apps = c.sent.filter((m): m is MsgApp => m.type === 'app' && m.entries.length > 0);
    expect(apps.length).toBeGreaterThanOrEqual(4);
    for (const m of apps) expect(m.entries.length).toBeLessThanOrEqual(2);
    expect(c.get('2').applied).toHaveLength(10);
  });

  it('pipelines up to inflightMsgsMax MsgApp in replicate state, one at a time in probe state', () => {
    const c = new Cluster(['1', '2', '3'], { inflightMsgsMax: 3 });
    c.run('campaign 1\nstabilize');
    expect(c.get('1').node.status().progress!['2']!.state).toBe('replicate');
    c.drop('2', '1'); // 2's acks are lost
    c.sent = [];
    for (let i = 0; i < 6; i++) {
      c.propose('1', `p${i}`);
      c.stabilize();
    }
    const to2 = c.sent.filter((m) => m.type === 'app' && m.to === '2' && m.entries.length > 0);
    expect(to2).toHaveLength(3);
    // Unreachable: back to probe; now a single message until it answers.
    c.get('1').node.reportUnreachable('2');
    expect(c.get('1').node.status().progress!['2']!.state).toBe('probe');
    c.sent = [];
    c.tickAll(3);
    const probes = c.sent.filter((m) => m.type === 'app' && m.to === '2' && m.entries.length > 0);
    expect(probes.length).toBeLessThanOrEqual(3); // at most one per heartbeat answer, and 2's answers are lost
    c.heal();
    c.tickAll(2);
    expect(c.get('2').applied).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
  });

  it('every commit advance of one turn reaches each follower in one MsgApp, sent at the next ready()', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    const a = c.propose('1', 'a');
    c.process('1');
    const b = c.propose('1', 'b');
    c.process('1');
    c.deliver(); // both appends reach both followers
    c.process('2');
    c.process('3');
    const acks = c.queue.filter((m) => m.type === 'app-resp' && !m.reject).map((m) => (m.type === 'app-resp' ? m.index : 0));
    expect(acks).toEqual([a.index, b.index, a.index, b.index]);
    c.sent = [];
    c.deliver(); // the leader steps all four: its commit index moves to a, then to b
    expect(c.get('1').node.status().commit).toBe(b.index);
    c.process('1');
    const apps = c.sent.filter((m) => m.type === 'app');
    expect(apps.map((m) => m.to).sort()).toEqual(['2', '3']);
    for (const m of apps) expect(m).toMatchObject({ commit: b.index, entries: [] });
  });

  it('heartbeats carry min(commit, match)', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    c.isolate('3');
    c.propose('1', 'a');
    c.stabilize();
    c.heal();
    c.sent = [];
    c.tick('1', 1);
    c.processAll();
    const hb = c.queue.filter((m) => m.type === 'heartbeat');
    expect(hb.find((m) => m.to === '2')).toMatchObject({ commit: 2 });
    expect(hb.find((m) => m.to === '3')).toMatchObject({ commit: 1 });
  });

  it('refuses proposals beyond uncommittedBytesMax with ProposalDropped, and on followers with NotLeader', () => {
    const c = new Cluster(['1', '2', '3'], { uncommittedBytesMax: 1000 });
    c.run('campaign 1\nstabilize');
    c.isolate('1');
    let dropped = 0;
    for (let i = 0; i < 20; i++) {
      try {
        c.propose('1', 'y'.repeat(100));
      } catch (e) {
        expect(isCairnError(e, 'ProposalDropped')).toBe(true);
        dropped++;
      }
    }
    expect(dropped).toBe(10);
    try {
      c.propose('2', 'z');
      expect.unreachable();
    } catch (e) {
      expect(isCairnError(e, 'NotLeader')).toBe(true);
      expect((e as { detail: unknown }).detail).toEqual({ leader: '1' });
    }
  });
});

describe('the Ready protocol', () => {
  const cfg = (id: string) => ({ ...DEFAULT_RAFT_CONFIG, id, applied: 0, preVote: false, checkQuorum: false });
  const app = (from: string, term: number, prevIndex: number, prevTerm: number, terms: number[], commit = 0): Message => ({
    type: 'app',
    from,
    to: 'f',
    term,
    prevIndex,
    prevTerm,
    commit,
    entries: terms.map((t, i) => ({ term: t, index: prevIndex + 1 + i, type: EntryType.Normal, data: bytes(`${t}`) })),
  });
  const persist = (s: MemoryRaftStorage, rd: Ready) => void s.save(rd.hardState, rd.entries, rd.mustSync);

  it('advance marks stable only what is still in the log (index AND term), when a new leader truncated meanwhile', () => {
    const s = new MemoryRaftStorage();
    void s.bootstrap({ voters: ['a', 'b', 'f'], learners: [] });
    const f = new RaftNode(cfg('f'), s, new SeededRng(1));
    f.step(app('a', 1, 0, 0, [1, 1, 1]));
    const rd1 = f.ready();
    expect(rd1.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    // Between ready() and advance(): leader b of term 2 overwrites index 2 onward.
    f.step(app('b', 2, 1, 1, [2]));
    persist(s, rd1);
    f.advance(rd1);
    const rd2 = f.ready();
    expect(rd2.entries.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
    expect(rd2.messages).toContainEqual(expect.objectContaining({ type: 'app-resp', to: 'b', index: 2, reject: false }));
    persist(s, rd2);
    f.advance(rd2);
    expect(termsOf(s)).toEqual([1, 2]);
    expect(f.status().lastIndex).toBe(2);
    expect(f.hasReady()).toBe(false);
  });

  it('never hands out the same entries or committed entries twice', () => {
    const s = new MemoryRaftStorage();
    void s.bootstrap({ voters: ['a', 'f'], learners: [] });
    const f = new RaftNode(cfg('f'), s, new SeededRng(1));
    f.step(app('a', 1, 0, 0, [1, 1], 2));
    const rd1 = f.ready();
    expect(rd1.entries).toHaveLength(2);
    expect(rd1.committedEntries).toHaveLength(2);
    f.step(app('a', 1, 2, 1, [1], 3));
    const rd2 = f.ready(); // before advance(rd1)
    expect(rd2.entries.map((e) => e.index)).toEqual([3]);
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([3]);
    persist(s, rd1);
    persist(s, rd2);
    f.advance(rd1);
    f.advance(rd2);
    expect(f.status()).toMatchObject({ applied: 3, commit: 3, lastIndex: 3 });
    expect(f.hasReady()).toBe(false);
  });

  it('the leader counts its own entries toward commit only once persisted (advance)', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    const l = c.get('1');
    c.isolate('3');
    c.propose('1', 'a');
    const rd = l.node.ready();
    expect(rd.entries).toHaveLength(1);
    // 2 acknowledges before the leader's own write completes: 1 of 3 durable copies is not a quorum.
    void l.storage.save(rd.hardState, rd.entries, true);
    for (const m of rd.messages) c.get(m.to).node.step(m);
    c.process('2');
    for (const m of c.queue.splice(0)) if (m.to === '1') l.node.step(m);
    // 2's ack plus the leader's own copy would be a quorum, but the leader's write is not yet reported.
    expect(l.node.status().commit).toBe(1);
    l.node.advance(rd);
    expect(l.node.status().commit).toBe(2);
  });

  it('takeCommitted: a leader hands out its previous batch, acknowledged during the next write, once', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    const l = c.get('1');
    const base = l.node.status().commit;
    c.propose('1', 'a');
    const rd1 = l.node.ready();
    void l.storage.save(rd1.hardState, rd1.entries, true);
    for (const m of rd1.messages) c.get(m.to).node.step(m);
    l.node.advance(rd1);
    // The next batch's write is under way when 2's acknowledgement of the first arrives.
    c.propose('1', 'b');
    const rd2 = l.node.ready();
    expect(rd2.entries.map((e) => e.index)).toEqual([base + 2]);
    expect(l.node.takeCommitted()).toEqual([]);
    c.process('2');
    for (const m of c.queue.splice(0)) if (m.to === '1' && m.from === '2') l.node.step(m);
    expect(l.node.status().commit).toBe(base + 1);
    const taken = l.node.takeCommitted();
    expect(taken.map((e) => e.index)).toEqual([base + 1]);
    expect(l.node.takeCommitted()).toEqual([]);
    // Once the write is done, the next Ready does not hand the taken entry out a second time.
    void l.storage.save(rd2.hardState, rd2.entries, true);
    l.node.advance(rd2);
    const rd3 = l.node.ready();
    expect(rd3.committedEntries.map((e) => e.index)).not.toContain(base + 1);
    expect(l.node.status().applied).toBeGreaterThanOrEqual(base + 1);
  });

  it('takeCommitted: a follower never hands out an entry of the write under way, nor a durable entry a newer one replaces', () => {
    const s = new MemoryRaftStorage();
    void s.bootstrap({ voters: ['a', 'b', 'f'], learners: [] });
    const f = new RaftNode(cfg('f'), s, new SeededRng(1));
    // Durable: 1 (term 1, committed) and 2, 3 (term 1, not committed).
    f.step(app('a', 1, 0, 0, [1, 1, 1], 1));
    const rd1 = f.ready();
    persist(s, rd1);
    f.advance(rd1);
    // a appends 4; that write is under way when leader b of term 2 replaces 2 and 3 and commits them.
    f.step(app('a', 1, 3, 1, [1], 1));
    const rd2 = f.ready();
    expect(rd2.entries.map((e) => e.index)).toEqual([4]);
    f.step(app('b', 2, 1, 1, [2, 2], 3));
    expect(f.status().commit).toBe(3);
    // The durable 2 and 3 are the stale ones; the committed ones are in no write yet.
    expect(f.takeCommitted()).toEqual([]);
    persist(s, rd2);
    f.advance(rd2);
    expect(f.takeCommitted()).toEqual([]);
    const rd3 = f.ready();
    expect(rd3.entries.map((e) => [e.index, e.term])).toEqual([[2, 2], [3, 2]]);
    expect(rd3.committedEntries.map((e) => [e.index, e.term])).toEqual([[2, 2], [3, 2]]);
    persist(s, rd3);
    f.advance(rd3);
    expect(termsOf(s)).toEqual([1, 2, 2]);
    expect(f.status()).toMatchObject({ applied: 3, commit: 3 });
  });

  it('step ignores garbage without throwing', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    const n = c.get('2').node;
    const bad: Message[] = [
      { type: 'app', from: '1', to: '2', term: 1, prevIndex: 99, prevTerm: 1, commit: 99, entries: [] },
      { type: 'app', from: '1', to: '2', term: 1, prevIndex: 1, prevTerm: 1, commit: 5, entries: [{ term: 1, index: 7, type: EntryType.Normal, data: bytes('x') }] },
      { type: 'app-resp', from: '3', to: '2', term: 1, reject: false, index: 1000, hintIndex: 0, hintTerm: 0 },
      { type: 'heartbeat', from: '1', to: '9', term: 1, commit: 1, ctx: bytes('') },
      { type: 'timeout-now', from: '3', to: '2', term: 0 },
      { type: 'snap', from: '1', to: '2', term: 1, snapshot: { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: bytes('') } },
    ];
    for (const m of bad) expect(() => n.step(m)).not.toThrow();
    const l = c.get('1').node;
    expect(() => l.step({ type: 'app-resp', from: '2', to: '1', term: 1, reject: false, index: 1000, hintIndex: 0, hintTerm: 0 })).not.toThrow();
    expect(() => l.step({ type: 'app-resp', from: '7', to: '1', term: 1, reject: true, index: 3, hintIndex: 0, hintTerm: 0 })).not.toThrow();
    c.stabilize();
    expect(c.get('1').node.status().role).toBe('leader');
  });
});

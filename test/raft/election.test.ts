import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/env/rng.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import { DEFAULT_RAFT_CONFIG, type Message, type MsgVote } from '../../src/raft/types.js';
import { MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';
import { Cluster } from './harness.js';

describe('elections', () => {
  it('a single node elects itself and commits alone', () => {
    const c = new Cluster(['1']);
    c.run(`
      campaign 1
      stabilize
      expect leader 1
      propose 1 a
      stabilize
      expect commit 1 2
      expect applied 1 a
    `);
  });

  it('three nodes elect the campaigner, which commits its no-op and proposals everywhere', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run(`
      campaign 1
      stabilize
      expect leader 1
      expect term 1 1
      expect commit 1 1
      propose 1 foo
      propose 1 bar
      stabilize
      expect commit 1 3
      expect applied 2 foo,bar
      expect applied 3 foo,bar
      tickall x3
      expect commit 3 3
    `);
  });

  it('the randomized election timeout lies in [electionTicks, 2*electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const c = new Cluster(['1', '2', '3'], { preVote: false }, seed);
      const n = c.get('1');
      let ticks = 0;
      while (n.node.status().role === 'follower' && ticks < 100) {
        n.node.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      seen.add(ticks);
    }
    expect(seen.size).toBeGreaterThan(4); // really randomized
  });

  it('ticking elects exactly one leader, deterministically per seed', () => {
    const leaders: string[] = [];
    for (const seed of [1, 2, 3, 1]) {
      const c = new Cluster(['1', '2', '3', '4', '5'], {}, seed);
      const l = c.electLeader();
      const terms = new Set([...c.nodes.values()].map((n) => n.node.status().term));
      expect(terms.size).toBe(1);
      expect([...c.nodes.values()].filter((n) => n.node.status().role === 'leader')).toHaveLength(1);
      leaders.push(l.id);
    }
    expect(leaders[3]).toBe(leaders[0]);
  });

  it('a split vote resolves in a later term', () => {
    const c = new Cluster(['1', '2', '3', '4'], { preVote: false });
    // 1 and 3 campaign at once; each gets one other vote: 2 of 4 is no quorum.
    c.get('1').node.campaign();
    c.get('3').node.campaign();
    c.processAll();
    // 2 hears 1 first, 4 hears 3 first.
    c.deliver((m) => (m.to === '2' && m.from === '1') || (m.to === '4' && m.from === '3'));
    c.deliver();
    c.stabilize();
    expect(c.leader()).toBeNull();
    expect(c.get('1').node.status().term).toBe(1);
    const l = c.electLeader();
    expect(l.node.status().term).toBeGreaterThan(1);
  });

  it('a vote is in hardState (mustSync) in the same Ready as the granting response, and at most one per term', () => {
    const storage = new MemoryRaftStorage();
    void storage.bootstrap({ voters: ['1', '2', '3'], learners: [] });
    const n = new RaftNode({ ...DEFAULT_RAFT_CONFIG, id: '2', applied: 0 }, storage, new SeededRng(1));
    const vote = (from: string): MsgVote => ({ type: 'vote', from, to: '2', term: 1, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    n.step(vote('1'));
    const rd = n.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: '1', commit: 0 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([{ type: 'vote-resp', from: '2', to: '1', term: 1, reject: false }]);
    n.advance(rd);
    n.step(vote('3'));
    const rd2 = n.ready();
    expect(rd2.messages).toEqual([{ type: 'vote-resp', from: '2', to: '3', term: 1, reject: true }]);
    expect(rd2.hardState).toBeNull();
    // The vote survives a restart.
    void storage.save(rd.hardState, [], true);
    const again = new RaftNode({ ...DEFAULT_RAFT_CONFIG, id: '2', applied: 0 }, storage, new SeededRng(1));
    again.step(vote('3'));
    expect(again.ready().messages[0]).toMatchObject({ reject: true });
  });

  it('rejects a candidate whose log is less up to date: last term first, then index (§5.4.1)', () => {
    const c = new Cluster(['1', '2', '3'], { preVote: false, checkQuorum: false });
    c.run(`
      campaign 1
      stabilize
      propose 1 a
      stabilize
      isolate 1
      isolate 3
      propose 1 b
      propose 1 c
      process
      # 1 has 4 entries of term 1 (no-op, a, b, c); 2 has 2 and 3 too.
    `);
    const two = c.get('2').node;
    const mkVote = (lastLogIndex: number, lastLogTerm: number): Message => ({ type: 'vote', from: '9', to: '2', term: 5, lastLogIndex, lastLogTerm, transfer: false });
    // Longer log but older last term: rejected.
    two.step(mkVote(100, 0));
    let rd = two.ready();
    expect(rd.messages.find((m) => m.type === 'vote-resp')).toMatchObject({ reject: true });
    two.advance(rd);
    // Shorter log (index 1) with a newer last term: granted.
    two.step({ ...mkVote(1, 2), term: 6 });
    rd = two.ready();
    expect(rd.messages.find((m) => m.type === 'vote-resp')).toMatchObject({ reject: false });
  });

  it('a non-member never campaigns', () => {
    const c = new Cluster(['1', '2', '3']);
    const x = c.addEmpty('9');
    x.node.campaign();
    c.tick('9', 100);
    expect(x.node.status().role).toBe('follower');
    expect(x.node.hasReady()).toBe(false);
  });
});

describe('pre-vote and check-quorum', () => {
  it('a partitioned node with pre-vote does not raise its term nor disrupt the leader when it returns', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run(`
      campaign 1
      stabilize
      expect leader 1
      isolate 3
      tick 3 x100
      stabilize
      expect term 3 1
      expect role 3 pre-candidate
      heal
      tickall x2
      expect leader 1
      expect term 1 1
      expect role 3 follower
    `);
  });

  it('without pre-vote the returning node forces a new election (the problem pre-vote solves)', () => {
    const c = new Cluster(['1', '2', '3'], { preVote: false, checkQuorum: false });
    c.run(`
      campaign 1
      stabilize
      isolate 3
      tick 3 x100
      stabilize
      heal
      tickall x30
    `);
    expect(c.get('3').node.status().term).toBeGreaterThan(1);
    expect(c.get('1').node.status().term).toBeGreaterThan(1);
  });

  it('a vote request that is rejected does not restart the election timer (no livelock without pre-vote)', () => {
    // 3 missed an entry and, with pre-vote off, keeps campaigning in ever higher terms; it cannot
    // win (its log is behind 2's). Were each of its requests to restart 2's election timer, 2,
    // the only node that can win once 1 is gone, would never campaign (Raft Figure 2: only a
    // leader's message or a granted vote restarts it).
    const c = new Cluster(['1', '2', '3'], { preVote: false, checkQuorum: false });
    c.run(`
      campaign 1
      stabilize
      isolate 3
      propose 1 a
      stabilize
      heal
      isolate 1
    `);
    expect(c.get('2').node.status().lastIndex).toBeGreaterThan(c.get('3').node.status().lastIndex);
    for (let round = 0; round < 8 && c.get('2').node.status().role !== 'leader'; round++) {
      c.get('3').node.campaign();
      c.stabilize();
      c.tick('2', 4); // less than one election timeout between two of 3's campaigns
      c.stabilize();
    }
    expect(c.get('2').node.status().role).toBe('leader');
  });

  it('followers with a live leader ignore a (pre-)vote from a higher term (leader stickiness)', () => {
    const c = new Cluster(['1', '2', '3'], { preVote: false });
    c.run(`
      campaign 1
      stabilize
      campaign 3
      stabilize
      expect role 1 leader
      expect leader 2 1
      expect term 1 1
      expect term 2 1
    `);
    // 3 raised its own term (no pre-vote) but nobody voted for it.
    expect(c.get('3').node.status()).toMatchObject({ term: 2, role: 'candidate' });
  });

  it('a leader cut off from a quorum steps down within two election timeouts (check-quorum)', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run(`
      campaign 1
      stabilize
      isolate 1
      tick 1 x19
      expect role 1 leader
      tick 1 x1
      expect role 1 follower
    `);
    // The other two elect a new leader among themselves.
    const l = c.electLeader();
    expect(l.id).not.toBe('1');
  });

  it('a leader that hears from a quorum keeps leading across many timeouts', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run(`
      campaign 1
      stabilize
      isolate 3
      tickall x100
      expect leader 1
      expect term 1 1
    `);
  });
});

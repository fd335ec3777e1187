import { describe, expect, it } from 'vitest';
import { applyConfChange, decodeConfChange, encodeConfChange } from '../../src/raft/conf-change.js';
import { isCairnError } from '../../src/util/errors.js';
import { Cluster, bytes } from './harness.js';

const txt = (b: Uint8Array) => new TextDecoder().decode(b);

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isCairnError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('ReadIndex', () => {
  it('confirms leadership with a heartbeat round and returns the commit index', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\npropose 1 a\nstabilize\nread 1 r1');
    expect(c.get('1').readStates).toEqual([]);
    c.stabilize();
    expect(c.get('1').readStates.map((r) => [r.index, txt(r.ctx)])).toEqual([[2, 'r1']]);
  });

  it('a leader cut off from the quorum never answers', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\nisolate 1\nread 1 r1\nstabilize\ntick 1 x5');
    expect(c.get('1').readStates).toEqual([]);
  });

  it('holds requests until the new leader has committed an entry of its term', () => {
    const c = new Cluster(['1', '2', '3']);
    c.get('1').node.campaign();
    for (let i = 0; i < 10 && c.get('1').node.status().role !== 'leader'; i++) {
      c.processAll();
      c.deliver();
    }
    expect(c.get('1').node.status()).toMatchObject({ role: 'leader', commit: 0 });
    c.get('1').node.readIndex(bytes('early'));
    c.processAll();
    expect(c.get('1').readStates).toEqual([]);
    c.stabilize();
    expect(c.get('1').readStates.map((r) => [r.index, txt(r.ctx)])).toEqual([[1, 'early']]);
  });

  it('a single voter answers at once; followers refuse with NotLeader', () => {
    const one = new Cluster(['1']);
    one.run('campaign 1\nstabilize\nread 1 x\nprocess');
    expect(one.get('1').readStates).toHaveLength(1);
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    expectCode(() => c.get('2').node.readIndex(bytes('x')), 'NotLeader');
  });
});

describe('leadership transfer', () => {
  it('brings the target up to date and hands over; it campaigns past leader stickiness', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run(`
      campaign 1
      stabilize
      isolate 3
      propose 1 a
      propose 1 b
      stabilize
      heal
      transfer 1 3
    `);
    expectCode(() => c.propose('1', 'during'), 'ProposalDropped');
    c.run(`
      stabilize
      expect leader 3
      expect term 3 2
      propose 3 c
      stabilize
      expect applied 1 a,b,c
    `);
  });

  it('aborts after an election timeout when the target does not answer', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\nisolate 3\ntransfer 1 3\nstabilize');
    expect(c.get('1').node.status().leadTransferee).toBe('3');
    c.tickAll(10);
    expect(c.get('1').node.status()).toMatchObject({ role: 'leader', leadTransferee: null });
    c.propose('1', 'after');
    c.stabilize();
    expect(c.get('2').applied).toEqual(['after']);
  });

  it('refuses a non-voter target and calls from a follower', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize');
    expectCode(() => c.get('1').node.transferLeadership('9'), 'InvalidArgument');
    expectCode(() => c.get('2').node.transferLeadership('3'), 'NotLeader');
  });
});

describe('snapshots', () => {
  it('sends a snapshot to a follower that needs compacted entries, then replicates on top', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\nisolate 3');
    for (let i = 0; i < 20; i++) c.propose('1', `e${i}`);
    c.stabilize();
    c.compact('1', 2);
    c.compact('2', 2);
    expect(c.get('1').storage.firstIndex()).toBe(20);
    c.heal();
    c.tickAll(3);
    const snaps = c.sent.filter((m) => m.type === 'snap' && m.to === '3');
    expect(snaps).toHaveLength(1);
    expect(c.get('3').storage.firstIndex()).toBe(22);
    expect(c.get('3').applied).toHaveLength(20);
    expect(c.get('1').node.status().progress!['3']).toMatchObject({ state: 'replicate', match: 21 });
    c.propose('1', 'after');
    c.stabilize();
    expect(c.get('3').applied.at(-1)).toBe('after');
    // It restarts from the installed snapshot.
    c.restart('3');
    c.tickAll(3);
    expect(c.get('3').node.status()).toMatchObject({ commit: 22, lastIndex: 22 });
  });

  it('copes with the leader compacting while a follower is probing, and retries a lost snapshot', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\nisolate 3');
    for (let i = 0; i < 10; i++) c.propose('1', `e${i}`);
    c.stabilize();
    c.compact('1');
    c.heal();
    c.dropWhere = (m) => m.type === 'snap';
    c.tickAll(3);
    expect(c.get('1').node.status().progress!['3']!.state).toBe('snapshot');
    c.dropWhere = null;
    c.tickAll(60); // 5 election timeouts: the leader gives up on the lost snapshot and sends another
    expect(c.get('3').applied).toHaveLength(10);
  });
});

describe('membership', () => {
  it('adds a learner, which catches up without voting, promotes it, then removes a voter', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\npropose 1 a\nstabilize');
    c.addEmpty('4');
    c.run(`
      conf 1 addLearner 4
      stabilize
      expect learners 1 4
      expect voters 1 1,2,3
      expect learners 4 4
      expect role 4 learner
      expect applied 4 a
      tick 4 x100
      expect role 4 learner
      conf 1 addVoter 4
      stabilize
      expect voters 1 1,2,3,4
      expect voters 4 1,2,3,4
      expect role 4 follower
      conf 1 removeNode 2
      stabilize
      expect voters 1 1,3,4
      expect voters 3 1,3,4
      propose 1 b
      stabilize
      expect applied 4 a,b
    `);
    // Now 1, 3, 4 are the voters: with 3 isolated, 1 + 4 still commit.
    c.isolate('3');
    c.propose('1', 'c');
    c.stabilize();
    expect(c.get('1').node.status().commit).toBe(c.get('1').node.status().lastIndex);
  });

  it('refuses a second change while one is pending, unknown nodes, and promoting a lagging learner', () => {
    const c = new Cluster(['1', '2', '3'], { learnerCatchUpEntriesMax: 5 });
    c.run('campaign 1\nstabilize');
    c.addEmpty('4');
    c.isolate('4');
    c.get('1').node.proposeConfChange({ type: 'addLearner', node: '4' });
    expectCode(() => c.get('1').node.proposeConfChange({ type: 'addLearner', node: '5' }), 'ConfChangeInProgress');
    c.stabilize();
    for (let i = 0; i < 10; i++) c.propose('1', `x${i}`);
    c.stabilize();
    expectCode(() => c.get('1').node.proposeConfChange({ type: 'addVoter', node: '4' }), 'LearnerNotCaughtUp');
    expectCode(() => c.get('1').node.proposeConfChange({ type: 'addVoter', node: '9' }), 'InvalidArgument');
    expectCode(() => c.get('1').node.proposeConfChange({ type: 'removeNode', node: '9' }), 'InvalidArgument');
    expectCode(() => c.get('1').node.proposeConfChange({ type: 'addLearner', node: '2' }), 'InvalidArgument');
    expectCode(() => c.get('2').node.proposeConfChange({ type: 'removeNode', node: '3' }), 'NotLeader');
    c.heal();
    c.tickAll(3);
    c.get('1').node.proposeConfChange({ type: 'addVoter', node: '4' });
    c.stabilize();
    expect(c.get('4').node.status().conf.voters).toEqual(['1', '2', '3', '4']);
  });

  it('a removed leader steps down once the removal commits, and the rest elect a new one', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\nconf 1 removeNode 1\nstabilize');
    expect(c.get('1').node.status().role).not.toBe('leader');
    // The removed node stays running but hears nothing (no one sends to it any more).
    c.isolate('1');
    const l = c.electLeader();
    expect(['2', '3']).toContain(l.id);
    expect(l.node.status().conf.voters).toEqual(['2', '3']);
    c.propose(l.id, 'z');
    c.stabilize();
    expect(c.get('2').applied).toEqual(['z']);
    // The removed node never campaigns again: many election timeouts pass and it asks for no vote.
    const term = c.get('1').node.status().term;
    const sentBefore = c.sent.length;
    c.tickAll(20 * c.get('1').config.electionTicks);
    const asks = c.sent.slice(sentBefore).filter((m) => m.from === '1' && (m.type === 'vote' || m.type === 'pre-vote'));
    expect(asks).toEqual([]);
    expect(c.get('1').node.status()).toMatchObject({ role: 'follower', term });
  });

  it('rebuilds the membership from storage on restart (snapshot conf plus committed conf entries)', () => {
    const c = new Cluster(['1', '2', '3']);
    c.addEmpty('4');
    c.run('campaign 1\nstabilize\nconf 1 addLearner 4\nstabilize\ncompact 1\nconf 1 addVoter 4\nstabilize');
    for (const id of ['1', '2', '3', '4']) c.restart(id);
    for (const id of ['1', '2', '3', '4']) expect(c.get(id).node.status().conf).toEqual({ voters: ['1', '2', '3', '4'], learners: [] });
    const l = c.electLeader();
    c.propose(l.id, 'after-restart');
    c.stabilize();
    for (const id of ['1', '2', '3', '4']) expect(c.get(id).applied).toEqual(['after-restart']);
  });

  it('encodes and decodes conf changes, rejecting garbage', () => {
    const cc = { type: 'addLearner' as const, node: 'm4', context: bytes('127.0.0.1:7004') };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(decodeConfChange(encodeConfChange({ type: 'removeNode', node: 'x' }))).toEqual({ type: 'removeNode', node: 'x' });
    expectCode(() => decodeConfChange(bytes('garbage')), 'ProtocolError');
    expectCode(() => decodeConfChange(encodeConfChange(cc).subarray(0, 8)), 'ProtocolError');
  });

  it('applies conf changes to a membership: learners join, are promoted, and leave', () => {
    let conf = { voters: ['m1', 'm2', 'm3'], learners: [] as string[] };
    conf = applyConfChange(conf, { type: 'addLearner', node: 'm4' });
    expect(conf).toEqual({ voters: ['m1', 'm2', 'm3'], learners: ['m4'] });
    expect(applyConfChange(conf, { type: 'addLearner', node: 'm1' })).toEqual(conf); // a voter is not demoted
    conf = applyConfChange(conf, { type: 'addVoter', node: 'm4' });
    expect(conf).toEqual({ voters: ['m1', 'm2', 'm3', 'm4'], learners: [] });
    conf = applyConfChange(applyConfChange(conf, { type: 'addLearner', node: 'm0' }), { type: 'removeNode', node: 'm2' });
    expect(conf).toEqual({ voters: ['m1', 'm3', 'm4'], learners: ['m0'] });
    expect(applyConfChange(conf, { type: 'removeNode', node: 'm0' })).toEqual({ voters: ['m1', 'm3', 'm4'], learners: [] });
  });
});

describe('restart', () => {
  it('resumes from storage: term, vote, log and commit; committed entries start at applied + 1', () => {
    const c = new Cluster(['1', '2', '3']);
    c.run('campaign 1\nstabilize\npropose 1 a\npropose 1 b\nstabilize');
    const before = c.get('2').node.status();
    c.restart('2'); // the harness throws on a gap or a re-applied entry
    const after = c.get('2').node.status();
    expect(after).toMatchObject({ term: before.term, vote: before.vote, commit: before.commit, lastIndex: before.lastIndex, applied: 3 });
    c.run('propose 1 c\nstabilize\nexpect applied 2 a,b,c');
    // The whole cluster restarts and carries on.
    for (const id of ['1', '2', '3']) c.restart(id);
    const l = c.electLeader();
    expect(l.node.status().term).toBeGreaterThan(1);
    c.propose(l.id, 'd');
    c.stabilize();
    for (const id of ['1', '2', '3']) expect(c.get(id).applied).toEqual(['a', 'b', 'c', 'd']);
  });
});

/** MetaMembership over a fake Raft group: add/remove/transfer rules, learner promotion, the stopping leader's hand-over. */
import { describe, expect, it } from 'vitest';
import { MetaMembership, type MembershipRaft } from '../../../src/leader/meta-membership.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

type Progress = Record<string, { match: number; recentActive: boolean }>;

/** A leader m1 of voters m1..m3 (plus whatever the test adds); membership changes apply at once. */
class FakeGroup implements MembershipRaft {
  id = 'm1';
  leader: string | null = 'm1';
  lastIndex = 500;
  voters = ['m1', 'm2', 'm3'];
  learners: string[] = [];
  addrs: Record<string, string> = { m1: 'h:1', m2: 'h:2', m3: 'h:3' };
  progress: Progress = { m1: { match: 500, recentActive: true }, m2: { match: 500, recentActive: true }, m3: { match: 480, recentActive: true } };
  changes: string[] = [];
  transfers: string[] = [];
  /** A transfer takes effect (the target leads) this many ms after it is asked; null: never. */
  transferAfterMs: number | null = 10;

  isLeader(): boolean {
    return this.leader === this.id;
  }
  notLeader(): CairnError {
    return new CairnError('NotLeader', 'not the leader', { leader: this.leader });
  }
  status(): ReturnType<MembershipRaft['status']> {
    return { id: this.id, leader: this.leader, lastIndex: this.lastIndex, conf: { voters: [...this.voters], learners: [...this.learners] }, progress: this.isLeader() ? this.progress : null };
  }
  addrOf(id: string): string | undefined {
    return this.addrs[id];
  }
  async changeMembership(type: 'addLearner' | 'addVoter' | 'removeNode', node: string, addr?: string): Promise<unknown> {
    this.changes.push(`${type} ${node}${addr ? ` ${addr}` : ''}`);
    if (type === 'addLearner') {
      this.learners.push(node);
      this.addrs[node] = addr!;
      this.progress[node] = { match: 0, recentActive: true };
    } else if (type === 'addVoter') {
      this.learners = this.learners.filter((l) => l !== node);
      this.voters.push(node);
    } else {
      this.voters = this.voters.filter((v) => v !== node);
      this.learners = this.learners.filter((l) => l !== node);
      delete this.addrs[node];
    }
    return undefined;
  }
  transferLeadership(to: string): void {
    this.transfers.push(to);
    if (this.transferAfterMs !== null) setTimeout(() => (this.leader = to), this.transferAfterMs);
  }
}

function membership(g: FakeGroup): MetaMembership {
  return new MetaMembership({ raft: g, clock: systemClock, timers: systemTimers, logger: silentLogger }, { transferWaitMs: 300, activeWindowMs: 60 });
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('MetaMembership', () => {
  it('adds a server as a learner; again at the same address is a no-op, at another refused', async () => {
    const g = new FakeGroup();
    const m = membership(g);
    expect(await m.add({ id: 'm4', addr: 'h:4' })).toEqual({});
    expect(g.changes).toEqual(['addLearner m4 h:4']);
    expect(await m.add({ id: 'm4', addr: 'h:4' })).toEqual({});
    expect(await refusal(m.add({ id: 'm4', addr: 'h:9' }))).toMatchObject({ code: 'PreconditionFailed' });
    expect(await refusal(m.add({ id: 'm2', addr: 'h:9' }))).toMatchObject({ code: 'PreconditionFailed' });
    expect(g.changes).toEqual(['addLearner m4 h:4']);
  });

  it('promotes a learner only once it answered with its log and is within the lag bound', async () => {
    const g = new FakeGroup();
    const m = membership(g);
    await m.add({ id: 'm4', addr: 'h:4' });
    g.lastIndex = 50; // a young log: a learner at 0 would be "within 100" without having answered at all
    m.promote();
    expect(g.changes).toEqual(['addLearner m4 h:4']);
    g.lastIndex = 500;
    g.progress.m4 = { match: 300, recentActive: true }; // 200 behind
    m.promote();
    expect(g.changes).toHaveLength(1);
    g.progress.m4 = { match: 450, recentActive: false }; // close, but silent
    m.promote();
    expect(g.changes).toHaveLength(1);
    g.progress.m4 = { match: 450, recentActive: true };
    m.promote();
    await new Promise((r) => setTimeout(r, 0));
    expect(g.changes).toEqual(['addLearner m4 h:4', 'addVoter m4']);
    expect(g.voters).toContain('m4');
  });

  it('removes a follower or a learner; a non-member is a no-op', async () => {
    const g = new FakeGroup();
    const m = membership(g);
    await m.add({ id: 'm4', addr: 'h:4' });
    expect(await m.remove({ id: 'm4' })).toEqual({});
    expect(await m.remove({ id: 'm3' })).toEqual({});
    expect(await m.remove({ id: 'm9' })).toEqual({});
    expect(g.changes).toEqual(['addLearner m4 h:4', 'removeNode m4', 'removeNode m3']);
  });

  it('refuses a removal that would leave fewer active voters than a quorum', async () => {
    const g = new FakeGroup();
    g.voters = ['m1', 'm2', 'm3', 'm4'];
    g.progress = { m1: { match: 500, recentActive: true }, m2: { match: 500, recentActive: true }, m3: { match: 100, recentActive: false }, m4: { match: 100, recentActive: false } };
    const m = membership(g);
    // Left: m1, m3, m4 with m3 and m4 silent: 1 of 3 active.
    expect(await refusal(m.remove({ id: 'm2' }))).toMatchObject({ code: 'PreconditionFailed', message: expect.stringContaining('1 of 3 voters active') });
    // Removing a silent one leaves m1, m2 active of 3: a quorum.
    expect(await m.remove({ id: 'm4' })).toEqual({});
    expect(g.changes).toEqual(['removeNode m4']);
  });

  it('counts a voter active when any sample within the window saw it (the core clears the flags each election timeout)', async () => {
    const g = new FakeGroup();
    g.progress.m3 = { match: 500, recentActive: false };
    g.progress.m2 = { match: 500, recentActive: false };
    setTimeout(() => (g.progress.m3 = { match: 500, recentActive: true }), 20);
    expect(await membership(g).remove({ id: 'm2' })).toEqual({});
  });

  it('a leader asked to remove itself hands over first and answers NotLeader (the client retries at the new leader)', async () => {
    const g = new FakeGroup();
    const r = await refusal(membership(g).remove({ id: 'm1' }));
    expect(r.code).toBe('NotLeader');
    expect(g.transfers).toEqual(['m2']); // the most caught-up active voter
    expect(g.changes).toEqual([]);
  });

  it('transfers leadership to a named voter or the most caught-up one, and times out when nobody takes over', async () => {
    const g = new FakeGroup();
    expect(await membership(g).transferLeader({ id: 'm3' })).toEqual({ leader: 'm3' });
    const g2 = new FakeGroup();
    g2.progress.m3 = { match: 500, recentActive: true };
    g2.progress.m2 = { match: 499, recentActive: true };
    expect(await membership(g2).transferLeader({})).toEqual({ leader: 'm3' });
    const g3 = new FakeGroup();
    expect(await membership(g3).transferLeader({ id: 'm1' })).toEqual({ leader: 'm1' });
    expect(await refusal(membership(g3).transferLeader({ id: 'm7' }))).toMatchObject({ code: 'InvalidArgument' });
    g3.transferAfterMs = null;
    expect(await refusal(membership(g3).transferLeader({ id: 'm2' }))).toMatchObject({ code: 'Timeout' });
    const follower = new FakeGroup();
    follower.leader = 'm2';
    expect(await refusal(membership(follower).transferLeader({}))).toMatchObject({ code: 'NotLeader' });
  });

  it('a leader elected a moment ago (no follower heard from yet) still finds the voter to hand over to', async () => {
    const g = new FakeGroup();
    g.progress.m2 = { match: 500, recentActive: false };
    g.progress.m3 = { match: 500, recentActive: false };
    setTimeout(() => (g.progress.m2 = { match: 500, recentActive: true }), 20);
    expect(await membership(g).transferLeader({})).toEqual({ leader: 'm2' });
  });

  it('hand-over on stop: the leader moves leadership to the best active voter and waits (bounded); a follower does nothing', async () => {
    const g = new FakeGroup();
    g.progress.m2 = { match: 500, recentActive: false }; // silent: not a candidate
    expect(await membership(g).handOff(300)).toBe('m3');
    expect(g.transfers).toEqual(['m3']);
    const alone = new FakeGroup();
    alone.voters = ['m1'];
    expect(await membership(alone).handOff(300)).toBe('m1');
    expect(alone.transfers).toEqual([]);
    const stuck = new FakeGroup();
    stuck.transferAfterMs = null;
    const t0 = Date.now();
    expect(await membership(stuck).handOff(100)).toBe('m1');
    expect(Date.now() - t0).toBeLessThan(1000);
    const follower = new FakeGroup();
    follower.leader = 'm3';
    expect(await membership(follower).handOff(300)).toBe('m3');
    expect(follower.transfers).toEqual([]);
  });
});

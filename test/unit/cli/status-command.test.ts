import { describe, expect, it } from 'vitest';
import { formatStatus, fullStatus, partialStatus, quorumReachable, type MemberProbe } from '../../../cli/status-command.js';
import type { ClusterStatus, RaftStatusAnswer } from '../../../src/proto/meta-answers.js';

const addrs = { m1: '10.0.0.1:7001', m2: '10.0.0.2:7001', m3: '10.0.0.3:7001' };
const own = (id: keyof typeof addrs, extra: Partial<RaftStatusAnswer> = {}): RaftStatusAnswer => ({
  id,
  term: 7,
  role: 'pre-candidate',
  leader: null,
  commit: 40,
  applied: 39,
  lastIndex: 41,
  conf: { voters: ['m1', 'm2', 'm3'], learners: [] },
  addrs,
  leaderContactMs: 4200,
  progress: null,
  ...extra,
});

describe('cairn status without a quorum', () => {
  it('a majority of the voters must answer before the leader is worth waiting for', () => {
    expect(quorumReachable([{ addr: addrs.m1, status: own('m1') }, { addr: addrs.m2, status: null }, { addr: addrs.m3, status: null }])).toBe(false);
    expect(quorumReachable([{ addr: addrs.m1, status: own('m1') }, { addr: addrs.m2, status: own('m2') }, { addr: addrs.m3, status: null }])).toBe(true);
    expect(quorumReachable([{ addr: addrs.m1, status: null }])).toBe(false);
  });

  it('the partial view: every member the answers name, each with its own view, unreachable when silent', () => {
    const probes: MemberProbe[] = [
      { addr: addrs.m1, status: null },
      { addr: addrs.m2, status: own('m2') },
      { addr: addrs.m3, status: null },
    ];
    const s = partialStatus(probes);
    expect(s).toMatchObject({ health: 'unavailable', leader: null, chunkServers: [], chunks: { total: null, underReplicated: null, lost: null } });
    expect(s.meta).toEqual([
      { id: 'm1', addr: addrs.m1, role: 'unreachable' },
      { id: 'm2', addr: addrs.m2, role: 'follower' },
      { id: 'm3', addr: addrs.m3, role: 'unreachable' },
    ]);
    expect(s.metaDetail.m2).toEqual({ reachable: true, raftRole: 'pre-candidate', term: 7, commit: 40, applied: 39, lag: null, lastContactMs: 4200 });
    expect(s.metaDetail.m1).toMatchObject({ reachable: false, raftRole: null, term: null });
    const text = formatStatus(s);
    expect(text.split('\n')[0]).toBe('UNAVAILABLE');
    expect(text).toMatch(/^ {2}m2 +10\.0\.0\.2:7001 +follower \(pre-candidate\) +7 +40 +39 +- +4200ms$/m);
  });

  it('nobody answering: the configured addresses stand for the members', () => {
    const s = partialStatus([{ addr: 'h1:1', status: null }, { addr: 'h2:1', status: null }]);
    expect(s.meta).toEqual([
      { id: 'h1:1', addr: 'h1:1', role: 'unreachable' },
      { id: 'h2:1', addr: 'h2:1', role: 'unreachable' },
    ]);
  });
});

describe('cairn status with a leader', () => {
  it('keeps the contract keys first and merges each member\'s own figures into metaDetail', () => {
    const leader: ClusterStatus = {
      health: 'degraded',
      leader: 'm1',
      meta: [
        { id: 'm1', addr: addrs.m1, role: 'leader' },
        { id: 'm2', addr: addrs.m2, role: 'follower' },
        { id: 'm3', addr: addrs.m3, role: 'unreachable' },
      ],
      chunkServers: [{ id: 'c1', addr: 'c:1', state: 'alive', used: 1, capacity: 10, chunks: 1 }],
      chunks: { total: 1, underReplicated: 1, lost: 0 },
      raft: { term: 7, commit: 40, applied: 40 },
      metaDetail: {
        m1: { term: 7, commit: 40, applied: 40, lag: 0, lastContactMs: 0 },
        m2: { term: null, commit: null, applied: null, lag: 2, lastContactMs: null },
        m3: { term: null, commit: null, applied: null, lag: 30, lastContactMs: null },
      },
    };
    const s = fullStatus(leader, [
      { addr: addrs.m1, status: own('m1', { role: 'leader', leader: 'm1', leaderContactMs: 0 }) },
      { addr: addrs.m2, status: own('m2', { role: 'follower', leader: 'm1', leaderContactMs: 35 }) },
      { addr: addrs.m3, status: null },
    ]);
    expect(Object.keys(s)).toEqual(['health', 'leader', 'meta', 'chunkServers', 'chunks', 'raft', 'metaDetail']);
    expect(s.metaDetail.m2).toEqual({ reachable: true, raftRole: 'follower', term: 7, commit: 40, applied: 39, lag: 2, lastContactMs: 35 });
    expect(s.metaDetail.m3).toEqual({ reachable: false, raftRole: null, term: null, commit: null, applied: null, lag: 30, lastContactMs: null });
    const text = formatStatus(s);
    expect(text.split('\n')[0]).toBe('DEGRADED');
    expect(text.split('\n')[1]).toBe('  1 chunks under-replicated; metadata servers unreachable: m3');
  });
});

/**
 * ReplicaChecks: client reports of bad replicas become verify commands for their holders, once
 * each, within a per-session rate and a per-server cap (issue 17, finding 5).
 */
import { describe, expect, it } from 'vitest';
import { ReplicaChecks } from '../../../src/leader/replica-checks.js';

describe('ReplicaChecks', () => {
  it('queues a reported replica once and hands it to its server once', () => {
    const c = new ReplicaChecks();
    const session = {};
    expect(c.report('c1', 'a', session, 0)).toBe('queued');
    expect(c.report('c1', 'a', session, 0)).toBe('waiting');
    expect(c.report('c2', 'a', session, 0)).toBe('queued');
    expect(c.commandsFor('c1')).toEqual([{ op: 'verify', id: 'a' }]);
    expect(c.commandsFor('c1')).toEqual([]);
    expect(c.commandsFor('c2')).toEqual([{ op: 'verify', id: 'a' }]);
    // Handed out: a new report of it is queued again.
    expect(c.report('c1', 'a', session, 0)).toBe('queued');
  });

  it('rate-limits each session apart: a burst, then the sustained rate', () => {
    const c = new ReplicaChecks({ reportsPerSecMax: 10, reportBurstMax: 5 });
    const s1 = {};
    const s2 = {};
    const out = Array.from({ length: 8 }, (_, i) => c.report('c1', `x${i}`, s1, 1000));
    expect(out.filter((o) => o === 'queued')).toHaveLength(5);
    expect(out.slice(5)).toEqual(['rate-limited', 'rate-limited', 'rate-limited']);
    // Another session is not held back by the first.
    expect(c.report('c1', 'y', s2, 1000)).toBe('queued');
    // 100 ms later the first session has earned one report.
    expect(c.report('c1', 'z1', s1, 1100)).toBe('queued');
    expect(c.report('c1', 'z2', s1, 1100)).toBe('rate-limited');
    expect(c.counters).toMatchObject({ queued: 7, refused: 4 });
  });

  it('caps the checks waiting per server and the commands per answer', () => {
    const c = new ReplicaChecks({ pendingPerServerMax: 3, commandsPerAnswerMax: 2 });
    expect(['a', 'b', 'c', 'd'].map((id) => c.report('c1', id, undefined, 0))).toEqual(['queued', 'queued', 'queued', 'full']);
    expect(c.waitingFor('c1')).toBe(3);
    expect(c.commandsFor('c1').map((x) => x.id)).toEqual(['a', 'b']);
    expect(c.commandsFor('c1').map((x) => x.id)).toEqual(['c']);
    expect(c.waitingFor('c1')).toBe(0);
  });
});

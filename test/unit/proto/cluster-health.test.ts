import { describe, expect, it } from 'vitest';
import { clusterHealth, HEALTH_EXIT_CODES } from '../../../src/proto/cluster-health.js';

const healthy = {
  meta: [{ role: 'leader' }, { role: 'follower' }, { role: 'learner' }],
  chunkServers: [{ state: 'alive' }, { state: 'draining' }],
  chunks: { underReplicated: 0, lost: 0 },
};

describe('clusterHealth', () => {
  it('is healthy with a quorum, every chunk fully replicated and no server down (draining is no fault)', () => {
    expect(clusterHealth(healthy, true)).toBe('healthy');
  });

  it('is degraded while a chunk is under-replicated or lost, a chunk server is dead or a metadata member unreachable', () => {
    expect(clusterHealth({ ...healthy, chunks: { underReplicated: 1, lost: 0 } }, true)).toBe('degraded');
    expect(clusterHealth({ ...healthy, chunks: { underReplicated: 0, lost: 2 } }, true)).toBe('degraded');
    expect(clusterHealth({ ...healthy, chunkServers: [{ state: 'alive' }, { state: 'dead' }] }, true)).toBe('degraded');
    expect(clusterHealth({ ...healthy, meta: [{ role: 'leader' }, { role: 'unreachable' }] }, true)).toBe('degraded');
  });

  it('is unavailable without a metadata quorum, whatever else it knows', () => {
    expect(clusterHealth(healthy, false)).toBe('unavailable');
    expect(clusterHealth({ ...healthy, chunks: { underReplicated: 5, lost: 5 } }, false)).toBe('unavailable');
  });

  it('maps to the exit codes of status --check: 0 healthy, 1 degraded, 2 unavailable', () => {
    expect(HEALTH_EXIT_CODES).toEqual({ healthy: 0, degraded: 1, unavailable: 2 });
  });
});

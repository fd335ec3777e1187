import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { preferenceList, Ring, writeTargets } from '../../../src/placement/index.js';
import { arbChunkId, arbLayout } from './arbitraries.js';

describe('writeTargets', () => {
  it('is the first R writable, not excluded servers of the chunk preference order (up servers only)', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, fc.integer({ min: 1, max: 5 }), fc.integer(), (layout, id, r, seed) => {
        const ring = Ring.build(layout);
        // A pseudo-random verdict per server, and every third writable server excluded.
        const writable = (s: string): boolean => ((seed ^ s.length ^ s.charCodeAt(s.length - 1)) & 3) !== 0;
        const exclude = new Set(ring.servers.filter((_, i) => i % 3 === 1).map((s) => s.id));
        const want = preferenceList(ring, id).filter((s) => writable(s) && !exclude.has(s)).slice(0, r);
        expect(writeTargets(ring, id, r, writable, exclude)).toEqual(want);
        // Without exclusions and all writable: place()'s set, i.e. the first R up servers.
        expect(writeTargets(ring, id, r, () => true)).toEqual(preferenceList(ring, id, r));
        for (const s of writeTargets(ring, id, r, writable, exclude)) expect(ring.server(s)!.state).toBe('up');
      }),
      { numRuns: 200 },
    );
  });

  it('returns none when nothing qualifies, and none for R = 0', () => {
    const ring = Ring.build({ version: 1, vnodesPerWeight: 16, servers: [{ id: 'a', zone: 'z', weight: 1, state: 'up' }, { id: 'b', zone: 'z', weight: 1, state: 'draining' }] });
    expect(writeTargets(ring, 'ab'.repeat(16), 3, () => true)).toEqual(['a']);
    expect(writeTargets(ring, 'ab'.repeat(16), 3, (s) => s !== 'a')).toEqual([]);
    expect(writeTargets(ring, 'ab'.repeat(16), 3, () => true, new Set(['a']))).toEqual([]);
    expect(writeTargets(ring, 'ab'.repeat(16), 0, () => true)).toEqual([]);
  });
});

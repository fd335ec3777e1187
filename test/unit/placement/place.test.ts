import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addServer,
  chunkPoint,
  owners,
  place,
  preferenceList,
  readOrder,
  Ring,
  setState,
  type RingLayout,
} from '../../../src/placement/index.js';
import { isCairnError } from '../../../src/util/errors.js';
import { arbChunkId, arbLayout, equalServers } from './arbitraries.js';

/**
 * The placement rule written as plainly as possible (O(V) per lookup): distinct eligible servers
 * in clockwise order from the chunk's point; the first server of each zone, at most n of them;
 * then everything else in clockwise order.
 */
function specOrder(ring: Ring, chunkId: string, n: number, upOnly: boolean): string[] {
  const v = ring.tokens.length;
  if (v === 0) return [];
  const p = chunkPoint(chunkId);
  let start = ring.tokens.findIndex((t) => t >= p);
  if (start === -1) start = 0;
  const seq: string[] = [];
  for (let k = 0; k < v; k++) {
    const s = ring.servers[ring.owner[(start + k) % v]!]!;
    if ((!upOnly || s.state === 'up') && !seq.includes(s.id)) seq.push(s.id);
  }
  const zones = new Set<string>();
  const first: string[] = [];
  for (const id of seq) {
    const z = ring.server(id)!.zone;
    if (!zones.has(z)) {
      zones.add(z);
      first.push(id);
    }
  }
  const chosen = first.slice(0, n);
  return [...chosen, ...seq.filter((id) => !chosen.includes(id))].slice(0, n);
}

const arbR = fc.integer({ min: 1, max: 5 });
const zonesOf = (ring: Ring, ids: string[]): Set<string> => new Set(ids.map((id) => ring.server(id)!.zone));

describe('place', () => {
  it('agrees with the plain specification of the rule (place, owners, preferenceList)', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, arbR, (layout, id, r) => {
        const ring = Ring.build(layout);
        expect(place(ring, id, r)).toEqual(specOrder(ring, id, r, true));
        expect(owners(ring, id, r)).toEqual(specOrder(ring, id, r, false));
        expect(preferenceList(ring, id)).toEqual(specOrder(ring, id, ring.servers.length, true));
        expect(preferenceList(ring, id, 100, { includeDown: true })).toEqual(specOrder(ring, id, 100, false));
      }),
      { numRuns: 400 },
    );
  });

  it('agrees with the specification on large rings too (server and zone sets past the linear-scan size)', () => {
    fc.assert(
      fc.property(arbLayout({ min: 20, max: 70, zonesMax: 40 }), arbChunkId, fc.integer({ min: 1, max: 16 }), fc.integer({ min: 20, max: 80 }), (layout, id, r, n) => {
        const ring = Ring.build(layout);
        expect(place(ring, id, r)).toEqual(specOrder(ring, id, r, true));
        expect(preferenceList(ring, id, n)).toEqual(specOrder(ring, id, n, true));
        expect(preferenceList(ring, id, n, { includeDown: true })).toEqual(specOrder(ring, id, n, false));
      }),
      { numRuns: 100 },
    );
  });

  it('returns min(R, up servers) distinct up servers in min(R, up zones) distinct zones; never draining or dead', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, arbR, (layout, id, r) => {
        const ring = Ring.build(layout);
        const got = place(ring, id, r);
        const up = layout.servers.filter((s) => s.state === 'up');
        expect(got.length).toBe(Math.min(r, up.length));
        expect(new Set(got).size).toBe(got.length);
        for (const s of got) expect(ring.server(s)!.state).toBe('up');
        expect(zonesOf(ring, got).size).toBe(Math.min(r, new Set(up.map((s) => s.zone)).size));
      }),
      { numRuns: 400 },
    );
  });

  it('is a prefix of the preference list, which orders every up server once (handoffs after the first R)', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, arbR, (layout, id, r) => {
        const ring = Ring.build(layout);
        const pref = preferenceList(ring, id);
        expect([...pref].sort()).toEqual(layout.servers.filter((s) => s.state === 'up').map((s) => s.id).sort());
        expect(place(ring, id, r)).toEqual(pref.slice(0, r));
        expect(place(ring, id, r)).toEqual(place(ring, id, r + 1).slice(0, r));
        expect(preferenceList(ring, id, r)).toEqual(pref.slice(0, r));
      }),
      { numRuns: 300 },
    );
  });

  it('owners() ignores state: it is place() on the same ring with every server up', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, arbR, (layout, id, r) => {
        const allUp: RingLayout = { ...layout, servers: layout.servers.map((s) => ({ ...s, state: 'up' as const })) };
        expect(owners(Ring.build(layout), id, r)).toEqual(place(Ring.build(allUp), id, r));
      }),
      { numRuns: 300 },
    );
  });

  it('marking a server down or draining changes only the replica sets that held it, by replacing it', () => {
    fc.assert(
      fc.property(arbLayout({ min: 2 }), fc.nat(), fc.constantFrom<'dead' | 'draining'>('dead', 'draining'), arbR, fc.array(arbChunkId, { minLength: 20, maxLength: 20 }), (layout, pick, state, r, ids) => {
        const ring = Ring.build(layout);
        const x = ring.servers[pick % ring.servers.length]!.id;
        const after = setState(ring, x, state);
        for (const id of ids) {
          const a = place(ring, id, r);
          const b = place(after, id, r);
          if (!a.includes(x)) expect(b).toEqual(a);
          else {
            expect(b.includes(x)).toBe(false);
            expect(a.filter((s) => !b.includes(s))).toEqual([x]);
            expect(b.filter((s) => !a.includes(s)).length).toBeLessThanOrEqual(1);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('adding a server changes only replica sets that gain it, each losing at most one other server', () => {
    fc.assert(
      fc.property(arbLayout(), fc.constantFrom('z0', 'z1', 'z5'), arbR, fc.array(arbChunkId, { minLength: 20, maxLength: 20 }), (layout, zone, r, ids) => {
        const ring = Ring.build(layout);
        const grown = addServer(ring, { id: 'newcomer', zone, weight: 1 });
        for (const id of ids) {
          const a = place(ring, id, r);
          const b = place(grown, id, r);
          const added = b.filter((s) => !a.includes(s));
          if (!b.includes('newcomer')) expect(b).toEqual(a);
          else expect(added).toEqual(['newcomer']);
          expect(a.filter((s) => !b.includes(s)).length).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('readOrder lists place() first, then the non-dead remaining owners', () => {
    fc.assert(
      fc.property(arbLayout(), arbChunkId, arbR, (layout, id, r) => {
        const ring = Ring.build(layout);
        const got = readOrder(ring, id, r);
        const p = place(ring, id, r);
        expect(got.slice(0, p.length)).toEqual(p);
        expect(new Set(got).size).toBe(got.length);
        const expectedRest = owners(ring, id, r).filter((s) => !p.includes(s) && ring.server(s)!.state !== 'dead');
        expect(got.slice(p.length)).toEqual(expectedRest);
      }),
      { numRuns: 200 },
    );
  });

  it('spreads one chunk over zones before reusing one, and fills from the walk when zones run out', () => {
    // 6 servers in 3 zones, R = 3: every chunk gets one replica per zone.
    const ring = Ring.build({ version: 1, vnodesPerWeight: 32, servers: equalServers(6, 3) });
    for (let i = 0; i < 500; i++) expect(zonesOf(ring, place(ring, `c${i}`, 3)).size).toBe(3);
    // Same servers in 2 zones, R = 3: both zones used, and the third replica in one of them.
    const two = Ring.build({ version: 1, vnodesPerWeight: 32, servers: equalServers(6, 2) });
    for (let i = 0; i < 500; i++) {
      const got = place(two, `c${i}`, 3);
      expect(new Set(got).size).toBe(3);
      expect(zonesOf(two, got).size).toBe(2);
    }
  });

  it('returns fewer replicas when too few servers are up, and none on an empty ring', () => {
    let ring = Ring.build({ version: 1, vnodesPerWeight: 8, servers: equalServers(3, 3) });
    ring = setState(setState(ring, 'cs0', 'dead'), 'cs1', 'draining');
    expect(place(ring, 'k', 3)).toEqual(['cs2']);
    expect(owners(ring, 'k', 3).length).toBe(3);
    ring = setState(ring, 'cs2', 'dead');
    expect(place(ring, 'k', 3)).toEqual([]);
    expect(place(Ring.build({ version: 0, vnodesPerWeight: 8, servers: [] }), 'k', 3)).toEqual([]);
  });

  it('rejects a bad replication factor or chunk id with InvalidArgument', () => {
    const ring = Ring.build({ version: 1, vnodesPerWeight: 8, servers: equalServers(3, 3) });
    const calls = [
      () => place(ring, 'k', 0),
      () => place(ring, 'k', 17),
      () => place(ring, 'k', 1.5),
      () => owners(ring, 'k', -1),
      () => place(ring, '', 3),
      () => place(ring, 'x'.repeat(1025), 3),
      () => preferenceList(ring, 'k', -1),
    ];
    for (const f of calls) expect(() => f()).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    try {
      place(ring, 'k', 0);
    } catch (e) {
      expect(isCairnError(e, 'InvalidArgument')).toBe(true);
    }
  });
});

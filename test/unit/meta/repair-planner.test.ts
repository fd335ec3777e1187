import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setState } from '../../../src/placement/index.js';
import { planChunk } from '../../../src/meta/repair-planner.js';
import { ID, ring, view } from './repair-fixtures.js';


describe('planChunk', () => {
  it('copies a chunk to where it belongs from a live holder, and removes excess only once the full set is there', () => {
    const r = ring(5);
    const desired = planChunk(view(r, {}), ID).desired;
    expect(desired).toHaveLength(3);
    const others = ['c1', 'c2', 'c3', 'c4', 'c5'].filter((s) => !desired.includes(s));
    // Two of the desired hold it plus one outsider: copy to the third, delete nothing yet.
    const p = planChunk(view(r, { [ID]: [desired[0]!, desired[1]!, others[0]!] }), ID);
    expect(p.copies).toEqual([{ to: desired[2], from: [desired[0], desired[1], others[0]] }]);
    expect(p.excess).toEqual([]);
    // All desired hold it: the outsider's replica is excess.
    const q = planChunk(view(r, { [ID]: [...desired, others[0]!] }), ID);
    expect(q.copies).toEqual([]);
    expect(q.excess).toEqual([others[0]]);
  });

  it('skips dead, draining and full servers as targets; a chunk with no live holder is lost', () => {
    const r = ring(5);
    const d0 = planChunk(view(r, {}), ID).desired;
    const dead = planChunk(view(r, { [ID]: d0 }, [d0[0]!]), ID);
    expect(dead.desired).not.toContain(d0[0]);
    expect(dead.copies).toHaveLength(1);
    expect(dead.holders).toHaveLength(2);
    const drained = planChunk(view(setState(r, d0[1]!, 'draining'), { [ID]: d0 }), ID);
    expect(drained.desired).not.toContain(d0[1]);
    expect(drained.excess).toEqual([]); // the replacement has no copy yet
    expect(planChunk(view(r, {}, [], [d0[2]!]), ID).desired).not.toContain(d0[2]);
    const lost = planChunk(view(r, { [ID]: [d0[0]!] }, [d0[0]!]), ID);
    expect(lost.lost).toBe(true);
    expect(lost.copies).toEqual([]);
  });

  it('never plans a chunk below R live replicas: excess only when every desired server holds one', () => {
    const r = ring(6);
    const servers = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    fc.assert(
      fc.property(fc.subarray(servers), fc.subarray(servers, { maxLength: 2 }), (holders, dead) => {
        const p = planChunk(view(r, { [ID]: holders }, dead), ID);
        const live = holders.filter((s) => !dead.includes(s));
        expect(live.length - p.excess.length).toBeGreaterThanOrEqual(Math.min(3, live.length));
        for (const c of p.copies) expect(live).not.toContain(c.to);
        if (p.excess.length > 0) for (const d of p.desired) expect(live).toContain(d);
      }),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkRegistry, type ServerLoad } from '../../../src/leader/chunk-registry.js';

const load: ServerLoad = { usedBytes: 10, capacityBytes: 100, freeBytes: 90, chunks: 1, full: false };

describe('ChunkRegistry', () => {
  it('counts a server alive until deadAfterMs of silence, measured from no earlier than the leader start', () => {
    const r = new ChunkRegistry(1000, { deadAfterMs: 500 });
    // Never heard from: given deadAfterMs from the leader start.
    expect(r.isAlive('c1', 1400)).toBe(true);
    expect(r.isAlive('c1', 1500)).toBe(false);
    r.heartbeat('c1', load, 1600);
    expect(r.isAlive('c1', 2099)).toBe(true);
    expect(r.isAlive('c1', 2100)).toBe(false);
    // A heartbeat stamped before the leader started does not make it look older.
    const r2 = new ChunkRegistry(1000, { deadAfterMs: 500 });
    r2.heartbeat('c2', load, 10);
    expect(r2.isAlive('c2', 1499)).toBe(true);
    expect(r2.load('c2')).toEqual(load);
  });

  it('rebuilds locations from paged full reports and drops what a finished report no longer lists', () => {
    const r = new ChunkRegistry(0, { deadAfterMs: 1000 });
    r.beginReport('c1', 1, 5);
    r.reportPage('c1', 1, ['a', 'b']);
    r.reportPage('c1', 1, ['c']);
    expect(r.hasReported('c1')).toBe(false);
    expect(r.endReport('c1', 1)).toEqual([]);
    expect(r.hasReported('c1')).toBe(true);
    expect(r.locations('b')).toEqual(['c1']);
    r.beginReport('c1', 2, 6);
    r.reportPage('c1', 2, ['a', 'c', 'd']);
    expect(r.endReport('c1', 2)).toEqual(['b']);
    expect(r.locations('b')).toEqual([]);
    expect([...r.chunksOf('c1')].sort()).toEqual(['a', 'c', 'd']);
  });

  it('refuses pages of an unknown or superseded report, and oversized pages', () => {
    const r = new ChunkRegistry(0, { deadAfterMs: 1000, reportPageChunksMax: 2 });
    expect(() => r.reportPage('c1', 1, ['a'])).toThrow(/no report/);
    r.beginReport('c1', 1, 0);
    r.beginReport('c1', 2, 0);
    expect(() => r.reportPage('c1', 1, ['a'])).toThrow(/no report 1/);
    expect(() => r.reportPage('c1', 2, ['a', 'b', 'c'])).toThrow(/at most 2/);
    expect(() => r.endReport('c1', 1)).toThrow(/no report 1/);
  });

  it('an incremental add during a full report is kept when the report ends', () => {
    const r = new ChunkRegistry(0, { deadAfterMs: 1000 });
    r.beginReport('c1', 1, 0);
    r.reportPage('c1', 1, ['a']);
    r.update('c1', ['z'], []);
    r.endReport('c1', 1);
    expect(r.locations('z')).toEqual(['c1']);
    r.update('c1', [], ['a']);
    expect(r.locations('a')).toEqual([]);
  });

  it('markBad and forget remove locations', () => {
    const r = new ChunkRegistry(0, { deadAfterMs: 1000 });
    r.update('c1', ['a', 'b'], []);
    r.update('c2', ['a'], []);
    expect(r.locations('a')).toEqual(['c1', 'c2']);
    r.markBad('c1', 'a');
    expect(r.locations('a')).toEqual(['c2']);
    r.forget('c2');
    expect(r.locations('a')).toEqual([]);
    expect(r.knownServers()).toEqual(['c1']);
    expect(r.chunkCount('c1')).toBe(1);
  });

  it('the location map always equals the union of the per-server sets (random operations)', () => {
    const servers = ['c1', 'c2', 'c3'];
    const chunk = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const op = fc.oneof(
      fc.record({ k: fc.constant('update' as const), s: fc.constantFrom(...servers), add: fc.array(chunk, { maxLength: 3 }), del: fc.array(chunk, { maxLength: 3 }) }),
      fc.record({ k: fc.constant('report' as const), s: fc.constantFrom(...servers), pages: fc.array(fc.array(chunk, { maxLength: 3 }), { maxLength: 3 }), finish: fc.boolean() }),
      fc.record({ k: fc.constant('bad' as const), s: fc.constantFrom(...servers), c: chunk }),
      fc.record({ k: fc.constant('forget' as const), s: fc.constantFrom(...servers) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const r = new ChunkRegistry(0, { deadAfterMs: 1000 });
        const model = new Map<string, Set<string>>(servers.map((s) => [s, new Set()]));
        let reportId = 0;
        for (const o of ops) {
          const m = model.get(o.s)!;
          if (o.k === 'update') {
            r.update(o.s, o.add, o.del);
            for (const c of o.add) m.add(c);
            for (const c of o.del) m.delete(c);
          } else if (o.k === 'report') {
            const id = ++reportId;
            r.beginReport(o.s, id, 0);
            const listed = new Set<string>();
            for (const p of o.pages) {
              r.reportPage(o.s, id, p);
              for (const c of p) {
                listed.add(c);
                m.add(c);
              }
            }
            if (o.finish) {
              r.endReport(o.s, id);
              for (const c of [...m]) if (!listed.has(c)) m.delete(c);
            } else {
              r.beginReport(o.s, ++reportId, 0); // abandon: a new report supersedes it
              r.endReport(o.s, reportId);
              m.clear();
            }
          } else if (o.k === 'bad') {
            r.markBad(o.s, o.c);
            m.delete(o.c);
          } else {
            r.forget(o.s);
            m.clear();
          }
        }
        for (const c of ['a', 'b', 'c', 'd', 'e']) {
          const expected = servers.filter((s) => model.get(s)!.has(c));
          expect(r.locations(c)).toEqual(expected);
        }
        for (const s of servers) expect(r.chunkCount(s)).toBe(model.get(s)!.size);
      }),
      { numRuns: 500 },
    );
  });
});

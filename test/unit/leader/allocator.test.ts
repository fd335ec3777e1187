/** fs.alloc and fs.retarget: targets in ring order among live, not-full servers, minus the excluded; write tokens. */
import { describe, expect, it } from 'vitest';
import { preferenceList } from '../../../src/placement/index.js';
import { harness, server } from './helpers.js';

interface Alloc {
  chunkSize: number;
  chunks: Array<{ id: string; targets: Array<{ id: string; addr: string; token: string }> }>;
}

describe('Allocator', () => {
  it('places new chunks on the first R live servers of each chunk ring order, with write tokens', async () => {
    const h = harness({ chunkSizeBytes: 4096 });
    await h.joinServers(['c1', 'c2', 'c3', 'c4']);
    const a = (await h.call('fs.alloc', { count: 3 })) as Alloc;
    expect(a.chunkSize).toBe(4096);
    expect(a.chunks).toHaveLength(3);
    expect(new Set(a.chunks.map((c) => c.id)).size).toBe(3);
    for (const c of a.chunks) {
      expect(c.id).toMatch(/^[0-9a-f]{32}$/);
      const order = preferenceList(h.raft.ring(), c.id).slice(0, 3);
      expect(c.targets).toEqual(order.map((s) => ({ id: s, addr: `${s}.chunk:8000`, token: `write:${c.id}` })));
    }
  });

  it('skips full, silent and excluded servers; NoSpace when none is left', async () => {
    const h = harness({ deadAfterMs: 10_000 });
    await h.joinServers(['c1', 'c2', 'c3', 'c4']);
    await h.call('cs.heartbeat', { usedBytes: 1, capacityBytes: 1, freeBytes: 0, chunks: 0, full: true }, server('c1'));
    const a = (await h.call('fs.alloc', { count: 5, exclude: ['c2'] })) as Alloc;
    for (const c of a.chunks) expect(c.targets.map((t) => t.id).sort()).toEqual(['c3', 'c4']);
    const id = a.chunks[0]!.id;
    expect(await h.call('fs.retarget', { id, exclude: ['c2', 'c3'] })).toEqual({ targets: [{ id: 'c4', addr: 'c4.chunk:8000', token: `write:${id}` }] });
    const none = await h.refusal('fs.retarget', { id, exclude: ['c2', 'c3', 'c4'] });
    expect(none.code).toBe('NoSpace');
    expect(none.message).toContain('(c2,c3,c4)');
    // Everyone silent past deadAfterMs but c1, which is full.
    h.time.advance(10_000);
    await h.call('cs.heartbeat', { usedBytes: 1, capacityBytes: 1, freeBytes: 0, chunks: 0, full: true }, server('c1'));
    expect((await h.refusal('fs.alloc', { count: 1 })).message).toBe('no live chunk server with free space can take a new chunk');
  });
});

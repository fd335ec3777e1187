/**
 * fs.view (the client's placement view and write grant), the one placement rule the allocator
 * and the client share, and fs.commit's ring-version check.
 */
import { describe, expect, it } from 'vitest';
import { PlacementCache } from '../../../src/client/placement-cache.js';
import { decodeView } from '../../../src/proto/meta-answers.js';
import { WRITE_GRANT_TTL_MS_DEFAULT } from '../../../src/config/defaults.js';
import type { CairnError } from '../../../src/util/errors.js';
import { harness, server, type Harness } from './helpers.js';

interface View {
  ringVersion: number;
  servers: Array<{ id: string; addr: string; writable: boolean }>;
  replicas: number;
  chunkSize: number;
  grant: { prefix: string; token: string; ttlMs: number };
}
interface Targets {
  targets: Array<{ id: string; addr: string; token: string }>;
}

const FULL = { usedBytes: 1, capacityBytes: 1, freeBytes: 0, chunks: 0, full: true };
let seq = 0;
const s = (): unknown[] => ['client-1', ++seq, 0];
const ID = (n: number): string => n.toString(16).padStart(32, '0');

/** The client's placement cache over this leader's fs.view. */
function clientCache(h: Harness): PlacementCache {
  return new PlacementCache({ clock: h.time, fetch: async () => decodeView(await h.call('fs.view')) });
}

describe('fs.view', () => {
  it('describes the ring, which servers take writes, R, the chunk size and a fresh write grant', async () => {
    const h = harness({ chunkSizeBytes: 4096, deadAfterMs: 10_000 });
    await h.joinServers(['c1', 'c2', 'c3', 'c4']);
    await h.call('cs.heartbeat', FULL, server('c2'));
    const v = (await h.call('fs.view')) as View;
    expect(v.ringVersion).toBe(h.raft.ring().version);
    expect(v.servers).toEqual(['c1', 'c2', 'c3', 'c4'].map((id) => ({ id, addr: `${id}.chunk:8000`, writable: id !== 'c2' })));
    expect({ replicas: v.replicas, chunkSize: v.chunkSize }).toEqual({ replicas: 3, chunkSize: 4096 });
    expect(v.grant.prefix).toMatch(/^[0-9a-f]{16}$/);
    expect(v.grant.ttlMs).toBe(WRITE_GRANT_TTL_MS_DEFAULT);
    expect(v.grant.token).toBe(`grant:${v.grant.prefix}:${WRITE_GRANT_TTL_MS_DEFAULT}`);
    const again = (await h.call('fs.view')) as View;
    expect(again.grant.prefix).not.toBe(v.grant.prefix);
    // Silent servers stop taking writes; the grant never outlives a chunk token.
    h.time.advance(10_000);
    await h.call('cs.heartbeat', { ...FULL, full: false }, server('c1'));
    expect(((await h.call('fs.view')) as View).servers.map((x) => x.writable)).toEqual([true, false, false, false]);
    const short = harness({ tokenTtlMs: 20_000 });
    expect(((await short.call('fs.view')) as View).grant.ttlMs).toBe(20_000);
  });

  it('a client computes exactly the allocator targets from the same view (full, silent and excluded servers too)', async () => {
    const h = harness({ deadAfterMs: 10_000 });
    await h.joinServers(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    const cache = clientCache(h);
    const compare = async (exclude: string[]): Promise<number> => {
      const view = await cache.refresh(null);
      let compared = 0;
      for (let n = 1; n <= 200; n++) {
        const mine = cache.targets(view, ID(n), 'grant', new Set(exclude)).map((t) => [t.id, t.addr]);
        const leaders = ((await h.call('fs.retarget', { id: ID(n), exclude })) as Targets).targets.map((t) => [t.id, t.addr]);
        expect(mine, `chunk ${n} excluding ${exclude.join(',')}`).toEqual(leaders);
        compared += mine.length;
      }
      const alloc = (await h.call('fs.alloc', { count: 8, exclude })) as { chunks: Array<{ id: string } & Targets> };
      for (const c of alloc.chunks) expect(cache.targets(view, c.id, 'grant', new Set(exclude)).map((t) => t.id)).toEqual(c.targets.map((t) => t.id));
      return compared;
    };
    expect(await compare([])).toBe(600);
    await h.call('cs.heartbeat', FULL, server('c3'));
    expect(await compare([])).toBe(600);
    expect(await compare(['c1', 'c5'])).toBe(200 * 3);
    // Everyone but c2, c4, c6 falls silent (c4 full): two writable servers left.
    h.time.advance(10_000);
    for (const id of ['c2', 'c6']) await h.call('cs.heartbeat', { ...FULL, full: false }, server(id));
    await h.call('cs.heartbeat', FULL, server('c4'));
    expect(await compare([])).toBe(400);
  });
});

describe('fs.commit ring version', () => {
  let chunk = 100;
  const commit = (path: string, ringVersion: number | undefined, session = s(), id = ID(++chunk)): Record<string, unknown> => ({
    path,
    size: 5,
    etag: 'x',
    chunks: [[id, 5, 1]],
    s: session,
    ...(ringVersion === undefined ? {} : { ringVersion }),
  });

  it('refuses chunks placed with an older ring (StaleRing, nothing proposed) and takes the current, a newer or no version', async () => {
    const h = harness();
    await h.joinServers(['c1', 'c2', 'c3']);
    const v = h.raft.ring().version;
    await h.joinServers(['c4']); // the ring moves on
    const now = h.raft.ring().version;
    expect(now).toBeGreaterThan(v);
    const proposals = h.raft.proposals;
    const stale = (await h.refusal('fs.commit', commit('/a', v))) as CairnError;
    expect(stale.code).toBe('StaleRing');
    expect(stale.detail).toEqual({ ringVersion: now });
    expect(h.raft.proposals).toBe(proposals);
    expect((await h.refusal('fs.stat', { path: '/a' })).code).toBe('NotFound');
    expect(await h.call('fs.commit', commit('/a', now))).toMatchObject({ path: '/a', size: 5 });
    expect(await h.call('fs.commit', commit('/b', now + 1))).toMatchObject({ path: '/b' });
    expect(await h.call('fs.commit', commit('/c', undefined))).toMatchObject({ path: '/c' });
  });

  it('a retry of an applied commit returns its first outcome even when the ring moved meanwhile', async () => {
    const h = harness();
    await h.joinServers(['c1', 'c2', 'c3']);
    const v = h.raft.ring().version;
    const session = s();
    const first = await h.call('fs.commit', commit('/r', v, session, ID(7)));
    await h.joinServers(['c4']);
    expect(await h.call('fs.commit', commit('/r', v, session, ID(7)))).toEqual(first);
    expect((await h.refusal('fs.commit', commit('/r2', v))).code).toBe('StaleRing');
  });
});

import { describe, expect, it } from 'vitest';
import { RegisteredPeers } from '../../../src/chunk/registered-peers.js';
import { silentLogger } from '../../../src/util/logger.js';

function peers(lists: string[][], o: { refreshMinMs?: number; maxAgeMs?: number } = {}) {
  let now = 0;
  let fetches = 0;
  let fail = false;
  const p = new RegisteredPeers(
    {
      clock: { nowMs: () => now },
      fetch: async () => {
        fetches++;
        await Promise.resolve();
        if (fail) throw new Error('leader unreachable');
        return lists[Math.min(fetches - 1, lists.length - 1)]!;
      },
      logger: silentLogger,
    },
    { refreshMinMs: 1000, maxAgeMs: 30_000, ...o },
  );
  return { p, advance: (ms: number) => (now += ms), fetches: () => fetches, failNext: () => (fail = true) };
}

describe('RegisteredPeers', () => {
  it('knows the listed addresses and nothing else; concurrent first checks share one fetch', async () => {
    const t = peers([['a:1', 'b:2']]);
    expect(await Promise.all([t.p.knows('a:1'), t.p.knows('b:2'), t.p.knows('c:3')])).toEqual([true, true, false]);
    expect(t.fetches()).toBe(1);
  });

  it('re-reads on a miss at most every refreshMinMs, and every maxAgeMs regardless', async () => {
    const t = peers([['a:1'], ['a:1', 'n:9'], ['n:9']]);
    expect(await t.p.knows('n:9')).toBe(false);
    t.advance(500);
    expect(await t.p.knows('n:9')).toBe(false);
    expect(t.fetches()).toBe(1);
    t.advance(600);
    expect(await t.p.knows('n:9')).toBe(true);
    expect(t.fetches()).toBe(2);
    expect(await t.p.knows('a:1')).toBe(true);
    t.advance(30_000);
    expect(await t.p.knows('a:1')).toBe(false);
    expect(t.fetches()).toBe(3);
  });

  it('keeps the last set when a fetch fails', async () => {
    const t = peers([['a:1']]);
    expect(await t.p.knows('a:1')).toBe(true);
    t.failNext();
    t.advance(30_000);
    expect(await t.p.knows('a:1')).toBe(true);
    expect(t.fetches()).toBe(2);
  });
});

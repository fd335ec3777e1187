/**
 * findFreePortRange: whole-cluster ranges start on a 1000-port block, small ranges come from the
 * top slice, so two clusters started at once can never partly overlap (one's late-bound high
 * ports landing on the other's low ones).
 */
import { describe, expect, it } from 'vitest';
import { findFreePortRange } from '../../../src/net/index.js';

describe('findFreePortRange', () => {
  it('starts every cluster-sized range on a block boundary below the small-range slice', async () => {
    for (let i = 0; i < 5; i++) {
      let draws = 0;
      const base = await findFreePortRange(1000, (n) => (draws++ === 0 ? (i * 7) % n : (i * 7 + draws) % n));
      expect(base % 1000).toBe(0);
      expect(base).toBeGreaterThanOrEqual(10000);
      expect(base + 1000).toBeLessThanOrEqual(30000);
    }
  });

  it('holds a drawn block: a second draw of it, before anything binds there, takes another', async () => {
    const first = (): ((n: number) => number) => {
      let draws = 0;
      return (n) => (draws++ === 0 ? 3 : (3 + draws) % n);
    };
    const a = await findFreePortRange(1000, first());
    const b = await findFreePortRange(1000, first());
    expect(a % 1000).toBe(0);
    expect(b % 1000).toBe(0);
    expect(a).not.toBe(b);
  });

  it('draws small ranges from the top slice, clear of every cluster block', async () => {
    const lowest = await findFreePortRange(10, () => 0);
    expect(lowest).toBeGreaterThanOrEqual(30000);
    const base = await findFreePortRange(3, (n) => n - 1);
    expect(base).toBeGreaterThanOrEqual(30000);
    expect(base + 3).toBeLessThanOrEqual(32000);
  });

  it('keeps an explicit span as given', async () => {
    const base = await findFreePortRange(5, () => 0, 9000, 9100);
    expect(base).toBe(9000);
  });
});

/** The overlay of applied writes on their way to LMDB, over a commit function the test controls. */
import { describe, expect, it } from 'vitest';
import { StateOverlay, type CommitGroup } from '../../../src/storage/state-overlay.js';
import { ManualTime } from '../../support/manual-time.js';

const b = (s: string) => new TextEncoder().encode(s);
const batch = (k: string, v: string | null) => new Map<string, Uint8Array | null>([[k, v === null ? null : b(v)]]);

describe('StateOverlay', () => {
  for (const how of ['throws', 'rejects'] as const) {
    it(`a commit that ${how} fails its group: waiters settle, the error is kept, and the writes stay readable`, async () => {
      const t = new ManualTime();
      const commit: CommitGroup = () => {
        if (how === 'throws') throw new Error('disk gone');
        return Promise.reject(new Error('disk gone'));
      };
      const o = new StateOverlay(commit, 25, t, t);
      o.queue(batch('a', '1'), 1);
      await o.allCommitted();
      expect(o.error?.message).toBe('disk gone');
      // Later groups are not handed to LMDB at all, and waiting for them still ends.
      o.queue(batch('b', '2'), 2);
      t.advance(25);
      await o.allCommitted();
      expect({ transactions: o.transactions, a: o.lookup('a'), b: o.lookup('b') }).toEqual({ transactions: 1, a: b('1'), b: b('2') });
    });
  }

  it('past its bound on batches it asks the next one to wait, and no longer once they committed', async () => {
    const t = new ManualTime();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const o = new StateOverlay(() => held, 25, t, t);
    let n = 0;
    while (n < 10_000 && !o.mustWait()) o.queue(batch(`k${n}`, 'v'), ++n);
    // The first group is under way and holds one batch; every other one waits behind it.
    expect({ n, transactions: o.transactions }).toEqual({ n: 4096, transactions: 1 });
    release();
    await o.allCommitted();
    expect({ wait: o.mustWait(), transactions: o.transactions, empty: o.empty }).toEqual({ wait: false, transactions: 2, empty: true });
  });
});

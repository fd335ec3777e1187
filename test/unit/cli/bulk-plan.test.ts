/** The pure parts of bulk transfers: cp -r destination rules, the bounded pool, find's -size. */
import { describe, expect, it } from 'vitest';
import { checkDirTarget, intoDestination, runPool, sizePredicate } from '../../../cli/bulk-plan.js';

const facts = (o: Partial<{ isDir: boolean; isFile: boolean; trailingSlash: boolean }> = {}) => ({ isDir: false, isFile: false, trailingSlash: false, ...o });
const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? 'other';
  }
};

describe('destination rules (cp -r)', () => {
  it('an existing directory or a trailing / receives DST/<name of SRC>; otherwise SRC is copied as DST', () => {
    expect(intoDestination(facts({ isDir: true }), 1, '/d')).toBe(true);
    expect(intoDestination(facts({ trailingSlash: true }), 1, '/d/')).toBe(true);
    expect(intoDestination(facts({ isDir: true, trailingSlash: true }), 3, '/d/')).toBe(true);
    expect(intoDestination(facts(), 1, '/new')).toBe(false);
    expect(intoDestination(facts({ isFile: true }), 1, '/f')).toBe(false);
  });

  it('several sources need a directory; a trailing / on a file is NotADirectory', () => {
    expect(code(() => intoDestination(facts(), 2, '/new'))).toBe('NotFound');
    expect(code(() => intoDestination(facts({ isFile: true }), 2, '/f'))).toBe('NotADirectory');
    expect(code(() => intoDestination(facts({ isFile: true, trailingSlash: true }), 1, '/f/'))).toBe('NotADirectory');
    expect(code(() => checkDirTarget(true, '/f'))).toBe('NotADirectory');
    expect(code(() => checkDirTarget(false, '/f'))).toBe('ok');
  });
});

describe('runPool', () => {
  it('keeps at most `inflight` items running, runs every item once, in order of start', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      started.push(n);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
    });
    expect(started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
    await runPool([], 4, () => Promise.reject(new Error('never')));
  });

  it('stops starting items after the first failure and throws it once those in flight settle', async () => {
    const started: number[] = [];
    let settled = 0;
    const run = runPool([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setImmediate(r));
      settled++;
      if (n === 2) throw new Error('boom 2');
    });
    await expect(run).rejects.toThrow('boom 2');
    expect(started).toEqual([1, 2, 3]);
    expect(settled).toBe(3);
  });
});

describe('find -size', () => {
  it('rounds up to the unit as find(1): +N more, -N fewer, N exactly', () => {
    expect([0, 1, 1024, 1025, 2048].map(sizePredicate('+1k'))).toEqual([false, false, false, true, true]);
    expect([0, 1, 1024, 1025].map(sizePredicate('-1k'))).toEqual([true, false, false, false]);
    expect([0, 1, 1024, 1025].map(sizePredicate('1k'))).toEqual([false, true, true, false]);
    expect([99, 100, 101].map(sizePredicate('100'))).toEqual([false, true, false]);
    expect([99, 100, 101].map(sizePredicate('+100c'))).toEqual([false, false, true]);
    expect([2 ** 20, 2 ** 20 + 1].map(sizePredicate('-2M'))).toEqual([true, false]);
    expect([2 ** 30 * 3].map(sizePredicate('3G'))).toEqual([true]);
    for (const bad of ['', 'k', '1x', '+-1', '1.5M', ' 1']) expect(code(() => sizePredicate(bad)), bad).toBe('InvalidArgument');
  });
});

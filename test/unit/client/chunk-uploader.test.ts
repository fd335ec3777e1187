import { describe, expect, it } from 'vitest';
import { failedTargets, streamsOf } from '../../../src/client/chunk-uploader.js';
import type { ChunkPutOutcome } from '../../../src/chunk/chunk-client.js';

const bad = (addr: string) => ({ addr, ok: false, error: { code: 'Unavailable' as const, message: 'down' } });
const good = (addr: string) => ({ addr, ok: true });

describe('chunk-uploader', () => {
  it('cuts a send into the client streams of each strategy', () => {
    expect(streamsOf('pipeline', ['a', 'b', 'c'])).toEqual([['a', 'b', 'c']]);
    expect(streamsOf('fanout', ['a', 'b', 'c'])).toEqual([['a'], ['b'], ['c']]);
    expect(streamsOf('split', ['a', 'b', 'c'])).toEqual([['a'], ['b', 'c']]);
    // A retarget to one server is one stream whatever the strategy.
    expect(streamsOf('split', ['a'])).toEqual([['a']]);
  });

  it('blames the first failed server of each stream only', () => {
    const outcome: ChunkPutOutcome = { ok: false, results: [bad('a'), bad('b'), bad('c')] };
    expect(failedTargets(outcome, 'pipeline').map((r) => r.addr)).toEqual(['a']);
    expect(failedTargets(outcome, 'fanout').map((r) => r.addr)).toEqual(['a', 'b', 'c']);
    expect(failedTargets(outcome, 'split').map((r) => r.addr)).toEqual(['a', 'b']);
    const tail: ChunkPutOutcome = { ok: false, results: [good('a'), good('b'), bad('c')] };
    expect(failedTargets(tail, 'split').map((r) => r.addr)).toEqual(['c']);
    expect(failedTargets({ ok: true, results: [good('a'), good('b'), good('c')] }, 'split')).toEqual([]);
  });
});

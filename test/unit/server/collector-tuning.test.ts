import { describe, expect, it } from 'vitest';
import { SERVER_HEAP_GROWING_PERCENT, tuneServerCollector } from '../../../src/server/collector-tuning.js';

describe('tuneServerCollector', () => {
  it('leaves the collector alone when the node command line or NODE_OPTIONS chose a heap growing percent', () => {
    expect(tuneServerCollector(0, ['--heap-growing-percent=150'], undefined)).toBeNull();
    expect(tuneServerCollector(0, ['--heap_growing_percent', '150'], undefined)).toBeNull();
    expect(tuneServerCollector(0, [], '--max-old-space-size=512 --heap-growing-percent=150')).toBeNull();
  });

  it('sets it otherwise (percent 0 here: V8\'s own heuristics, as this test process had them)', () => {
    expect(tuneServerCollector(0, ['--enable-source-maps'], '--max-old-space-size=512')).toBe(0);
  });

  it('defaults to the 400 that docs/configuration.md and bench/RESULTS.md give', () => {
    expect(SERVER_HEAP_GROWING_PERCENT).toBe(400);
  });
});

import { describe, expect, it } from 'vitest';
import { BULK_SERVER_HEAP_GROWING_PERCENT, tuneCollectorForBulkData } from '../../../src/server/collector-tuning.js';

describe('tuneCollectorForBulkData', () => {
  it('leaves the collector alone when the node command line or NODE_OPTIONS chose a heap growing percent', () => {
    expect(tuneCollectorForBulkData(0, ['--heap-growing-percent=150'], undefined)).toBeNull();
    expect(tuneCollectorForBulkData(0, ['--heap_growing_percent', '150'], undefined)).toBeNull();
    expect(tuneCollectorForBulkData(0, [], '--max-old-space-size=512 --heap-growing-percent=150')).toBeNull();
  });

  it('sets it otherwise (percent 0 here: V8\'s own heuristics, as this test process had them)', () => {
    expect(tuneCollectorForBulkData(0, ['--enable-source-maps'], '--max-old-space-size=512')).toBe(0);
    expect(BULK_SERVER_HEAP_GROWING_PERCENT).toBe(400);
  });
});

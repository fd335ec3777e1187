import { describe, expect, it } from 'vitest';
import * as d from '../../../src/config/defaults.js';
import { DEFAULT_GATEWAY_LIMITS } from '../../../src/api/gateway-app.js';
import { CHUNK_BYTES_MAX_DEFAULT, SEGMENT_BYTES_DEFAULT } from '../../../src/storage/index.js';

describe('defaults', () => {
  it('every numeric default is a whole, non-negative number', () => {
    const bad: string[] = [];
    const check = (name: string, v: unknown): void => {
      if (typeof v === 'number' && !(Number.isSafeInteger(v) && v >= 0)) bad.push(`${name} = ${v}`);
      if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) check(`${name}.${k}`, x);
    };
    for (const [name, v] of Object.entries(d)) check(name, v);
    expect(bad).toEqual([]);
  });

  it('defaults a CLI flag gives in seconds are whole seconds', () => {
    for (const ms of [d.DEAD_AFTER_MS_DEFAULT, d.GC_GRACE_MS_DEFAULT, d.SCRUB_PERIOD_MS_DEFAULT]) expect(ms % 1000).toBe(0);
  });

  it('fit together: a chunk fits the chunk servers, segments divide it, dev clusters react faster', () => {
    expect(d.CHUNK_SIZE_BYTES_DEFAULT).toBe(8 * 1024 * 1024);
    expect(d.CHUNK_SIZE_BYTES_DEFAULT).toBeLessThanOrEqual(d.CHUNK_BYTES_MAX_DEFAULT);
    expect(d.CHUNK_SIZE_BYTES_DEFAULT % d.SEGMENT_BYTES_DEFAULT).toBe(0);
    expect(d.HEARTBEAT_MS_DEFAULT).toBeLessThan(d.DEAD_AFTER_MS_DEFAULT);
    expect(d.DEV_HEARTBEAT_MS_DEFAULT).toBeLessThanOrEqual(d.HEARTBEAT_MS_DEFAULT);
    expect(d.DEV_RAFT_TICK_MS_DEFAULT).toBeLessThanOrEqual(d.RAFT_TICK_MS_DEFAULT);
    expect(d.LIST_LIMIT_DEFAULT).toBeLessThanOrEqual(d.GATEWAY_LIMITS_DEFAULT.listLimitMax);
  });

  it('the public faces re-export these values rather than their own', () => {
    expect(DEFAULT_GATEWAY_LIMITS).toEqual(d.GATEWAY_LIMITS_DEFAULT);
    expect(CHUNK_BYTES_MAX_DEFAULT).toBe(d.CHUNK_BYTES_MAX_DEFAULT);
    expect(SEGMENT_BYTES_DEFAULT).toBe(d.SEGMENT_BYTES_DEFAULT);
  });
});

import { describe, expect, it } from 'vitest';
import { ChunkMetrics } from '../../../src/server/chunk-metrics.js';

const sources = {
  space: async () => ({ usedBytes: 10, freeBytes: 20, capacityBytes: 30, chunks: 1 }),
  scrub: { passes: 0, verified: 0, corrupt: 0 },
  repairBytes: () => 0,
  heartbeatAgeMs: () => null,
};

describe('chunk server metrics', () => {
  it('shows every data-plane series before the server has served anything', async () => {
    const text = await new ChunkMetrics(sources).registry.metrics();
    for (const op of ['put', 'get', 'head', 'delete']) {
      expect(text).toContain(`cairn_chunk_request_duration_seconds_count{op="${op}"} 0`);
      expect(text).toContain(`cairn_chunk_request_duration_seconds_bucket{le="+Inf",op="${op}"} 0`);
    }
    expect(text).toMatch(/^cairn_chunk_bytes_in_total\{op="put"\} 0$/m);
    expect(text).toMatch(/^cairn_chunk_bytes_out_total\{op="get"\} 0$/m);
    expect(text).toMatch(/^cairn_chunk_heartbeat_age_seconds \+Inf$/m);
    // No direct-write source: off.
    expect(text).toMatch(/^cairn_chunk_direct_writes 0$/m);
  });

  it('shows whether replicas are written around the page cache, and the staging memory', async () => {
    let enabled = true;
    const m = new ChunkMetrics({ ...sources, directWrites: () => ({ enabled, buffersMade: 8 }) });
    expect(await m.registry.metrics()).toMatch(/^cairn_chunk_direct_writes 1$/m);
    expect(await m.registry.metrics()).toMatch(/^cairn_chunk_direct_buffer_bytes 8388608$/m);
    enabled = false;
    expect(await m.registry.metrics()).toMatch(/^cairn_chunk_direct_writes 0$/m);
  });

  it('counts what the data plane observed', async () => {
    const m = new ChunkMetrics(sources);
    m.request({ op: 'put', status: 201, bytesIn: 1000, bytesOut: 0, seconds: 0.002 });
    m.request({ op: 'healthz', status: 200, bytesIn: 0, bytesOut: 0, seconds: 0.001 });
    const text = await m.registry.metrics();
    expect(text).toMatch(/^cairn_chunk_requests_total\{op="put",status="201"\} 1$/m);
    expect(text).toMatch(/^cairn_chunk_bytes_in_total\{op="put"\} 1000$/m);
    expect(text).toContain('cairn_chunk_request_duration_seconds_count{op="put"} 1');
    expect(text).not.toContain('op="healthz"}');
    expect(text).toMatch(/^cairn_chunk_replicas 1$/m);
  });
});

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerRepairMetrics } from '../../../src/api/gateway-metrics.js';

describe('the leader\'s repair figures as metrics', () => {
  it('counters as counters, gauges as gauges, other numbers by name; one fetch per scrape', async () => {
    const registry = new Registry();
    let fetches = 0;
    registerRepairMetrics(registry, async () => {
      fetches++;
      return { copiesConfirmed: 5, copyBytes: 4096, copiesQueued: 2, underReplicated: 1, ready: true, reportsPending: ['c2'], scrubChecked: 7 };
    });
    const text = await registry.metrics();
    expect(fetches).toBe(1);
    expect(text).toMatch(/^# TYPE cairn_repair_copies_confirmed_total counter\ncairn_repair_copies_confirmed_total 5$/m);
    expect(text).toMatch(/^# TYPE cairn_repair_copy_bytes_total counter\ncairn_repair_copy_bytes_total 4096$/m);
    expect(text).toMatch(/^# TYPE cairn_repair_copies_queued gauge\ncairn_repair_copies_queued 2$/m);
    expect(text).toMatch(/^cairn_repair_chunks_under_replicated 1$/m);
    expect(text).toMatch(/^cairn_repair_ready 1$/m);
    expect(text).toMatch(/^cairn_leader_figure\{what="scrubChecked"\} 7$/m);
    expect(text).not.toContain('what="copiesConfirmed"');
    expect(text).not.toContain('reportsPending');
    await registry.metrics();
    expect(fetches).toBe(2);
  });

  it('no leader answering: the series show 0, the scrape still succeeds', async () => {
    const registry = new Registry();
    registerRepairMetrics(registry, () => Promise.reject(new Error('no leader')));
    const text = await registry.metrics();
    expect(text).toMatch(/^cairn_repair_copies_confirmed_total 0$/m);
    expect(text).not.toContain('cairn_leader_figure{');
  });
});

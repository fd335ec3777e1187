/**
 * The gateway's Prometheus metrics (prom-client), in a registry of its own so several gateways
 * can live in one process (tests) without clashing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'cairn_gateway_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'cairn_gateway_request_duration_seconds',
    help: 'time from request to the end of the response, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({ name: 'cairn_gateway_bytes_in_total', help: 'bytes received (headers and bodies)', registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'cairn_gateway_bytes_out_total', help: 'bytes sent (headers and bodies)', registers: [this.registry] });
  readonly inflight = new Gauge({ name: 'cairn_gateway_requests_in_flight', help: 'requests being served', registers: [this.registry] });
  readonly rejected = new Counter({
    name: 'cairn_gateway_overload_rejections_total',
    help: 'requests refused with 503 because a concurrency limit was reached',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cairn_gateway_' });
  }

  /**
   * The cluster's repair progress (the metadata leader's RepairStats), fetched at each scrape so
   * one Prometheus target shows it: cairn_repair{what="copiesConfirmed"} etc. A scrape while no
   * leader answers leaves the gauge empty.
   */
  watchRepair(fetchStats: () => Promise<Record<string, number | boolean | string[]>>): void {
    new Gauge({
      name: 'cairn_repair',
      help: 'repair and garbage collection on the metadata leader (counts since it took over; queued and in flight now)',
      labelNames: ['what'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const stats = await fetchStats().catch(() => null);
        if (!stats) return;
        for (const [what, v] of Object.entries(stats)) if (typeof v === 'number') this.set({ what }, v);
      },
    });
  }
}

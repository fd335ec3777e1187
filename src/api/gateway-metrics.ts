/**
 * The gateway's Prometheus metrics (prom-client), in a registry of its own so several gateways
 * can live in one process (tests) without clashing.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UploadBudget } from './upload-budget.js';

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

  /** The upload budget's state, read at each scrape (upload-budget.ts). Call once per registry. */
  watchUploads(budget: UploadBudget): void {
    const r = [this.registry];
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: r, collect() { this.set(read()); } });
    };
    gauge('cairn_gateway_upload_buffer_bytes', 'upload bytes held in memory (received, not yet stored on the chunk servers)', () => budget.held());
    gauge('cairn_gateway_upload_buffer_bytes_max', 'the upload budget (--upload-buffer-bytes-max)', () => budget.bytesMax);
    gauge('cairn_gateway_uploads_waiting_for_room', 'uploads paused until the budget has room (new uploads are refused meanwhile)', () => budget.waitingCount());
    const total = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers: r, collect() { this.reset(); this.inc(read()); } });
    };
    total('cairn_gateway_upload_refusals_total', 'uploads refused with 503 because the budget was full', () => budget.counters.refused);
    total('cairn_gateway_upload_idle_cutoffs_total', 'uploads cut off after receiving nothing for the upload idle timeout', () => budget.counters.idleCutoffs);
    total('cairn_gateway_upload_wait_timeouts_total', 'uploads failed after waiting the upload idle timeout for room', () => budget.counters.waitTimeouts);
  }

  /** The cluster's repair progress (the metadata leader's), fetched at each scrape: see registerRepairMetrics. */
  watchRepair(fetchStats: () => Promise<Record<string, number | boolean | string[]>>): void {
    registerRepairMetrics(this.registry, fetchStats);
  }
}

/** Repair figures that only grow while one leader serves (they restart from 0 at a leader change: a counter reset). */
const REPAIR_COUNTERS: Readonly<Record<string, [name: string, help: string]>> = {
  copiesScheduled: ['cairn_repair_copies_scheduled_total', 'repair copies handed to chunk servers'],
  copiesConfirmed: ['cairn_repair_copies_confirmed_total', 'repair copies confirmed by a chunk report'],
  copiesFailed: ['cairn_repair_copies_failed_total', 'repair copies a chunk server could not make from any source'],
  copiesLost: ['cairn_repair_copies_lost_total', 'repair copies handed out and lost (server restarted, or dropped)'],
  deletesScheduled: ['cairn_repair_deletes_scheduled_total', 'excess or garbage replicas whose deletion was sent'],
  copyBytes: ['cairn_repair_copy_bytes_total', 'bytes of repair copies finished'],
};

/** Repair figures that go up and down. */
const REPAIR_GAUGES: Readonly<Record<string, [name: string, help: string]>> = {
  chunks: ['cairn_repair_chunks', 'chunks referenced by files at the last repair scan'],
  underReplicated: ['cairn_repair_chunks_under_replicated', 'chunks with fewer live replicas than wanted at the last scan'],
  lost: ['cairn_repair_chunks_lost', 'chunks with no live replica at the last scan'],
  copiesQueued: ['cairn_repair_copies_queued', 'repair copies waiting'],
  copiesInFlight: ['cairn_repair_copies_in_flight', 'repair copies handed out and not yet confirmed'],
  deletesQueued: ['cairn_repair_deletes_queued', 'replica deletions waiting'],
  garbageChunks: ['cairn_repair_garbage_chunks', 'chunks no file references'],
  copyBytesPerSec: ['cairn_repair_copy_bytes_per_second', 'repair copy rate now'],
  inlineFiles: ['cairn_inline_files', 'files stored inline with the metadata'],
  inlineBytes: ['cairn_inline_bytes', 'bytes of the files stored inline with the metadata'],
  ready: ['cairn_repair_ready', '1 while repair runs (every live chunk server has sent the leader a full report)'],
};

/**
 * The metadata leader's repair figures as proper counters and gauges, fetched at each scrape
 * (one fetch shared by every series of that scrape). A scrape while no leader answers leaves
 * them empty.
 */
export function registerRepairMetrics(registry: Registry, fetchStats: () => Promise<Record<string, number | boolean | string[]>>): void {
  let pending: Promise<Record<string, number | boolean | string[]> | null> | null = null;
  const stats = (): Promise<Record<string, number | boolean | string[]> | null> => {
    if (pending === null) {
      pending = fetchStats().catch(() => null);
      void pending.then(() => (pending = null));
    }
    return pending;
  };
  const value = (v: number | boolean | string[] | undefined): number | null => (typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : null);
  // Figures a newer leader adds (the latest scrub round's, say) are kept, as one gauge by name.
  new Gauge({
    name: 'cairn_leader_figure',
    help: 'other figures the metadata leader reports with its repair progress, by name',
    labelNames: ['what'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [what, v] of Object.entries((await stats()) ?? {})) {
        if (what in REPAIR_COUNTERS || what in REPAIR_GAUGES || typeof v !== 'number') continue;
        this.set({ what }, v);
      }
    },
  });
  for (const [key, [name, help]] of Object.entries(REPAIR_COUNTERS)) {
    new Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        this.reset();
        const v = value((await stats())?.[key]);
        if (v !== null) this.inc(v);
      },
    });
  }
  for (const [key, [name, help]] of Object.entries(REPAIR_GAUGES)) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.reset();
        const v = value((await stats())?.[key]);
        if (v !== null) this.set(v);
      },
    });
  }
}

/**
 * A chunk server's Prometheus metrics (prom-client), served by metrics-http.ts:
 *
 *   cairn_chunk_requests_total{op,status}, cairn_chunk_request_duration_seconds{op},
 *   cairn_chunk_bytes_in_total{op}, cairn_chunk_bytes_out_total{op} (the data plane, by op:
 *   put, get, head, delete), cairn_chunk_disk_used_bytes, cairn_chunk_disk_free_bytes,
 *   cairn_chunk_disk_capacity_bytes, cairn_chunk_replicas, cairn_chunk_checksum_failures_total,
 *   cairn_chunk_scrub_passes_total, cairn_chunk_scrub_verified_total,
 *   cairn_chunk_scrub_corrupt_total, cairn_chunk_repair_bytes_total (repair copies stored here),
 *   cairn_chunk_heartbeat_age_seconds (since the leader last answered a heartbeat; +Inf before
 *   the first), cairn_chunk_direct_writes (1 while replicas are written around the page cache),
 *   cairn_chunk_direct_buffer_bytes (their staging memory) and the process defaults (cairn_chunk_process_*, cairn_chunk_nodejs_*).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChunkRequestSeen } from '../chunk/chunk-http-server.js';

/** What the metrics read at scrape time. */
export interface ChunkMetricsSources {
  space(): Promise<{ usedBytes: number; freeBytes: number; capacityBytes: number; chunks: number }>;
  scrub: { passes: number; verified: number; corrupt: number };
  /** Bytes of repair copies stored since start. */
  repairBytes(): number;
  /** Milliseconds since the leader last answered a heartbeat; null: never. */
  heartbeatAgeMs(): number | null;
  /** Replica writes around the page cache (ChunkStore.directWrites); absent: reads as off. */
  directWrites?(): { enabled: boolean; buffersMade: number };
}

const DATA_PLANE_OPS = ['put', 'get', 'head', 'delete'] as const;

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ChunkMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'cairn_chunk_requests_total', help: 'data-plane requests answered, by op and status', labelNames: ['op', 'status'] as const, registers: [this.registry] });
  private readonly duration = new Histogram({ name: 'cairn_chunk_request_duration_seconds', help: 'time from request to the end of the response, by op', labelNames: ['op'] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  private readonly bytesIn = new Counter({ name: 'cairn_chunk_bytes_in_total', help: 'chunk bytes received (successful PUTs), by op', labelNames: ['op'] as const, registers: [this.registry] });
  private readonly bytesOut = new Counter({ name: 'cairn_chunk_bytes_out_total', help: 'chunk bytes sent (successful GETs), by op', labelNames: ['op'] as const, registers: [this.registry] });
  private readonly checksumFailures = new Counter({ name: 'cairn_chunk_checksum_failures_total', help: 'replicas found corrupt (on read, verify or scrub) and deleted', registers: [this.registry] });

  constructor(src: ChunkMetricsSources) {
    const r = [this.registry];
    // One space() reading shared by the series of one scrape.
    let pending: ReturnType<ChunkMetricsSources['space']> | null = null;
    const space = (): ReturnType<ChunkMetricsSources['space']> => {
      if (pending === null) {
        pending = src.space();
        void pending.finally(() => (pending = null)).catch(() => undefined);
      }
      return pending;
    };
    const spaceGauge = (name: string, help: string, pick: (s: Awaited<ReturnType<ChunkMetricsSources['space']>>) => number): void => {
      new Gauge({
        name,
        help,
        registers: r,
        async collect() {
          this.set(pick(await space()));
        },
      });
    };
    spaceGauge('cairn_chunk_disk_used_bytes', 'bytes the stored replicas take', (s) => s.usedBytes);
    spaceGauge('cairn_chunk_disk_free_bytes', 'free bytes on the chunk directory\'s file system', (s) => s.freeBytes);
    spaceGauge('cairn_chunk_disk_capacity_bytes', 'size of the chunk directory\'s file system', (s) => s.capacityBytes);
    spaceGauge('cairn_chunk_replicas', 'replicas stored on this server', (s) => s.chunks);
    const total = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: r,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    total('cairn_chunk_scrub_passes_total', 'finished scrubber passes over every replica', () => src.scrub.passes);
    total('cairn_chunk_scrub_verified_total', 'replicas the scrubber re-read and checked', () => src.scrub.verified);
    total('cairn_chunk_scrub_corrupt_total', 'replicas the scrubber found corrupt', () => src.scrub.corrupt);
    total('cairn_chunk_repair_bytes_total', 'bytes of repair copies stored on this server', () => src.repairBytes());
    new Gauge({
      name: 'cairn_chunk_heartbeat_age_seconds',
      help: 'seconds since the metadata leader last answered a heartbeat (+Inf: not yet)',
      registers: r,
      collect() {
        const ms = src.heartbeatAgeMs();
        this.set(ms === null ? Number.POSITIVE_INFINITY : ms / 1000);
      },
    });
    new Gauge({
      name: 'cairn_chunk_direct_writes',
      help: '1 while replicas are written around the page cache (O_DIRECT); 0 when off or refused by the file system',
      registers: r,
      collect() {
        this.set(src.directWrites?.().enabled === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cairn_chunk_direct_buffer_bytes',
      help: 'staging memory made for direct writes (1 MiB buffers, kept for reuse)',
      registers: r,
      collect() {
        this.set((src.directWrites?.().buffersMade ?? 0) * 1024 * 1024);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'cairn_chunk_' });
    // Every data-plane op has its series from the start (at zero), so a server that has not
    // served an op yet still shows it: a missing series reads as a broken exporter.
    for (const op of DATA_PLANE_OPS) this.duration.zero({ op });
    this.bytesIn.inc({ op: 'put' }, 0);
    this.bytesOut.inc({ op: 'get' }, 0);
  }

  /** The data plane's observer (ChunkHttpServerComponents.observe). */
  readonly request = (q: ChunkRequestSeen): void => {
    this.requests.inc({ op: q.op, status: String(q.status) });
    if (q.op === 'healthz') return;
    this.duration.observe({ op: q.op }, q.seconds);
    if (q.bytesIn > 0) this.bytesIn.inc({ op: q.op }, q.bytesIn);
    if (q.bytesOut > 0) this.bytesOut.inc({ op: q.op }, q.bytesOut);
  };

  checksumFailure(): void {
    this.checksumFailures.inc();
  }
}

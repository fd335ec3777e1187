/**
 * Composition root of a chunk server: the chunk store on its own directory, the HTTP data
 * plane (PUT with pipeline, GET/HEAD with Range, DELETE; chunk tokens signed by the metadata
 * service), and the link to the metadata leader (registration, heartbeats, full and
 * incremental chunk reports).
 */
import { mkdirSync, statSync } from 'node:fs';
import { ChunkHttpServer } from '../chunk/chunk-http-server.js';
import { RegisteredPeers } from '../chunk/registered-peers.js';
import { decodeView } from '../proto/meta-answers.js';
import { MetaReporter } from '../chunk/meta-reporter.js';
import { MetaSession } from '../client/meta-session.js';
import { parseHostPort } from '../proto/addr.js';
import { systemClock, systemDefer, systemRng, systemTimers, wallClockMs } from '../env/system.js';
import { RpcClient } from '../net/index.js';
import { ChunkStore } from '../storage/chunk-store.js';
import type { Logger } from '../util/logger.js';
import { ChunkClient } from '../chunk/chunk-client.js';
import { Replicator } from '../chunk/replicator.js';
import { IoPriority } from '../chunk/io-priority.js';
import { Scrubber, type ScrubPosition } from '../chunk/scrubber.js';
import { takeShutdownMarker, writeShutdownMarker } from '../storage/shutdown-marker.js';
import { ChunkMetrics } from './chunk-metrics.js';
import { startMetricsHttpOrWarn } from './metrics-http.js';
import type { ServerTls } from './tls-files.js';
import { CHUNK_SERVER_META_CALL_TIMEOUT_MS_DEFAULT, CHUNK_SERVER_META_RETRY_DEADLINE_MS_DEFAULT, META_MEMBER_REFRESH_MS_DEFAULT, ZONE_DEFAULT } from '../config/defaults.js';

export interface ChunkServerOptions {
  id: string;
  /** host:port the data plane listens on (0.0.0.0:PORT: every interface). */
  listen: string;
  /**
   * host:port registered with the metadata service and reported in pipeline results: the
   * address clients and other chunk servers dial. @default the bound --listen address
   */
  advertise?: string;
  dir: string;
  /** Metadata server addresses (any subset). */
  metaAddrs: string[];
  clusterSecret: Uint8Array;
  /** Failure domain. @default 'default' */
  zone?: string;
  /** Largest chunk accepted. @default 64 MiB */
  chunkBytesMax?: number;
  /** Free bytes kept on the disk; below it the server is full. @default 0 */
  reserveBytes?: number;
  /** Staging buffers for replicas written around the page cache (ChunkStoreOptions.directBuffersMax; 0: none). */
  directBuffersMax?: number;
  /** @default 1000 */
  heartbeatMs?: number;
  /** Repair copy bandwidth (bytes/s, 0: unlimited) and commands at once. */
  repairBytesPerSecMax?: number;
  repairConcurrencyMax?: number;
  /** Every replica re-verified within this period, at this read rate (0: unlimited). */
  scrubPeriodMs?: number;
  scrubBytesPerSecMax?: number;
  /** A data-plane connection silent this long is closed (chunk-http-server.ts). @default CHUNK_IDLE_TIMEOUT_MS_DEFAULT */
  idleTimeoutMs?: number;
  /** host:port of the metrics endpoint (metrics-http.ts); absent: none. */
  metricsListen?: string;
  /** The bearer token scrapers must present (the client token); null or absent: no auth. */
  metricsToken?: string | null;
  /** TLS for the data plane and every outgoing connection (tls-files.ts); absent: plain TCP. */
  tls?: ServerTls | null;
}

export interface ChunkServer {
  readonly addr: string;
  readonly store: ChunkStore;
  readonly reporter: MetaReporter;
  readonly scrubber: Scrubber;
  /** The metrics endpoint's URL (null: none). */
  readonly metricsUrl: string | null;
  close(): Promise<void>;
}

export async function startChunkServer(opts: ChunkServerOptions, logger: Logger): Promise<ChunkServer> {
  const log = logger.child({ node: opts.id });
  const { host, port } = parseHostPort(opts.listen);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  // Absent after a crash (or on the first start): the scrubber then re-verifies every replica first.
  const resume = scrubResumeOf(await takeShutdownMarker(opts.dir));
  if (!resume) log.info('no clean-shutdown marker: re-verifying every replica first');
  // The file system's device: servers whose chunks share one disk report the same id, so
  // cluster totals count that disk's space once.
  const diskId = String(statSync(opts.dir).dev);
  // Created first: the store reports corrupt replicas to it from the start.
  let metrics: ChunkMetrics | null = null;
  let copiedBytes = 0;
  let scrubber: Scrubber | null = null;
  // The reporter is created after the store; events before that (none: nothing is served yet) are not lost.
  let reporter: MetaReporter | null = null;
  const store = await ChunkStore.open(
    {
      rng: systemRng,
      clock: systemClock,
      timers: systemTimers,
      logger: log,
      // Reported at once (coalesced: at most one report in flight per server), not at the next
      // heartbeat: a file is committed right after its chunks are durable, and until the leader
      // hears of the replicas its status would count the new chunk as lost.
      onAdded: (id) => {
        reporter?.chunkAdded(id);
        reporter?.reportSoon();
      },
      onRemoved: (id) => {
        reporter?.chunkRemoved(id);
        reporter?.reportSoon();
      },
      onCorrupt: (id, reason) => {
        // Never served again: deleted (and reported gone); repair copies the chunk from a good replica.
        log.warn('corrupt replica found; deleting it', { chunk: id, reason });
        metrics?.checksumFailure();
        reporter?.chunkRemoved(id);
        reporter?.reportSoon();
        systemTimers.setTimeout(() => {
          store.delete(id).catch((err: unknown) => log.error('could not delete a corrupt replica', { chunk: id, err: (err as Error).message }));
        }, 0);
      },
    },
    {
      dir: opts.dir,
      ...(opts.chunkBytesMax === undefined ? {} : { chunkBytesMax: opts.chunkBytesMax }),
      ...(opts.reserveBytes === undefined ? {} : { reserveBytes: opts.reserveBytes }),
      ...(opts.directBuffersMax === undefined ? {} : { directBuffersMax: opts.directBuffersMax }),
    },
  );
  // Pipelines are forwarded only to the cluster's chunk servers, as the leader's view lists them.
  let peers: RegisteredPeers | null = null;
  const pipelinePeers = { knows: (a: string) => peers?.knows(a) ?? Promise.resolve(false) };
  if (opts.metricsListen !== undefined) {
    metrics = new ChunkMetrics({
      space: () => store.space(),
      scrub: { get passes() { return scrubber?.counters.passes ?? 0; }, get verified() { return scrubber?.counters.verified ?? 0; }, get corrupt() { return scrubber?.counters.corrupt ?? 0; } },
      repairBytes: () => copiedBytes,
      directWrites: () => store.directWrites,
      heartbeatAgeMs: () => {
        const at = reporter?.lastHeartbeatAtMs ?? null;
        return at === null ? null : systemClock.nowMs() - at;
      },
    });
  }
  const io = new IoPriority({ clock: systemClock, timers: systemTimers });
  const http = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: log, pipelinePeers, io, defer: systemDefer, ...(metrics ? { observe: metrics.request } : {}) }, { secret: opts.clusterSecret, host, port, tls: opts.tls ?? null, ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }), ...(opts.advertise === undefined ? {} : { advertiseAddr: opts.advertise }) });
  const bound = await http.start();
  const addr = opts.advertise ?? bound;
  const session = new MetaSession(
    {
      dial: (a) => new RpcClient({ timers: systemTimers }, { addr: a, clientToken: opts.clusterSecret, serviceId: opts.id, tls: opts.tls ?? null }),
      clock: systemClock,
      timers: systemTimers,
      rng: systemRng,
    },
    // Follows the metadata group's membership as it changes (cairn meta add/remove).
    { addrs: opts.metaAddrs, callTimeoutMs: CHUNK_SERVER_META_CALL_TIMEOUT_MS_DEFAULT, retryDeadlineMs: CHUNK_SERVER_META_RETRY_DEADLINE_MS_DEFAULT, memberRefreshMs: META_MEMBER_REFRESH_MS_DEFAULT },
  );
  peers = new RegisteredPeers({
    clock: systemClock,
    fetch: async () => decodeView(await session.call('fs.view', {}, { idempotent: true })).servers.map((s) => s.addr),
    logger: log,
  });
  // copiedBytes: bytes stored by repair copies since start; each heartbeat carries it, the leader turns it into a rate.
  const replicator = new Replicator(
    {
      store: {
        async put(id, source, o) {
          const r = await store.put(id, source, o);
          if (r.created) copiedBytes += o.size ?? 0;
          return r;
        },
        delete: (id) => store.delete(id),
        verify: (id) => store.verify(id),
      },
      chunks: new ChunkClient({ logger: log }, { tls: opts.tls ?? null }),
      io,
      clock: systemClock,
      timers: systemTimers,
      logger: log.child({ component: 'replicator' }),
      // A new replica is announced by the store's onAdded; one already held is announced again
      // (the leader asked for it, so it does not know we have it). Either way at once: the
      // leader's answer to the report carries the next copies.
      onCopied: (id, created) => {
        if (!created) {
          reporter?.chunkAdded(id);
          reporter?.reportSoon();
        }
      },
      onCopyFailed: (id) => reporter?.copyFailed(id),
      onMissing: (id) => {
        reporter?.chunkRemoved(id);
        reporter?.reportSoon();
      },
    },
    {
      ...(opts.repairBytesPerSecMax === undefined ? {} : { bytesPerSecMax: opts.repairBytesPerSecMax }),
      ...(opts.repairConcurrencyMax === undefined ? {} : { concurrencyMax: opts.repairConcurrencyMax }),
    },
  );
  scrubber = new Scrubber(
    { store, clock: systemClock, timers: systemTimers, logger: log.child({ component: 'scrubber' }), reportRound: (page) => reporter!.scrubReport(page) },
    {
      ...(opts.scrubPeriodMs === undefined ? {} : { periodMs: opts.scrubPeriodMs }),
      ...(opts.scrubBytesPerSecMax === undefined ? {} : { bytesPerSecMax: opts.scrubBytesPerSecMax }),
      ...(resume ? { resume } : {}),
    },
  );
  reporter = new MetaReporter(
    {
      session,
      store,
      clock: systemClock,
      timers: systemTimers,
      logger: log.child({ component: 'reporter' }),
      onCommands: (cmds) => replicator.submit(cmds),
      onScrub: (cmd) => scrubber.startRound(cmd),
      copiedBytes: () => copiedBytes,
      repairIdle: () => replicator.idle(),
    },
    { addr, zone: opts.zone ?? ZONE_DEFAULT, diskId, ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }) },
  );
  const metricsHttp = metrics && opts.metricsListen !== undefined ? await startMetricsHttpOrWarn(metrics.registry, { listen: opts.metricsListen, token: opts.metricsToken ?? null, tls: opts.tls ?? null }, log.child({ component: 'metrics' })) : null;
  reporter.start();
  scrubber.start();
  log.info('chunk server started', { addr, ...(addr === bound ? {} : { listen: bound }), dir: opts.dir, ...(metricsHttp ? { metrics: metricsHttp.url } : {}) });
  const r = reporter;
  const sc = scrubber;
  let closed = false;
  return {
    addr,
    store,
    reporter: r,
    scrubber,
    metricsUrl: metricsHttp?.url ?? null,
    async close() {
      if (closed) return;
      closed = true;
      await metricsHttp?.close();
      await r.stop();
      replicator.stop();
      await sc.stop();
      session.close();
      await http.close();
      await store.close();
      // Last: the next start resumes the background scrub instead of re-verifying everything.
      const p = scrubber.position();
      await writeShutdownMarker(opts.dir, { scrub: { prefix: p.prefix, nextPassAtWallMs: wallClockMs() + p.waitMs } });
      log.info('chunk server stopped');
    },
  };
}

/** The scrub position saved in a clean-shutdown marker (null: none, or not readable: verify everything first). */
function scrubResumeOf(marker: Record<string, unknown> | null): ScrubPosition | null {
  const s = marker?.scrub as { prefix?: unknown; nextPassAtWallMs?: unknown } | undefined;
  if (!s || typeof s.nextPassAtWallMs !== 'number' || !Number.isFinite(s.nextPassAtWallMs)) return null;
  const prefix = s.prefix;
  if (prefix !== null && !(typeof prefix === 'number' && Number.isInteger(prefix) && prefix >= 0 && prefix < 256)) return null;
  return { prefix, waitMs: prefix === null ? Math.max(0, s.nextPassAtWallMs - wallClockMs()) : 0 };
}

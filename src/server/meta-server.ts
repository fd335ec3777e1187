/**
 * Composition root of a metadata server: LMDB Raft log + LMDB state (namespace and cluster
 * map), the Raft runtime, the metadata leader (leader/: client and chunk-server RPC, leader
 * soft state) wired to the runtime and the state machine, the peer transport and one NetServer
 * that carries peer frames and RPC on the server's single address.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkToken } from '../proto/chunk-token.js';
import { MetaStateMachine } from '../consensus/meta-state-machine.js';
import { RaftRuntime } from '../consensus/raft-runtime.js';
import { backupSource, clusterIdOf } from '../consensus/backup-source.js';
import { secureRandomBytes, systemClock, systemDefer, systemRng, systemTimers, wallClockMs } from '../env/system.js';
import { NetServer, PeerTransport, RpcClient } from '../net/index.js';
import type { RaftConfig } from '../raft/types.js';
import { LmdbStateStore } from '../storage/lmdb-state-store.js';
import { LmdbRaftStorage } from '../storage/lmdb-raft-storage.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { parseHostPort } from '../proto/addr.js';
import { LeaderForwarder, MetaLeader, type Caller, type RepairSchedulerOptions } from '../leader/index.js';
import { META_METHODS } from '../proto/meta-requests.js';
import { metaRequestLimits } from '../proto/meta-request-limits.js';
import { DEAD_AFTER_MS_DEFAULT, META_FORWARD_TIMEOUT_MS_DEFAULT, RAFT_ELECTION_TICKS_DEFAULT, RAFT_TICK_MS_DEFAULT, REPLICAS_DEFAULT } from '../config/defaults.js';
import { sessionsInUse } from '../meta/session.js';
import { MetaMetrics, type MetaMetricsSources } from './meta-metrics.js';
import { startMetricsHttpOrWarn } from './metrics-http.js';
import type { ServerTls } from './tls-files.js';

export interface MetaServerOptions {
  id: string;
  /** host:port this server listens on (peers and clients). */
  listen: string;
  /** Every initial member, id → address (this server included). Used on first start only. */
  peers: Map<string, string>;
  /**
   * First start on an empty dir joins a running group (added with `cairn meta add`) instead of
   * founding one with `peers` as voters: it waits for the leader's log or snapshot. @default false
   */
  join?: boolean;
  dir: string;
  clusterSecret: Uint8Array;
  /** null: clients are refused (no client access). */
  clientToken: Uint8Array | null;
  tickMs?: number;
  raft?: Partial<Omit<RaftConfig, 'id' | 'applied'>>;
  snapshotEntriesMin?: number;
  /** Replicas per chunk. @default 3 */
  replicas?: number;
  /** A chunk server silent this long is declared dead. @default 10000 */
  deadAfterMs?: number;
  /** Default chunk size for writers. @default 8 MiB */
  chunkSizeBytes?: number;
  /** Largest file stored inline with its namespace entry; 0: never. @default INLINE_BYTES_MAX_DEFAULT */
  inlineBytesMax?: number;
  /** Cap on the inline bytes of the whole cluster. @default INLINE_TOTAL_BYTES_MAX_DEFAULT */
  inlineTotalBytesMax?: number;
  /** Repair and garbage collection (see leader/repair-scheduler.ts). */
  repair?: RepairSchedulerOptions;
  /** host:port of the metrics endpoint (metrics-http.ts; the client token guards it); absent: none. */
  metricsListen?: string;
  /** TLS for the listener and the connections to peers (tls-files.ts); absent: plain TCP. */
  tls?: ServerTls | null;
}

export interface MetaServer {
  readonly addr: string;
  /** The metrics endpoint's URL (null: none). */
  readonly metricsUrl: string | null;
  readonly runtime: RaftRuntime;
  close(): Promise<void>;
}

export async function startMetaServer(opts: MetaServerOptions, logger: Logger, onFatal: (err: Error) => void): Promise<MetaServer> {
  const log = logger.child({ node: opts.id });
  if (!opts.peers.has(opts.id)) throw new CairnError('InvalidArgument', `--peers must include this server (${opts.id})`);
  const { host, port } = parseHostPort(opts.listen);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const storage = await LmdbRaftStorage.open(join(opts.dir, 'raft'));
  const stateStore = await LmdbStateStore.open(join(opts.dir, 'state'));
  const machine = new MetaStateMachine(stateStore);
  // Created before the runtime so leader changes and applies are counted from the start.
  let metrics: MetaMetrics | null = null;
  const transport = new PeerTransport(
    { timers: systemTimers, rng: systemRng, logger: log.child({ component: 'peer-transport' }) },
    { id: opts.id, clusterSecret: opts.clusterSecret, tls: opts.tls ?? null },
  );
  const runtime = await RaftRuntime.create(
    {
      clock: systemClock,
      timers: systemTimers,
      rng: systemRng,
      defer: systemDefer,
      storage,
      transport,
      stateMachine: opts.metricsListen === undefined ? machine : (metrics = new MetaMetrics(metricsSources())).timedStateMachine(machine),
      logger: log,
      onLeaderChange: () => metrics?.leaderChanged(),
      onPersisted: (ms, entries, synced) => metrics?.logWritten(ms, entries, synced),
    },
    { id: opts.id, initialPeers: opts.peers, join: opts.join ?? false, tickMs: opts.tickMs, raft: opts.raft, snapshotEntriesMin: opts.snapshotEntriesMin },
  );
  transport.onUnreachable = (to) => runtime.reportUnreachable(to);
  // The metrics read these once the server runs (never before a scrape can arrive).
  function metricsSources(): MetaMetricsSources {
    return {
      raft: { status: () => runtime.status() },
      sessions: () => sessionsInUse(stateStore),
      connectionsOpen: () => server.counters.connectionsOpen,
      repair: async () => (await leader.handle('cluster.repair', {}, { role: 'client' })) as Record<string, number | boolean | string[]>,
      lmdbDirs: { raft: join(opts.dir, 'raft'), state: join(opts.dir, 'state') },
    };
  }
  const wallClock = { nowMs: wallClockMs };
  const leader = new MetaLeader(
    {
      raft: metrics ? metrics.timedRaft(runtime) : runtime,
      members: runtime,
      namespace: machine,
      view: stateStore,
      clock: systemClock,
      wallMs: wallClockMs,
      timers: systemTimers,
      randomBytes: secureRandomBytes,
      tokens: new ChunkToken({ clock: wallClock }, { secret: opts.clusterSecret }),
      logger: log.child({ component: 'meta-leader' }),
      backups: backupSource({ stateMachine: machine, storage, currentTerm: () => runtime.status().term }, { clusterId: clusterIdOf(opts.clusterSecret) }),
    },
    {
      replicas: opts.replicas ?? REPLICAS_DEFAULT,
      deadAfterMs: opts.deadAfterMs ?? DEAD_AFTER_MS_DEFAULT,
      ...(opts.chunkSizeBytes === undefined ? {} : { chunkSizeBytes: opts.chunkSizeBytes }),
      ...(opts.inlineBytesMax === undefined ? {} : { inlineBytesMax: opts.inlineBytesMax }),
      ...(opts.inlineTotalBytesMax === undefined ? {} : { inlineTotalBytesMax: opts.inlineTotalBytesMax }),
      ...(opts.repair === undefined ? {} : { repair: opts.repair }),
    },
  );
  // Clients that reach this follower but not the leader still make progress (leader-forwarder.ts).
  const forwarder = new LeaderForwarder(
    {
      dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken: opts.clusterSecret, serviceId: opts.id }),
      leaderContactMs: () => runtime.status().leaderContactMs,
    },
    { leaderContactMsMax: (opts.raft?.electionTicks ?? RAFT_ELECTION_TICKS_DEFAULT) * (opts.tickMs ?? RAFT_TICK_MS_DEFAULT), timeoutMs: META_FORWARD_TIMEOUT_MS_DEFAULT },
  );
  const serve = (method: string, body: unknown, caller: Caller, signal: AbortSignal | undefined): Promise<unknown> =>
    forwarder.handle(method, body, caller, () => leader.handle(method, body, caller, signal));
  const server = new NetServer(
    { randomBytes: secureRandomBytes, timers: systemTimers, logger: log.child({ component: 'net' }) },
    { host, port, clusterSecret: opts.clusterSecret, clientToken: opts.clientToken, tls: opts.tls ?? null },
    {
      onPeerFrame: (from, payload) => runtime.receive(from, payload),
      rpc: (method, body, ctx) => (metrics ? metrics.rpc(method, () => serve(method, body, ctx.caller, ctx.signal)) : serve(method, body, ctx.caller, ctx.signal)),
      methods: META_METHODS,
      requestLimits: metaRequestLimits,
    },
  );
  const addr = await server.listen();
  const metricsHttp = metrics && opts.metricsListen !== undefined ? await startMetricsHttpOrWarn(metrics.registry, { listen: opts.metricsListen, token: opts.clientToken ? new TextDecoder().decode(opts.clientToken) : null, tls: opts.tls ?? null }, log.child({ component: 'metrics' })) : null;
  runtime.start(onFatal);
  leader.start();
  log.info('metadata server started', { addr, dir: opts.dir, ...(metricsHttp ? { metrics: metricsHttp.url } : {}) });

  let closed = false;
  return {
    addr,
    metricsUrl: metricsHttp?.url ?? null,
    runtime,
    async close() {
      if (closed) return;
      closed = true;
      // A leader hands over first (bounded), so clients hop once instead of waiting out an election.
      await leader.handOff().catch((err: unknown) => log.warn('leadership hand-over failed', { err: err instanceof Error ? err.message : String(err) }));
      await metricsHttp?.close();
      leader.stop();
      forwarder.close();
      await server.close();
      await runtime.stop();
      await transport.close();
      await stateStore.close();
      await storage.close();
      log.info('metadata server stopped');
    },
  };
}

/**
 * A complete local cluster of real OS processes (what `cairn dev` runs, and what the
 * integration tests and benchmarks start): N metadata servers and M chunk servers on loopback,
 * every port in [portBase, portBase + 999], data under one directory.
 *
 * Layout under dir: cluster.secret and client.token (generated once, reused on restart, so a
 * restart on the same dir keeps everything), meta/<id>/ and chunks/<id>/ (each server's data),
 * logs/<id>.log (each server's JSON logs), and cluster.json, written atomically once the
 * cluster is ready (a leader, and every chunk server registered and alive) and removed on stop.
 *
 * Ports: the HTTP gateway portBase, metadata servers portBase+1…, chunk servers portBase+101…,
 * the gateway's S3 endpoint portBase+50 (s3.credentials: its key, made once); metrics endpoints:
 * chunk servers portBase+501…, metadata servers portBase+901… (the gateway serves its own /metrics).
 * Servers that die are not restarted (tests kill them on purpose).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { PRIVATE_FILE_MODE, makePrivateDirSync } from '../storage/private-files.js';
import { join, resolve } from 'node:path';
import { MetaSession } from '../client/meta-session.js';
import { secureRandomBytes, sleep, systemClock, systemRng, systemTimers } from '../env/system.js';
import { RpcClient } from '../net/index.js';
import { CairnError } from '../util/errors.js';
import { decodeClusterStatus } from '../proto/meta-answers.js';
import { cairnArgv, LocalProcess, type ProcessExit } from './local-process.js';
import {
  CHUNK_SIZE_BYTES_DEFAULT,
  DEAD_AFTER_MS_DEFAULT,
  DEV_CHUNK_SERVERS_DEFAULT,
  DEV_HEARTBEAT_MS_DEFAULT,
  DEV_META_SERVERS_DEFAULT,
  DEV_RAFT_TICK_MS_DEFAULT,
  REPLICAS_DEFAULT,
} from '../config/defaults.js';

export interface DevClusterInit {
  dir: string;
  portBase: number;
  /** @default 3 */
  meta?: number;
  /** @default 4 */
  chunks?: number;
  /** @default 3 */
  replicas?: number;
  /** Default chunk size for writers. @default 8 MiB */
  chunkSize?: number;
  /** Seconds without a heartbeat before a chunk server is dead. @default 10 */
  deadAfterSec?: number;
  /** Raft tick. @default 50 */
  tickMs?: number;
  /** Chunk-server heartbeat period. @default 500 */
  heartbeatMs?: number;
  /** Run the HTTP gateway on 127.0.0.1:portBase. @default true */
  gateway?: boolean;
  /** Unreferenced chunks are collected after this long. @default the server's (1 h) */
  gcGraceSec?: number;
  /** Chunk servers re-verify every replica within this period. @default the server's (14 days) */
  scrubPeriodSec?: number;
  /** Chunk servers close a data-plane connection silent this long. @default the server's (30 s) */
  chunkIdleTimeoutMs?: number;
  /** Repair copy bandwidth per chunk server, bytes/s (0: unlimited). @default the server's */
  repairBytesPerSec?: number;
  /** Node flags for every server process, before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). @default none */
  nodeArgs?: string[];
  /**
   * Largest file stored inline with its metadata (`cairn meta --inline-bytes-max`). @default 0:
   * off, so a cluster built here exercises the chunk path unless it asks (the tests of chunks,
   * repair and scrubbing write small files); `cairn dev` passes DEV_INLINE_BYTES_MAX_DEFAULT
   * (also 0) unless its --inline-bytes-max says otherwise.
   */
  inlineBytesMax?: number;
  /** Cap on the cluster's inline bytes. @default the server's (INLINE_TOTAL_BYTES_MAX_DEFAULT) */
  inlineTotalBytesMax?: number;
  /** Called when a server exits, for whatever reason (`cairn dev` prints a line). */
  onServerExit?: (e: ProcessExit) => void;
}

export interface ServerEntry {
  id: string;
  addr: string;
  pid: number | null;
  dir: string;
  argv: string[];
  /** http://host:port/metrics (Prometheus text; the client token as Bearer). */
  metrics: string;
}

export interface ClusterJson {
  metaAddrs: string;
  token: string;
  gateway: { url: string; pid: number | null; argv: string[]; metrics: string } | null;
  meta: ServerEntry[];
  chunks: ServerEntry[];
  /** The S3 endpoint (served by the gateway process, so its pid and argv are the gateway's). */
  s3?: { url: string; region: string; accessKeyId: string; secretAccessKey: string; pid: number | null; argv: string[] };
}

interface Member {
  id: string;
  addr: string;
  dir: string;
  proc: LocalProcess;
  /** Its metrics URL. */
  metrics: string;
}

export const PORT_SPAN = 1000;
const META_PORT_OFFSET = 1;
const CHUNK_PORT_OFFSET = 101;
const S3_PORT_OFFSET = 50;
const CHUNK_METRICS_PORT_OFFSET = 501;
const META_METRICS_PORT_OFFSET = 901;
const META_MAX = 99;
const CHUNKS_MAX = 399;

export class DevCluster {
  readonly dir: string;
  readonly token: string;
  readonly meta: Member[];
  readonly chunks: Member[];
  readonly gateway: Member | null;
  readonly replicas: number;
  /** The S3 endpoint the gateway serves (null without a gateway). */
  readonly s3: { url: string; region: string; accessKeyId: string; secretAccessKey: string } | null;

  constructor(init: DevClusterInit) {
    const nMeta = init.meta ?? DEV_META_SERVERS_DEFAULT;
    const nChunks = init.chunks ?? DEV_CHUNK_SERVERS_DEFAULT;
    if (!Number.isSafeInteger(nMeta) || nMeta < 1 || nMeta > META_MAX) throw new CairnError('InvalidArgument', `--meta must be 1..${META_MAX}`);
    if (!Number.isSafeInteger(nChunks) || nChunks < 0 || nChunks > CHUNKS_MAX) throw new CairnError('InvalidArgument', `--chunks must be 0..${CHUNKS_MAX}`);
    if (!Number.isSafeInteger(init.portBase) || init.portBase < 1 || init.portBase + PORT_SPAN - 1 > 65535) throw new CairnError('InvalidArgument', `--port-base must leave room for ${PORT_SPAN} ports below 65536`);
    this.replicas = init.replicas ?? REPLICAS_DEFAULT;
    if (!Number.isSafeInteger(this.replicas) || this.replicas < 1 || this.replicas > 16) throw new CairnError('InvalidArgument', '--replicas must be 1..16');
    this.dir = resolve(init.dir);
    // Private: the data, the logs and the secrets of the cluster (0700 directories, 0600 files).
    for (const d of [this.dir, ...['meta', 'chunks', 'logs'].map((sub) => join(this.dir, sub))]) makePrivateDirSync(d);
    const secretFile = join(this.dir, 'cluster.secret');
    const tokenFile = this.tokenFilePath;
    if (!existsSync(secretFile)) writeSecret(secretFile, secureRandomBytes(32).toString('hex'));
    if (!existsSync(tokenFile)) writeSecret(tokenFile, secureRandomBytes(24).toString('hex'));
    this.token = readFileSync(tokenFile, 'utf8').trim();

    const metaIds = Array.from({ length: nMeta }, (_, i) => `m${i + 1}`);
    const metaAddr = (i: number): string => `127.0.0.1:${init.portBase + META_PORT_OFFSET + i}`;
    const peers = metaIds.map((id, i) => `${id}=${metaAddr(i)}`).join(',');
    const member = (id: string, addr: string, dir: string, cli: string[], metrics: string): Member => {
      const stderr = openSync(join(this.dir, 'logs', `${id}.log`), 'a', PRIVATE_FILE_MODE);
      const argv = init.nodeArgs?.length ? [cli[0]!, ...init.nodeArgs, ...cli.slice(1)] : cli;
      return { id, addr, dir, proc: new LocalProcess({ id, argv, stderr, ...(init.onServerExit ? { onExit: init.onServerExit } : {}) }), metrics: `http://${metrics}/metrics` };
    };
    const metricsAddr = (offset: number, i: number): string => `127.0.0.1:${init.portBase + offset + i}`;
    this.meta = metaIds.map((id, i) => {
      const dir = join(this.dir, 'meta', id);
      return member(id, metaAddr(i), dir, cairnArgv(
        'meta', '--id', id, '--listen', metaAddr(i), '--peers', peers, '--dir', dir,
        '--secret-file', secretFile, '--token-file', tokenFile,
        '--tick-ms', String(init.tickMs ?? DEV_RAFT_TICK_MS_DEFAULT),
        '--replicas', String(this.replicas),
        '--dead-after', String(init.deadAfterSec ?? DEAD_AFTER_MS_DEFAULT / 1000),
        '--chunk-size', String(init.chunkSize ?? CHUNK_SIZE_BYTES_DEFAULT),
        '--inline-bytes-max', String(init.inlineBytesMax ?? 0),
        ...(init.inlineTotalBytesMax === undefined ? [] : ['--inline-total-bytes-max', String(init.inlineTotalBytesMax)]),
        ...(init.gcGraceSec === undefined ? [] : ['--gc-grace', String(init.gcGraceSec)]),
        '--metrics-listen', metricsAddr(META_METRICS_PORT_OFFSET, i),
      ), metricsAddr(META_METRICS_PORT_OFFSET, i));
    });
    const metaAddrs = this.meta.map((m) => m.addr).join(',');
    this.chunks = Array.from({ length: nChunks }, (_, i) => {
      const id = `c${i + 1}`;
      const addr = `127.0.0.1:${init.portBase + CHUNK_PORT_OFFSET + i}`;
      const dir = join(this.dir, 'chunks', id);
      return member(id, addr, dir, cairnArgv(
        'chunk', '--id', id, '--listen', addr, '--dir', dir, '--meta', metaAddrs,
        '--secret-file', secretFile, '--heartbeat-ms', String(init.heartbeatMs ?? DEV_HEARTBEAT_MS_DEFAULT),
        ...(init.scrubPeriodSec === undefined ? [] : ['--scrub-period-sec', String(init.scrubPeriodSec), '--scrub-bytes-per-sec', '0']),
        ...(init.repairBytesPerSec === undefined ? [] : ['--repair-bytes-per-sec', String(init.repairBytesPerSec)]),
        ...(init.chunkIdleTimeoutMs === undefined ? [] : ['--idle-timeout-ms', String(init.chunkIdleTimeoutMs)]),
        '--metrics-listen', metricsAddr(CHUNK_METRICS_PORT_OFFSET, i), '--token-file', tokenFile,
      ), metricsAddr(CHUNK_METRICS_PORT_OFFSET, i));
    });
    const gwAddr = `127.0.0.1:${init.portBase}`;
    // S3 on P+50 (P+100, never taken, when 50+ metadata servers use P+1…); keys made once, kept on restart.
    const s3Addr = `127.0.0.1:${init.portBase + (nMeta < S3_PORT_OFFSET ? S3_PORT_OFFSET : CHUNK_PORT_OFFSET - 1)}`;
    const s3File = join(this.dir, 's3.credentials');
    if (init.gateway !== false && !existsSync(s3File)) writeSecret(s3File, `CAIRN${secureRandomBytes(8).toString('hex').toUpperCase().slice(0, 15)}:${secureRandomBytes(30).toString('base64').replace(/[+/]/g, 'x')}`);
    const [accessKeyId = '', secretAccessKey = ''] = init.gateway === false ? [] : readFileSync(s3File, 'utf8').trim().split('\n')[0]!.split(':');
    this.s3 = init.gateway === false ? null : { url: `http://${s3Addr}`, region: 'us-east-1', accessKeyId, secretAccessKey };
    this.gateway = init.gateway === false ? null : member('gateway', gwAddr, this.dir, cairnArgv(
      'gateway', '--listen', gwAddr, '--meta', metaAddrs, '--token-file', tokenFile, '--s3-listen', s3Addr, '--s3-credentials', s3File,
    ), gwAddr);
  }

  /** The gateway's base URL (null without one). */
  get gatewayUrl(): string | null {
    return this.gateway ? `http://${this.gateway.addr}` : null;
  }

  private get all(): Member[] {
    return [...this.meta, ...this.chunks, ...(this.gateway ? [this.gateway] : [])];
  }

  get metaAddrs(): string[] {
    return this.meta.map((m) => m.addr);
  }

  get clusterJsonPath(): string {
    return join(this.dir, 'cluster.json');
  }

  /** The client token's file (0600): what to pass as --token-file / CAIRN_TOKEN_FILE. */
  get tokenFilePath(): string {
    return join(this.dir, 'client.token');
  }

  /** Start every server (a stale cluster.json is removed first: it appears again once ready). */
  start(): void {
    rmSync(this.clusterJsonPath, { force: true });
    for (const m of this.all) m.proc.start();
  }

  member(id: string): Member {
    const m = this.all.find((x) => x.id === id);
    if (!m) throw new CairnError('NotFound', `no server ${id}`);
    return m;
  }

  /**
   * A leader-following client session; with `serviceId`, a session of a cluster service under
   * that id (it proves the cluster secret, as a chunk server does).
   */
  session(init: { callTimeoutMs?: number; retryDeadlineMs?: number; serviceId?: string } = {}): MetaSession {
    const { serviceId, ...timing } = init;
    const clientToken = serviceId === undefined ? this.token : readFileSync(join(this.dir, 'cluster.secret'), 'utf8').trim();
    return new MetaSession(
      {
        dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken, connectTimeoutMs: 1000, ...(serviceId === undefined ? {} : { serviceId }) }),
        clock: systemClock,
        timers: systemTimers,
        rng: systemRng,
      },
      { addrs: this.metaAddrs, ...timing },
    );
  }

  /** Resolve once a leader answers and every running chunk server is registered and alive. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = systemClock.nowMs() + timeoutMs;
    const session = this.session({ callTimeoutMs: 1000, retryDeadlineMs: 1000 });
    let last = 'no answer';
    try {
      while (systemClock.nowMs() < deadline) {
        try {
          const st = decodeClusterStatus(await session.call('cluster.status', {}, { idempotent: true }));
          const alive = new Set(st.chunkServers.filter((c) => c.state === 'alive').map((c) => c.id));
          const want = this.chunks.filter((c) => c.proc.running).map((c) => c.id);
          if (st.leader && want.every((id) => alive.has(id)) && (await this.gatewayUp())) return;
          last = `leader ${st.leader ?? 'none'}, alive chunk servers ${[...alive].join(',') || 'none'}${this.gateway ? ', gateway not answering yet' : ''}`;
        } catch (err) {
          last = (err as Error).message;
        }
        for (const m of this.all) {
          if (m.proc.exitCode !== null && m.proc.exitCode !== undefined) throw new CairnError('Unavailable', `${m.id} exited with code ${m.proc.exitCode}; see ${join(this.dir, 'logs', `${m.id}.log`)}`);
        }
        await sleep(100);
      }
    } finally {
      session.close();
    }
    throw new CairnError('Timeout', `cluster not ready within ${timeoutMs} ms (${last})`);
  }

  /** The gateway (if any, and running) answers /healthz. */
  private async gatewayUp(): Promise<boolean> {
    if (!this.gateway || !this.gateway.proc.running) return true;
    try {
      const r = await fetch(`${this.gatewayUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return r.ok;
    } catch {
      return false;
    }
  }

  clusterJson(): ClusterJson {
    const entry = (m: Member): ServerEntry => ({ id: m.id, addr: m.addr, pid: m.proc.pid ?? null, dir: m.dir, argv: m.proc.argv, metrics: m.metrics });
    const gateway = this.gateway ? { url: this.gatewayUrl!, pid: this.gateway.proc.pid ?? null, argv: this.gateway.proc.argv, metrics: this.gateway.metrics } : null;
    const s3 = this.gateway && this.s3 ? { s3: { ...this.s3, pid: this.gateway.proc.pid ?? null, argv: this.gateway.proc.argv } } : {};
    return { metaAddrs: this.metaAddrs.join(','), token: this.token, gateway, meta: this.meta.map(entry), chunks: this.chunks.map(entry), ...s3 };
  }

  /** Write cluster.json atomically (temp file, fsync, rename). */
  writeClusterJson(): void {
    const tmp = `${this.clusterJsonPath}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeFileSync(fd, JSON.stringify(this.clusterJson(), null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.clusterJsonPath);
  }

  /** Stop every server (SIGTERM, then SIGKILL after graceMs) and remove cluster.json. */
  async stop(graceMs = 10_000): Promise<void> {
    rmSync(this.clusterJsonPath, { force: true });
    // Gateway and chunk servers first, so they do not log a storm of failed calls.
    if (this.gateway) await this.gateway.proc.kill('SIGTERM', graceMs);
    await Promise.all(this.chunks.map((m) => m.proc.kill('SIGTERM', graceMs)));
    await Promise.all(this.meta.map((m) => m.proc.kill('SIGTERM', graceMs)));
  }
}

function writeSecret(path: string, value: string): void {
  writeFileSync(path, value + '\n', { mode: 0o600 });
}

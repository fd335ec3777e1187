/**
 * A local cluster (3 metadata servers, 4 chunk servers, the gateway: DevCluster) whose processes
 * reach each other only through fault proxies (chaos-proxy.ts, chaos-dial-hook.ts), with the
 * fault primitives of a chaos run: kill -9 and restart, SIGSTOP / SIGCONT, cut and slow flows.
 * The workload driver (this process) reaches the gateway directly: "the client".
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { decodeClusterStatus } from '../../src/proto/meta-answers.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { packageRoot } from '../../src/server/local-process.js';
import { CHAOS_ROUTES_ENV } from './chaos-dial-hook.js';
import { ChaosNet } from './chaos-proxy.js';

/** Where the proxies' ports start, above the cluster's own (dev-cluster.ts: P..P+104, P+501.., P+901..). */
const PROXY_PORT_OFFSET = 200;

export interface ChaosClusterInit {
  dir: string;
  /** @default 64 KiB: files of a few hundred KiB span several chunks */
  chunkSizeBytes?: number;
  /** Seconds without a heartbeat before a chunk server counts as dead. @default 6 */
  deadAfterSec?: number;
}

export class ChaosCluster {
  readonly paused = new Set<string>();

  private constructor(
    readonly dev: DevCluster,
    readonly net: ChaosNet,
    private readonly exits: { ownIds: Map<string, string>; stopping: boolean },
  ) {}

  /** How `id` exited by itself (not by a signal of ours) since the cluster started, with its last log lines; null if it did not. */
  exitedOnItsOwn(id: string): string | null {
    const how = this.exits.ownIds.get(id);
    if (how === undefined) return null;
    let tail = '';
    try {
      tail = readFileSync(join(this.dev.dir, 'logs', `${id}.log`), 'utf8').trim().split('\n').slice(-5).join(' | ');
    } catch {
      // no log
    }
    return `${id} ${how}: ${tail}`;
  }

  static async start(init: ChaosClusterInit): Promise<ChaosCluster> {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    const exits = { ownIds: new Map<string, string>(), stopping: false };
    // The built hook (npm run build), also when this module runs from source under vitest.
    const hook = join(packageRoot(), 'dist', 'test', 'support', 'chaos-dial-hook.js');
    const dev = new DevCluster({
      dir: init.dir,
      portBase,
      meta: 3,
      chunks: 4,
      replicas: 3,
      chunkSize: init.chunkSizeBytes ?? 64 * 1024,
      deadAfterSec: init.deadAfterSec ?? 6,
      nodeArgs: ['--import', pathToFileURL(hook).href],
      onServerExit: (e) => {
        if (!exits.stopping && e.signal === null) exits.ownIds.set(e.id, `exited with code ${e.code}`);
      },
    });
    const nodes = [...dev.meta, ...dev.chunks].map((m) => ({ id: m.id, addr: m.addr }));
    const metaIds = dev.meta.map((m) => m.id);
    const chunkIds = dev.chunks.map((m) => m.id);
    const links: Array<[string, string]> = [];
    for (const a of metaIds) for (const b of metaIds) if (a !== b) links.push([a, b]);
    for (const c of chunkIds) for (const m of metaIds) links.push([c, m]);
    for (const c of chunkIds) for (const d of chunkIds) if (c !== d) links.push([c, d]);
    for (const m of metaIds) links.push(['gateway', m]);
    for (const c of chunkIds) links.push(['gateway', c]);
    const net = new ChaosNet(nodes, links, portBase + PROXY_PORT_OFFSET);
    await net.start();
    const routesFile = join(dev.dir, 'chaos-routes.json');
    writeFileSync(routesFile, JSON.stringify(net.routes(), null, 2));
    // Every server process inherits this environment (local-process.ts), restarts too.
    process.env[CHAOS_ROUTES_ENV] = routesFile;
    const cluster = new ChaosCluster(dev, net, exits);
    dev.start();
    try {
      await dev.waitReady(60_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get metaIds(): string[] {
    return this.dev.meta.map((m) => m.id);
  }

  get chunkIds(): string[] {
    return this.dev.chunks.map((m) => m.id);
  }

  get gatewayUrl(): string {
    return this.dev.gatewayUrl!;
  }

  get token(): string {
    return this.dev.token;
  }

  /** The leader's id as the metadata service reports it now (null: none, or no answer in time). */
  async leader(): Promise<string | null> {
    const s = this.dev.session({ callTimeoutMs: 1000, retryDeadlineMs: 2000 });
    try {
      return decodeClusterStatus(await s.call('cluster.status', {}, { idempotent: true })).leader ?? null;
    } catch {
      return null;
    } finally {
      s.close();
    }
  }

  running(id: string): boolean {
    return this.dev.member(id).proc.running;
  }

  async kill(id: string): Promise<void> {
    this.paused.delete(id);
    await this.dev.member(id).proc.kill('SIGKILL');
  }

  restart(id: string): void {
    if (!this.dev.member(id).proc.running) this.dev.member(id).proc.start();
  }

  pause(id: string): void {
    const pid = this.dev.member(id).proc.pid;
    if (pid === undefined || !this.running(id)) return;
    process.kill(pid, 'SIGSTOP');
    this.paused.add(id);
  }

  resume(id: string): void {
    const pid = this.dev.member(id).proc.pid;
    if (pid !== undefined && this.paused.delete(id)) process.kill(pid, 'SIGCONT');
  }

  /** Cut both directions between `a` and every one of `others`. */
  isolate(a: string, others: string[], cut: boolean): void {
    for (const b of others) {
      this.net.setCut(a, b, cut);
      this.net.setCut(b, a, cut);
    }
  }

  /** Every fault ends: flows heal, paused processes continue, dead ones restart. */
  healAll(): void {
    this.net.healAll();
    for (const id of [...this.paused]) this.resume(id);
    for (const id of [...this.metaIds, ...this.chunkIds, 'gateway']) this.restart(id);
  }

  async stop(): Promise<void> {
    this.exits.stopping = true;
    for (const id of [...this.paused]) this.resume(id);
    await this.dev.stop(5000);
    await this.net.stop();
  }
}

/**
 * A Raft group of metadata servers as real OS processes on loopback, for the integration
 * tests and benchmarks (and the seed of `cairn dev`): generates the cluster secret and client
 * token, builds each server's full argv, starts, kills and restarts servers on their own data.
 */
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetaSession } from '../../src/client/meta-session.js';
import { secureRandomBytes, sleep, systemClock, systemRng, systemTimers } from '../../src/env/system.js';
import { RpcClient } from '../../src/net/index.js';
import { cairnArgv, LocalProcess } from '../../src/server/local-process.js';

export interface LocalMetaClusterInit {
  /** Root directory; each server gets dir/<id>. */
  dir: string;
  /** Number of metadata servers. @default 3 */
  size?: number;
  /** Server i listens on 127.0.0.1:(basePort + i). */
  basePort: number;
  tickMs?: number;
  electionTicks?: number;
  snapshotEntries?: number;
  /** Keep each server's stderr (JSON logs) in dir/<id>.log. @default true */
  logs?: boolean;
  /** Extra node options for every server (e.g. `--cpu-prof`), placed before the script. */
  nodeArgs?: string[];
}

export class LocalMetaCluster {
  readonly ids: string[];
  readonly addrs: Map<string, string>;
  readonly token: string;
  readonly procs = new Map<string, LocalProcess>();
  private readonly clients = new Map<string, RpcClient>();

  constructor(init: LocalMetaClusterInit) {
    const size = init.size ?? 3;
    mkdirSync(init.dir, { recursive: true });
    this.ids = Array.from({ length: size }, (_, i) => `m${i + 1}`);
    this.addrs = new Map(this.ids.map((id, i) => [id, `127.0.0.1:${init.basePort + i}`]));
    const secretFile = join(init.dir, 'cluster.secret');
    const tokenFile = join(init.dir, 'client.token');
    this.token = secureRandomBytes(24).toString('hex');
    writeFileSync(secretFile, secureRandomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    writeFileSync(tokenFile, this.token + '\n', { mode: 0o600 });
    const peers = [...this.addrs].map(([id, a]) => `${id}=${a}`).join(',');
    for (const id of this.ids) {
      const cli = cairnArgv(
        'meta', '--id', id, '--listen', this.addrs.get(id)!, '--peers', peers, '--dir', join(init.dir, id),
        '--secret-file', secretFile, '--token-file', tokenFile,
        '--tick-ms', String(init.tickMs ?? 50), '--election-ticks', String(init.electionTicks ?? 10),
        '--snapshot-entries', String(init.snapshotEntries ?? 10000),
      );
      const argv = init.nodeArgs?.length ? [cli[0]!, ...init.nodeArgs, ...cli.slice(1)] : cli;
      const stderr = init.logs === false ? 'ignore' : openSync(join(init.dir, `${id}.log`), 'a');
      this.procs.set(id, new LocalProcess({ id, argv, stderr }));
    }
  }

  startAll(): void {
    for (const p of this.procs.values()) p.start();
  }

  proc(id: string): LocalProcess {
    const p = this.procs.get(id);
    if (!p) throw new Error(`no server ${id}`);
    return p;
  }

  /** A client connection to one server (cached). */
  client(id: string): RpcClient {
    let c = this.clients.get(id);
    if (!c) {
      c = new RpcClient({ timers: systemTimers }, { addr: this.addrs.get(id)!, clientToken: this.token, connectTimeoutMs: 1000 });
      this.clients.set(id, c);
    }
    return c;
  }

  /** A leader-following session over every server. */
  session(init: { callTimeoutMs?: number; retryDeadlineMs?: number } = {}): MetaSession {
    return new MetaSession(
      { dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken: this.token, connectTimeoutMs: 1000 }), clock: systemClock, timers: systemTimers, rng: systemRng },
      { addrs: [...this.addrs.values()], ...init },
    );
  }

  /** Raft status of one running server, or null if it does not answer. */
  async status(id: string): Promise<{ role: string; leader: string | null; term: number; commit: number; applied: number; lastIndex: number } | null> {
    try {
      return (await this.client(id).call('raft.status', {}, { timeoutMs: 1000 })) as never;
    } catch {
      return null;
    }
  }

  /** Wait until a running server reports itself leader and another running server agrees. */
  async waitForLeader(timeoutMs = 15_000, exclude: string[] = []): Promise<string> {
    const deadline = systemClock.nowMs() + timeoutMs;
    while (systemClock.nowMs() < deadline) {
      for (const id of this.ids) {
        if (exclude.includes(id) || !this.proc(id).running) continue;
        const s = await this.status(id);
        if (s?.role === 'leader') return id;
      }
      await sleep(50);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await Promise.all([...this.procs.values()].map((p) => p.kill('SIGTERM')));
  }
}

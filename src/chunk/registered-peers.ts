/**
 * The chunk servers of this cluster, by address, as the metadata leader's placement view
 * (fs.view `servers`) lists them: the only addresses a chunk server forwards a write pipeline to
 * (chunk-http-server.ts). Anything else in an X-Cairn-Pipeline header is refused before a
 * connection is tried, so a token holder cannot use a chunk server to reach other listeners, nor
 * learn from its answers which ports are open.
 *
 * Refreshed lazily, without timers: when an address is not known and the last fetch is older
 * than refreshMinMs (a server that registered since), and on any check once the set is older
 * than maxAgeMs (a server that left). One fetch at a time; a failed fetch keeps the last set.
 */
import type { Clock } from '../env/clock.js';
import type { Logger } from '../util/logger.js';
import { PIPELINE_PEERS_MAX_AGE_MS_DEFAULT, PIPELINE_PEERS_REFRESH_MIN_MS_DEFAULT } from '../config/defaults.js';

export interface RegisteredPeersComponents {
  clock: Clock;
  /** The addresses of the cluster's chunk servers now (fs.view's servers). */
  fetch: () => Promise<Iterable<string>>;
  logger: Logger;
}

export interface RegisteredPeersOptions {
  /** @default PIPELINE_PEERS_REFRESH_MIN_MS_DEFAULT */
  refreshMinMs?: number;
  /** @default PIPELINE_PEERS_MAX_AGE_MS_DEFAULT */
  maxAgeMs?: number;
}

export class RegisteredPeers {
  private readonly c: RegisteredPeersComponents;
  private readonly refreshMinMs: number;
  private readonly maxAgeMs: number;
  private addrs = new Set<string>();
  /** When the last fetch started (-Infinity: never). */
  private fetchedAtMs = -Infinity;
  private inflight: Promise<void> | null = null;

  constructor(c: RegisteredPeersComponents, o: RegisteredPeersOptions = {}) {
    this.c = c;
    this.refreshMinMs = o.refreshMinMs ?? PIPELINE_PEERS_REFRESH_MIN_MS_DEFAULT;
    this.maxAgeMs = o.maxAgeMs ?? PIPELINE_PEERS_MAX_AGE_MS_DEFAULT;
  }

  /** Whether `addr` is a chunk server of this cluster (exact `host:port` as registered). Never rejects. */
  async knows(addr: string): Promise<boolean> {
    const age = this.c.clock.nowMs() - this.fetchedAtMs;
    if (age >= this.maxAgeMs || (!this.addrs.has(addr) && age >= this.refreshMinMs)) await this.refresh();
    // A fetch started by a concurrent check: its answer is the one to give.
    else if (this.inflight !== null && !this.addrs.has(addr)) await this.inflight;
    return this.addrs.has(addr);
  }

  private refresh(): Promise<void> {
    this.inflight ??= (async () => {
      this.fetchedAtMs = this.c.clock.nowMs();
      try {
        this.addrs = new Set(await this.c.fetch());
      } catch (err) {
        this.c.logger.warn('could not refresh the chunk servers of the cluster', { err: (err as Error).message });
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}

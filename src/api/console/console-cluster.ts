/**
 * What the web console's cluster view shows, in one answer (GET /v1/console/cluster):
 *
 *   status   the leader's cluster.status exactly as GET /v1/status answers it (and as
 *            `cairn status --json` prints it: same leader report, same figures)
 *   members  each metadata member's Raft figures merged as `cairn status --json` merges its
 *            metaDetail: the member's own raft.status answer first, the leader's view second
 *   ring     per chunk server: zone, weight, ring state, its expected share of replicas (its
 *            weight over the weights of the alive servers) and its actual share (its replicas
 *            over all replicas held)
 *   repair   the leader's repair counters (cluster.repair) with the status's rate and ETA
 *   scrub    the latest scrub round (null when the leader knows none) with a rate since the
 *            gateway first saw the round and an ETA from it
 *
 * Only `status` is required: a part whose call fails is null, so the view still draws.
 */
import type { CairnClient, ClusterStatus, RepairStatus, ScrubRoundStatus } from '../../client/index.js';
import type { Clock, Timers } from '../../env/clock.js';
import { RpcClient } from '../../net/rpc-client.js';
import { decodeRaftStatus, type RaftStatusAnswer } from '../../proto/meta-answers.js';
import { mergeMemberViews, type MetaMemberView } from '../../proto/member-view.js';

/** One metadata member, as `cairn status --json` reports it in metaDetail. */
export type ConsoleMember = MetaMemberView;

export interface ConsoleRingServer {
  id: string;
  zone: string | null;
  weight: number | null;
  ringState: string | null;
  /** Fractions in [0, 1]. */
  expectedShare: number;
  actualShare: number;
}

export interface ConsoleScrub extends ScrubRoundStatus {
  expected: number;
  checkedPerSec: number | null;
  etaSeconds: number | null;
}

export interface ConsoleClusterReport {
  status: ClusterStatus;
  members: Record<string, ConsoleMember>;
  ring: { version: number; replicas: number; servers: ConsoleRingServer[] } | null;
  repair: RepairStatus | null;
  scrub: ConsoleScrub | null;
}

export interface ConsoleClusterComponents {
  client: CairnClient;
  clock: Clock;
  /** Without timers the members are not asked themselves: the leader's view alone. */
  timers?: Timers;
}

export interface ConsoleClusterOptions {
  /** The client token the members are asked with (raft.status). */
  token: string;
  /** @default CONSOLE_PROBE_TIMEOUT_MS */
  probeTimeoutMs?: number;
}

export const CONSOLE_PROBE_TIMEOUT_MS = 1000;

export class ConsoleCluster {
  private readonly c: ConsoleClusterComponents;
  private readonly token: string;
  private readonly probeTimeoutMs: number;
  /** One connection per member address, kept between reports. */
  private readonly rpcs = new Map<string, RpcClient>();
  private scrubSeen: { round: string; checked: number; atMs: number } | null = null;

  constructor(c: ConsoleClusterComponents, o: ConsoleClusterOptions) {
    this.c = c;
    this.token = o.token;
    this.probeTimeoutMs = o.probeTimeoutMs ?? CONSOLE_PROBE_TIMEOUT_MS;
  }

  /** Throws what client.status() throws (no leader: Unavailable); every other part is best effort. */
  async report(): Promise<ConsoleClusterReport> {
    const status = await this.c.client.status();
    const [own, ring, repair, scrub] = await Promise.all([
      this.probeMembers(status),
      this.c.client.ring().catch(() => null),
      this.c.client.repairStatus().catch(() => null),
      this.c.client.scrubStatus().catch(() => null),
    ]);
    return { status, members: mergeMembers(status, own), ring: ring && ringShares(status, ring), repair, scrub: scrub && this.scrubProgress(scrub) };
  }

  close(): void {
    for (const rpc of this.rpcs.values()) rpc.close();
    this.rpcs.clear();
  }

  private async probeMembers(status: ClusterStatus): Promise<RaftStatusAnswer[]> {
    const timers = this.c.timers;
    if (timers === undefined) return [];
    const answers = await Promise.all(
      status.meta.map(async (m) => {
        if (m.addr === null) return null;
        let rpc = this.rpcs.get(m.addr);
        if (rpc === undefined) {
          rpc = new RpcClient({ timers }, { addr: m.addr, clientToken: this.token, connectTimeoutMs: this.probeTimeoutMs });
          this.rpcs.set(m.addr, rpc);
        }
        try {
          return decodeRaftStatus(await rpc.call('raft.status', {}, { timeoutMs: this.probeTimeoutMs }));
        } catch {
          return null;
        }
      }),
    );
    return answers.filter((a): a is RaftStatusAnswer => a !== null);
  }

  private scrubProgress(s: ScrubRoundStatus): ConsoleScrub {
    const now = this.c.clock.nowMs();
    const expected = s.servers.reduce((n, v) => n + v.expected, 0);
    if (this.scrubSeen?.round !== s.round) this.scrubSeen = { round: s.round, checked: s.checked, atMs: now };
    const seen = this.scrubSeen;
    const secs = (now - seen.atMs) / 1000;
    const checkedPerSec = s.state === 'running' && secs >= 1 ? (s.checked - seen.checked) / secs : null;
    const left = Math.max(0, expected - s.checked);
    const etaSeconds = s.state !== 'running' || left === 0 ? 0 : checkedPerSec !== null && checkedPerSec > 0 ? Math.ceil(left / checkedPerSec) : null;
    return { ...s, expected, checkedPerSec, etaSeconds };
  }
}

/** As `cairn status --json`: a member's own answer first, the leader's view second. */
export const mergeMembers = mergeMemberViews;

/** Expected share: weight over the alive servers' weights (0 when not alive); actual: replicas held over all replicas held. */
export function ringShares(s: ClusterStatus, ring: { version: number; replicas: number; servers: ReadonlyArray<{ id: string; zone: string; weight: number; state: string }> }): { version: number; replicas: number; servers: ConsoleRingServer[] } {
  const inRing = new Map(ring.servers.map((r) => [r.id, r]));
  const alive = (id: string): boolean => s.chunkServers.some((c) => c.id === id && c.state === 'alive');
  const weightOf = (id: string): number => inRing.get(id)?.weight ?? 0;
  const aliveWeight = s.chunkServers.filter((c) => alive(c.id)).reduce((n, c) => n + weightOf(c.id), 0);
  const replicas = s.chunkServers.reduce((n, c) => n + c.chunks, 0);
  const servers = s.chunkServers.map((c) => {
    const r = inRing.get(c.id);
    return {
      id: c.id,
      zone: r?.zone ?? null,
      weight: r?.weight ?? null,
      ringState: r?.state ?? null,
      expectedShare: alive(c.id) && aliveWeight > 0 ? weightOf(c.id) / aliveWeight : 0,
      actualShare: replicas > 0 ? c.chunks / replicas : 0,
    };
  });
  return { version: ring.version, replicas: ring.replicas, servers };
}

/**
 * The metadata service: the RPC that clients and chunk servers call on the metadata leader
 * (the dispatch table in dispatch-table.ts names every method), over the replicated state
 * (namespace + cluster map) and the soft state of the current leader term (LeaderTerm).
 *
 * Every call but fs.statLocal and raft.status is served by the leader; a follower answers
 * NotLeader with a hint, which client/meta-session.ts follows. A call that awaited a read or a
 * proposal re-checks leadership before it touches soft state (LeaderTerms.current()).
 *
 * A ticker does the leader's housekeeping: chunk servers silent past deadAfterMs are declared
 * dead through Raft (at that moment: when one is due before the next tick, a timer checks then),
 * and repair is planned every repairScanMs, or less often when passes are long, so that they
 * take at most REPAIR_SCAN_SHARE_PERCENT_MAX % of the leader's time (at once when a server fell
 * silent), once every live server has sent this leader a full report;
 * and while the namespace's trash holds a removed tree, it proposes the purges that delete it
 * (namespace-calls.ts, TrashPurger). On a follower it drops the ended term's soft state,
 * answering held polls so their servers find the new leader.
 */
import type { Clock, Timers } from '../env/clock.js';
import type { MetaReadView } from '../meta/namespace-keys.js';
import { isMetaMethod } from '../proto/meta-requests.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { Allocator } from './allocator.js';
import { BackupCalls, type BackupSource } from './backup-calls.js';
import { ChunkServers } from './chunk-servers.js';
import { ClusterAdmin } from './cluster-admin.js';
import { dispatchTable, type DispatchTable, type Route } from './dispatch-table.js';
import type { LeaderRaft } from './leader-raft.js';
import type { LeaderTerm } from './leader-term.js';
import { LeaderTerms } from './leader-terms.js';
import { MetaMembership, type MembershipRaft } from './meta-membership.js';
import type { NamespaceReader } from './namespace-reader.js';
import { RepairLoop, nextRepairScanMs } from './repair-loop.js';
import { NamespaceCalls, TrashPurger } from './namespace-calls.js';
import type { RepairSchedulerOptions } from './repair-scheduler.js';
import { ScrubCalls } from './scrub-calls.js';
import type { TokenSigner } from './token-signer.js';
import { CHUNK_SIZE_BYTES_DEFAULT, INLINE_BYTES_MAX_DEFAULT, INLINE_TOTAL_BYTES_MAX_DEFAULT, LEADER_TICK_MS_DEFAULT, REPAIR_SCAN_MS_DEFAULT, TOKEN_TTL_MS_DEFAULT } from '../config/defaults.js';

export interface MetaLeaderComponents {
  raft: LeaderRaft;
  /** Membership changes and leadership transfer (the runtime itself: not timed by metrics). */
  members: MembershipRaft;
  /** This server's committed namespace. */
  namespace: NamespaceReader;
  /** Committed state (cluster map, chunk index). */
  view: MetaReadView;
  /** Monotonic time for liveness. */
  clock: Clock;
  /** Wall time for mtimes, session ages and token expiry. */
  wallMs: () => number;
  timers: Timers;
  randomBytes: (n: number) => Uint8Array;
  tokens: TokenSigner;
  logger: Logger;
  /** Consistent images of the state for `cairn backup`; absent: backups are refused. */
  backups?: BackupSource;
}

export interface MetaLeaderOptions {
  /** Replicas per chunk. */
  replicas: number;
  /** A chunk server silent this long is dead. */
  deadAfterMs: number;
  /** How long a chunk token stays valid. @default 3_600_000 */
  tokenTtlMs?: number;
  /** Leader housekeeping period (liveness verdicts). @default 500 */
  tickMs?: number;
  /** Default chunk size handed to writers. @default 8 MiB */
  chunkSizeBytes?: number;
  /** Largest file stored inline (fs.put); 0: never. @default INLINE_BYTES_MAX_DEFAULT */
  inlineBytesMax?: number;
  /** Cap on the cluster's inline bytes. @default INLINE_TOTAL_BYTES_MAX_DEFAULT */
  inlineTotalBytesMax?: number;
  /** Repair and garbage collection (leader only). */
  repair?: RepairSchedulerOptions;
  /** How often the leader plans repair. @default 1000 */
  repairScanMs?: number;
}

/** Who is calling (net/NetServer's RpcContext caller). */
export interface Caller {
  role: 'client' | 'service';
  id?: string;
}

export class MetaLeader {
  private readonly c: MetaLeaderComponents;
  private readonly tickMs: number;
  private readonly repairScanMs: number;
  private readonly terms: LeaderTerms;
  private readonly repair: RepairLoop;
  private readonly chunkServers: ChunkServers;
  private readonly routes: DispatchTable;
  private readonly backups: BackupCalls;
  private readonly members: MetaMembership;
  private readonly trash: TrashPurger;
  private ticker: { cancel(): void } | null = null;
  /** A liveness check at the moment a server will count as dead, before the next tick (see liveness()). */
  private deathCheck: { cancel(): void } | null = null;

  constructor(c: MetaLeaderComponents, o: MetaLeaderOptions) {
    this.c = c;
    this.tickMs = o.tickMs ?? LEADER_TICK_MS_DEFAULT;
    this.repairScanMs = o.repairScanMs ?? REPAIR_SCAN_MS_DEFAULT;
    const tokenTtlMs = o.tokenTtlMs ?? TOKEN_TTL_MS_DEFAULT;
    const { raft, clock, wallMs, tokens, view, logger } = c;
    this.terms = new LeaderTerms({ raft, view, clock, timers: c.timers }, { deadAfterMs: o.deadAfterMs, ...(o.repair === undefined ? {} : { repair: o.repair }) });
    const terms = this.terms;
    this.repair = new RepairLoop({ view, tokens, timers: c.timers, clock, logger }, { replicas: o.replicas, tokenTtlMs });
    this.chunkServers = new ChunkServers({ raft, terms, repair: this.repair, clock, wallMs, logger });
    this.backups = new BackupCalls({ raft, source: c.backups ?? null, timers: c.timers, randomBytes: c.randomBytes, logger });
    this.members = new MetaMembership({ raft: c.members, clock, timers: c.timers, logger });
    this.trash = new TrashPurger({ raft, view, wallMs, logger });
    this.routes = dispatchTable({
      backups: this.backups,
      namespace: new NamespaceCalls(
        { raft, namespace: c.namespace, view, terms, clock, wallMs, tokens, logger },
        {
          replicas: o.replicas,
          tokenTtlMs,
          inlineBytesMax: o.inlineBytesMax ?? INLINE_BYTES_MAX_DEFAULT,
          inlineTotalBytesMax: o.inlineTotalBytesMax ?? INLINE_TOTAL_BYTES_MAX_DEFAULT,
          chunkSizeBytes: o.chunkSizeBytes ?? CHUNK_SIZE_BYTES_DEFAULT,
        },
      ),
      allocator: new Allocator({ terms, clock, randomBytes: c.randomBytes, tokens }, { replicas: o.replicas, tokenTtlMs, chunkSizeBytes: o.chunkSizeBytes ?? CHUNK_SIZE_BYTES_DEFAULT }),
      chunkServers: this.chunkServers,
      admin: new ClusterAdmin({ raft, terms, repair: this.repair, view, clock, timers: c.timers, wallMs, logger }, { replicas: o.replicas }),
      scrub: new ScrubCalls({ terms, repair: this.repair, view, clock, logger }, { replicas: o.replicas }),
      members: this.members,
    });
  }

  start(): void {
    this.ticker = this.c.timers.setInterval(() => this.tick(), this.tickMs);
  }

  /**
   * A stopping leader hands leadership to its most caught-up voter first, waiting at most
   * `waitMs` (see MetaMembership.handOff); elsewhere a no-op.
   */
  async handOff(waitMs?: number): Promise<void> {
    await this.members.handOff(waitMs);
  }

  /** Stop housekeeping and drop the term's soft state (held polls are answered). */
  stop(): void {
    this.ticker?.cancel();
    this.ticker = null;
    this.deathCheck?.cancel();
    this.deathCheck = null;
    this.terms.end();
    this.backups.closeAll();
  }

  /**
   * The RPC handler (net/NetServer): checks the caller's role, decodes the body (InvalidArgument
   * naming the field), runs the method's handler.
   */
  handle = async (method: string, raw: unknown, caller: Caller, signal?: AbortSignal): Promise<unknown> => {
    if (!isMetaMethod(method)) throw new CairnError('InvalidArgument', `unknown method ${method}`);
    return run(this.routes, method, raw, caller, signal);
  };

  /** One housekeeping round (the ticker's; tests call it directly). */
  tick(): void {
    if (!this.c.raft.isLeader()) {
      this.terms.end();
      this.backups.closeAll();
      return;
    }
    this.members.promote();
    this.trash.tick();
    this.liveness();
  }

  /**
   * Declares silent servers dead and plans repair (at once when one just fell silent, else every
   * repair period); then, when a server will count as dead before the next tick unless it is
   * heard from, checks again at that moment: repair starts when the server is declared dead,
   * not up to a tick later (a 500 ms tick was ~10 % of a 1 GiB repair: bench/RESULTS.md,
   * sixteenth session).
   */
  private liveness(): void {
    this.deathCheck?.cancel();
    this.deathCheck = null;
    let t: LeaderTerm;
    try {
      t = this.terms.current();
    } catch (err) {
      // The core has already stepped down while the runtime's role still says leader (it
      // catches up in its next Ready round): a follower's round. Thrown from a timer, this
      // NotLeader ended the process (found by the chaos run).
      if (isCairnError(err) && err.code === 'NotLeader') return;
      throw err;
    }
    const now = this.c.clock.nowMs();
    const silent = this.chunkServers.checkLiveness(t, now);
    // A server just fell silent: plan its copies now, not at the next periodic scan. The period
    // stretches on a chunk index so large that passes would take more than their share of the
    // leader (nextRepairScanMs).
    if ((silent || now >= nextRepairScanMs(t.lastRepairScanMs, t.lastRepairPassMs, this.repairScanMs)) && this.repair.ready(t, now)) {
      t.lastRepairScanMs = now;
      this.repair.scan(t, now);
    }
    // Only a started leader sets timers (tests that call tick() by hand drive time themselves).
    const nextDeath = this.chunkServers.nextDeathMs(t, now);
    if (nextDeath !== null && nextDeath - now < this.tickMs && this.ticker !== null) {
      this.deathCheck = this.c.timers.setTimeout(() => {
        this.deathCheck = null;
        if (this.c.raft.isLeader()) this.liveness();
      }, nextDeath - now);
    }
  }
}

function run<M extends keyof DispatchTable>(routes: DispatchTable, method: M, raw: unknown, caller: Caller, signal: AbortSignal | undefined): unknown {
  const route: Route<M> = routes[method];
  let serverId = '';
  if (route.role === 'service') {
    if (caller.role !== 'service' || caller.id === undefined) throw new CairnError('Unauthorized', `${method} is for chunk servers`);
    serverId = caller.id;
  }
  return route.handle(route.decode(raw), { serverId, signal });
}

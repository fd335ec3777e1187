/**
 * A metadata server's Prometheus metrics (prom-client), served by metrics-http.ts:
 *
 *   cairn_meta_raft_term, cairn_meta_raft_role{role} (1 for the current role),
 *   cairn_meta_raft_commit_index, cairn_meta_raft_applied_index, cairn_meta_raft_last_index,
 *   cairn_meta_raft_follower_lag_entries{member} (on the leader), cairn_meta_leader_changes_total,
 *   cairn_meta_proposal_duration_seconds, cairn_meta_apply_duration_seconds (per batch),
 *   cairn_meta_apply_entries_total, cairn_meta_raft_log_write_duration_seconds (each synced write of
 *   the Raft log: LMDB's commit with its fsyncs, what a commit waits for on every member, as
 *   etcd's wal_fsync_duration), cairn_meta_raft_log_write_entries_total, cairn_meta_lmdb_bytes{db},
 *   cairn_meta_rpc_calls_total{method},
 *   cairn_meta_rpc_errors_total{method,code}, cairn_meta_rpc_duration_seconds{method},
 *   cairn_meta_sessions (exactly-once client sessions remembered), cairn_meta_connections_open,
 *   the leader's repair figures (cairn_repair_*, 0 on followers: a sum over members is the
 *   cluster's) and the process defaults (cairn_meta_process_*, cairn_meta_nodejs_*).
 *
 * Gauges are read at scrape time from the running parts (collect()), counters and histograms
 * are fed by the wrappers below, so nothing costs anything between scrapes but the increments.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerRepairMetrics } from '../api/gateway-metrics.js';
import type { StateMachine } from '../consensus/state-machine.js';
import type { LeaderRaft } from '../leader/index.js';
import { META_METHODS } from '../proto/meta-requests.js';
import { isCairnError } from '../util/errors.js';

/** What the metrics read at scrape time. */
export interface MetaMetricsSources {
  raft: Pick<LeaderRaft, 'status'>;
  /** Exactly-once client sessions the state remembers. */
  sessions(): number;
  /** Connections open on the RPC server. */
  connectionsOpen(): number;
  /** The leader's repair figures (rejects on a follower). */
  repair(): Promise<Record<string, number | boolean | string[]>>;
  /** LMDB directories by name (raft log, state). */
  lmdbDirs: Record<string, string>;
}

const RAFT_ROLES = ['follower', 'pre-candidate', 'candidate', 'leader', 'learner'] as const;
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const KNOWN_METHODS = new Set<string>(META_METHODS);

export class MetaMetrics {
  readonly registry = new Registry();
  private readonly leaderChanges = new Counter({ name: 'cairn_meta_leader_changes_total', help: 'times the known leader changed (to another member or to none)', registers: [this.registry] });
  private readonly proposals = new Histogram({ name: 'cairn_meta_proposal_duration_seconds', help: 'time from a proposal to its result applied here (leader)', labelNames: ['outcome'] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  private readonly applies = new Histogram({ name: 'cairn_meta_apply_duration_seconds', help: 'time to apply one batch of committed entries to the state (one LMDB transaction)', buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  private readonly logWrites = new Histogram({ name: 'cairn_meta_raft_log_write_duration_seconds', help: 'time of one synced write of the Raft log (entries and hard state in one LMDB commit with its fsyncs)', buckets: LATENCY_BUCKETS_S, registers: [this.registry] });
  private readonly logWriteEntries = new Counter({ name: 'cairn_meta_raft_log_write_entries_total', help: 'entries appended to the Raft log by those writes', registers: [this.registry] });
  private readonly applied = new Counter({ name: 'cairn_meta_apply_entries_total', help: 'committed entries applied to the state', registers: [this.registry] });
  private readonly rpcCalls = new Counter({ name: 'cairn_meta_rpc_calls_total', help: 'RPC calls answered, by method', labelNames: ['method'] as const, registers: [this.registry] });
  private readonly rpcErrors = new Counter({ name: 'cairn_meta_rpc_errors_total', help: 'RPC calls answered with an error, by method and error code', labelNames: ['method', 'code'] as const, registers: [this.registry] });
  private readonly rpcDuration = new Histogram({ name: 'cairn_meta_rpc_duration_seconds', help: 'time to answer an RPC call, by method (cs.work long polls included)', labelNames: ['method'] as const, buckets: LATENCY_BUCKETS_S, registers: [this.registry] });

  constructor(src: MetaMetricsSources) {
    const r = [this.registry];
    const status = (): ReturnType<MetaMetricsSources['raft']['status']> => src.raft.status();
    new Gauge({ name: 'cairn_meta_raft_term', help: 'current Raft term', registers: r, collect() { this.set(status().term); } });
    new Gauge({ name: 'cairn_meta_raft_commit_index', help: 'highest log index known committed', registers: r, collect() { this.set(status().commit); } });
    new Gauge({ name: 'cairn_meta_raft_applied_index', help: 'highest log index applied to the state', registers: r, collect() { this.set(status().applied); } });
    new Gauge({ name: 'cairn_meta_raft_last_index', help: 'last index in the local log', registers: r, collect() { this.set(status().lastIndex); } });
    new Gauge({
      name: 'cairn_meta_raft_role',
      help: '1 for this member\'s current Raft role, 0 for the others',
      labelNames: ['role'] as const,
      registers: r,
      collect() {
        const role = status().role;
        for (const x of RAFT_ROLES) this.set({ role: x }, x === role ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cairn_meta_raft_follower_lag_entries',
      help: 'entries each member\'s log lags behind the leader\'s (reported by the leader only)',
      labelNames: ['member'] as const,
      registers: r,
      collect() {
        this.reset();
        const st = status();
        if (st.progress === null) return;
        for (const [member, p] of Object.entries(st.progress)) this.set({ member }, Math.max(0, st.lastIndex - p.match));
      },
    });
    new Gauge({
      name: 'cairn_meta_lmdb_bytes',
      help: 'size of the LMDB files, by database',
      labelNames: ['db'] as const,
      registers: r,
      collect() {
        for (const [db, dir] of Object.entries(src.lmdbDirs)) this.set({ db }, dirBytes(dir));
      },
    });
    new Gauge({ name: 'cairn_meta_sessions', help: 'exactly-once client sessions remembered by the state', registers: r, collect() { this.set(src.sessions()); } });
    new Gauge({ name: 'cairn_meta_connections_open', help: 'RPC and peer connections open', registers: r, collect() { this.set(src.connectionsOpen()); } });
    registerRepairMetrics(this.registry, src.repair);
    collectDefaultMetrics({ register: this.registry, prefix: 'cairn_meta_' });
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  /** One write of the Raft log finished (RaftRuntime's onPersisted); unsynced ones wrote nothing yet. */
  logWritten(ms: number, entries: number, synced: boolean): void {
    if (!synced) return;
    this.logWrites.observe(ms / 1000);
    this.logWriteEntries.inc(entries);
  }

  /** A LeaderRaft whose proposals are timed. */
  timedRaft<R extends LeaderRaft>(raft: R): LeaderRaft {
    return {
      isLeader: () => raft.isLeader(),
      status: () => raft.status(),
      notLeader: () => raft.notLeader(),
      linearizableRead: () => raft.linearizableRead(),
      addrOf: (id) => raft.addrOf(id),
      propose: async (data) => {
        const end = this.proposals.startTimer();
        try {
          const out = await raft.propose(data);
          end({ outcome: 'applied' });
          return out;
        } catch (err) {
          end({ outcome: isCairnError(err) ? err.code : 'error' });
          throw err;
        }
      },
    };
  }

  /** A state machine whose applies are timed (every other call passed through). */
  timedStateMachine(m: StateMachine): StateMachine {
    return {
      appliedIndex: () => m.appliedIndex(),
      apply: async (entries) => {
        const end = this.applies.startTimer();
        const out = await m.apply(entries);
        end();
        this.applied.inc(entries.length);
        return out;
      },
      flush: () => m.flush(),
      openSnapshot: () => m.openSnapshot(),
      beginSnapshotWrite: () => m.beginSnapshotWrite(),
      stagedSnapshotIndex: () => m.stagedSnapshotIndex(),
      installSnapshot: (index) => m.installSnapshot(index),
      memberAddrs: () => m.memberAddrs?.() ?? new Map(),
    };
  }

  /** Count and time one RPC call. */
  async rpc<T>(method: string, call: () => Promise<T>): Promise<T> {
    const label = KNOWN_METHODS.has(method) ? method : 'unknown';
    const end = this.rpcDuration.startTimer({ method: label });
    this.rpcCalls.inc({ method: label });
    try {
      return await call();
    } catch (err) {
      this.rpcErrors.inc({ method: label, code: isCairnError(err) ? err.code : 'Internal' });
      throw err;
    } finally {
      end();
    }
  }
}

/** Disk bytes of the files directly in `dir` (an LMDB environment: data.mdb and lock.mdb; a sparse file counts what it holds); 0 when unreadable. */
function dirBytes(dir: string): number {
  try {
    let n = 0;
    for (const f of readdirSync(dir)) {
      const st = statSync(join(dir, f));
      n += Math.min(st.size, st.blocks * 512);
    }
    return n;
  } catch {
    return 0;
  }
}

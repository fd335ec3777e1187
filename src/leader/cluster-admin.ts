/**
 * Operator calls (client token):
 *
 *   cluster.status  → the `cairn status --json` object: {health, leader, meta, chunkServers, chunks}
 *                     and the operator's detail (status-report.ts)
 *   cluster.drain {id}          → {}  move every replica off a server (ring state draining)
 *   cluster.remove {id, force?} → {}  forget a server; PreconditionFailed while it holds the only
 *                                 live copy of any chunk, or (unless force) while a chunk it holds
 *                                 has < R live copies elsewhere
 *   cluster.repair  → repair progress (RepairStats), ready, reportsPending (live chunk servers
 *                     whose full report this leader lacks)
 *   raft.status     → this server's Raft status (any server answers)
 */
import type { Clock, Timers } from '../env/clock.js';
import { CHUNK_PREFIX, type MetaReadView } from '../meta/namespace-keys.js';
import type { DrainRequest, RemoveRequest } from '../proto/meta-requests.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { LeaderRaft } from './leader-raft.js';
import type { LeaderTerms } from './leader-terms.js';
import { proposeCluster } from './proposals.js';
import type { RepairLoop } from './repair-loop.js';
import { StatusReport } from './status-report.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';

export interface ClusterAdminComponents {
  raft: Pick<LeaderRaft, 'propose' | 'linearizableRead' | 'status' | 'addrOf'>;
  terms: LeaderTerms;
  repair: RepairLoop;
  /** Committed state (cluster map, chunk index). */
  view: MetaReadView;
  clock: Clock;
  timers: Timers;
  wallMs: () => number;
  logger: Logger;
}

export interface ClusterAdminOptions {
  /** Replicas per chunk. */
  replicas: number;
}

export class ClusterAdmin {
  private readonly c: ClusterAdminComponents;
  private readonly o: ClusterAdminOptions;

  private readonly report: StatusReport;

  constructor(c: ClusterAdminComponents, o: ClusterAdminOptions) {
    this.c = c;
    this.o = o;
    this.report = new StatusReport({ view: c.view, clock: c.clock, timers: c.timers, addrOf: (id) => c.raft.addrOf(id) }, { replicas: o.replicas });
  }

  async drain(req: DrainRequest): Promise<A['cluster.drain']> {
    const { id } = req;
    if (!this.c.terms.current().cluster.ring().server(id)) throw new CairnError('NotFound', `no chunk server ${id}`);
    await proposeCluster(this.c.raft, { op: 'set-state', id, state: 'draining' }, this.c.wallMs());
    this.c.logger.info('chunk server draining', { id });
    return {};
  }

  /**
   * Forget a chunk server. Refused (PreconditionFailed) while it holds the only live verified
   * copy of a chunk referenced by a file — always, even with `force`; and, without `force`, while
   * any chunk it holds has fewer than R live verified copies on the other servers (removing it
   * now would leave that chunk under-replicated: drain it first and wait until it is empty, or
   * for a dead server, until repair has restored every chunk elsewhere).
   */
  async remove(req: RemoveRequest): Promise<A['cluster.remove']> {
    const { id, force } = req;
    const t = this.c.terms.current();
    if (!t.cluster.ring().server(id)) throw new CairnError('NotFound', `no chunk server ${id}`);
    const reg = t.registry;
    const now = this.c.clock.nowMs();
    let sole = 0;
    let short = 0;
    for (const c of reg.chunksOf(id)) {
      if (this.c.view.get(CHUNK_PREFIX + c) === undefined) continue; // garbage: nothing to keep
      const elsewhere = reg.locations(c).filter((s) => s !== id && reg.isAlive(s, now)).length;
      if (elsewhere === 0) sole++;
      else if (elsewhere < this.o.replicas) short++;
    }
    if (sole > 0) throw new CairnError('PreconditionFailed', `${id} still holds the only live copy of ${sole} chunk(s); drain it first and wait`);
    if (short > 0 && !force)
      throw new CairnError('PreconditionFailed', `${short} chunk(s) on ${id} have fewer than ${this.o.replicas} live copies elsewhere; drain it first and wait (or force)`);
    await proposeCluster(this.c.raft, { op: 'remove', id }, this.c.wallMs());
    // (If the term ended meanwhile, this forgets in a dropped registry: the next term never knew the server.)
    reg.forget(id);
    this.c.logger.info('chunk server removed', { id, force });
    return {};
  }

  async status(): Promise<A['cluster.status']> {
    await this.c.raft.linearizableRead();
    return this.report.build(this.c.raft.status(), this.c.terms.current());
  }

  repair(): A['cluster.repair'] {
    const t = this.c.terms.current();
    const now = this.c.clock.nowMs();
    return { ...t.repair.stats, ready: this.c.repair.ready(t, now), reportsPending: this.c.repair.reportsPending(t, now) };
  }

  raftStatus(): A['raft.status'] {
    return this.c.raft.status();
  }
}

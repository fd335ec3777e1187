/**
 * The chunk servers' side of the leader: registration (replicated), heartbeats and liveness,
 * full and incremental chunk reports, and the cs.work long poll. Everything but registration
 * and liveness verdicts is soft state of the current term.
 *
 *   cs.register {addr, zone, capacityBytes} → {ringVersion}
 *   cs.heartbeat {usedBytes, capacityBytes, freeBytes, chunks, full, copyFailed?, copiedBytes?, repairIdle?, diskId?}
 *                                        → {needReport, registered, commands}
 *   cs.reportBegin {report} · cs.reportPage {report, ids} → {} · cs.reportEnd {report} → {dropped}
 *   cs.update {added, removed}           → {commands}
 *   cs.work {waitMs}                     → {commands}: answered as soon as the leader has work for
 *                                          the caller, or with none after waitMs (≤ 30 s)
 * Heartbeat and work-poll answers carry, before the repair work, the scrub command of a round the
 * server has not acknowledged yet (scrub-rounds.ts).
 */
import type { Clock } from '../env/clock.js';
import type { HeartbeatRequest, RegisterRequest, ReportPageRequest, ReportRequest, UpdateRequest, WorkRequest } from '../proto/meta-requests.js';
import type { Logger } from '../util/logger.js';
import type { LeaderRaft } from './leader-raft.js';
import type { LeaderTerm } from './leader-term.js';
import type { LeaderTerms } from './leader-terms.js';
import { proposeCluster } from './proposals.js';
import type { RepairLoop } from './repair-loop.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';

export interface ChunkServersComponents {
  raft: Pick<LeaderRaft, 'propose'>;
  terms: LeaderTerms;
  repair: RepairLoop;
  /** Monotonic time for liveness. */
  clock: Clock;
  /** Wall time stamped into replicated commands. */
  wallMs: () => number;
  logger: Logger;
}

export class ChunkServers {
  private readonly c: ChunkServersComponents;

  constructor(c: ChunkServersComponents) {
    this.c = c;
  }

  async register(id: string, req: RegisterRequest): Promise<A['cs.register']> {
    const { addr, zone, capacityBytes } = req;
    const r = await proposeCluster(this.c.raft, { op: 'register', id, addr, zone, capacityBytes, nowMs: this.c.wallMs() }, this.c.wallMs());
    const t = this.c.terms.current();
    t.registry.heartbeat(id, { usedBytes: 0, capacityBytes, freeBytes: capacityBytes, chunks: 0, full: false }, this.c.clock.nowMs());
    // A server registers when its process starts: repair work handed to an earlier one is lost,
    // and so is its progress in a scrub round (it starts its part over).
    t.repair.restarted(id);
    t.scrubs.restarted(id, () => t.registry.chunksOf(id));
    this.c.logger.info('chunk server registered', { id, addr, zone, ringVersion: r.version });
    return { ringVersion: r.version };
  }

  heartbeat(id: string, req: HeartbeatRequest): A['cs.heartbeat'] {
    const t = this.c.terms.current();
    const now = this.c.clock.nowMs();
    const { usedBytes, capacityBytes, freeBytes, chunks, full, diskId } = req;
    t.registry.heartbeat(id, { usedBytes, capacityBytes, freeBytes, chunks, full, ...(diskId === undefined ? {} : { diskId }) }, now);
    const s = t.cluster.ring().server(id);
    if (s?.state === 'dead') this.verdict(t, id, 'up');
    if (req.copyFailed !== undefined) t.repair.failed(id, req.copyFailed);
    if (req.copiedBytes !== undefined) t.repair.copyProgress(id, req.copiedBytes, now);
    // Nothing queued or running there: work handed out a while ago never arrived (or was dropped).
    if (req.repairIdle) t.repair.idle(id, now);
    return { needReport: !t.registry.hasReported(id), registered: s !== undefined, commands: [...t.scrubs.commandsFor(id), ...t.checks.commandsFor(id), ...this.c.repair.take(t, id, now)] };
  }

  reportBegin(id: string, req: ReportRequest): A['cs.reportBegin'] {
    this.c.terms.current().registry.beginReport(id, req.report, this.c.clock.nowMs());
    return {};
  }

  reportPage(id: string, req: ReportPageRequest): A['cs.reportPage'] {
    this.c.terms.current().registry.reportPage(id, req.report, req.ids);
    return {};
  }

  reportEnd(id: string, req: ReportRequest): A['cs.reportEnd'] {
    return { dropped: this.c.terms.current().registry.endReport(id, req.report).length };
  }

  update(id: string, req: UpdateRequest): A['cs.update'] {
    const t = this.c.terms.current();
    t.registry.update(id, req.added, req.removed);
    t.repair.confirm(id, req.added);
    // A finished copy frees a slot: hand out the next work now rather than at the next heartbeat.
    return { commands: [...t.checks.commandsFor(id), ...this.c.repair.take(t, id, this.c.clock.nowMs())] };
  }

  /**
   * Answer at once when there is work (or waitMs is 0); otherwise hold the poll until a repair
   * scan queues work for the server (then it starts at once instead of at its next heartbeat),
   * or waitMs passes. A follower never holds a poll: NotLeader sends the server to the leader.
   */
  work(id: string, req: WorkRequest, signal: AbortSignal | undefined): A['cs.work'] | Promise<A['cs.work']> {
    const t = this.c.terms.current();
    const commands = [...t.scrubs.commandsFor(id), ...t.checks.commandsFor(id), ...this.c.repair.take(t, id, this.c.clock.nowMs())];
    if (commands.length > 0 || req.waitMs === 0) return { commands };
    return t.polls.hold(id, req.waitMs, signal);
  }

  /**
   * When the first of the ring's servers that are alive now will count as dead unless it is heard
   * from before (null: none is alive).
   */
  nextDeathMs(t: LeaderTerm, nowMs: number): number | null {
    let next: number | null = null;
    for (const s of t.cluster.ring().servers) {
      if (s.state === 'dead' || !t.registry.isAlive(s.id, nowMs)) continue;
      const at = t.registry.deadAtMs(s.id);
      if (next === null || at < next) next = at;
    }
    return next;
  }

  /**
   * Liveness: servers in the map silent past deadAfterMs are declared dead through Raft.
   * Returns whether any server was found newly silent.
   */
  checkLiveness(t: LeaderTerm, nowMs: number): boolean {
    let silent = false;
    for (const s of t.cluster.ring().servers) {
      if (s.state !== 'dead' && !t.registry.isAlive(s.id, nowMs)) {
        this.verdict(t, s.id, 'dead');
        silent = true;
      }
    }
    return silent;
  }

  /** Commit a liveness verdict unless one for this server is already on its way. */
  private verdict(t: LeaderTerm, id: string, state: 'up' | 'dead'): void {
    if (t.verdicts.has(id)) return;
    t.verdicts.add(id);
    const ifVersion = t.cluster.ring().version;
    proposeCluster(this.c.raft, { op: 'set-state', id, state, ifVersion }, this.c.wallMs())
      .then(
        () => this.c.logger.info(state === 'dead' ? 'chunk server declared dead' : 'chunk server back', { id }),
        (err: unknown) => this.c.logger.debug('liveness verdict not applied', { id, state, err: (err as Error).message }),
      )
      .finally(() => t.verdicts.delete(id));
  }
}

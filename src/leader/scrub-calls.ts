/**
 * `cairn scrub` on the leader (see scrub-rounds.ts for the round's rules):
 *
 *   cluster.scrub {server?, bytesPerSecMax?, timeoutMs?} → the round's status (client token):
 *       begins a round over one chunk server or every live one, or joins the running round over
 *       the same servers; NotFound for an unknown server, PreconditionFailed for one not alive
 *       (or none alive), Unavailable until every live server has sent this leader a full report
 *       (before that, "the leader believes it holds it" is not known and missing cannot be counted)
 *   cluster.scrubStatus {round?}  → its progress and figures (NotFound when this leader ran no such round)
 *   (cluster.repair carries counters() too: the latest round's figures, for /metrics and status)
 *   cs.scrubReport {round, verified, corrupt, done} → {active} (chunk servers): progress; the
 *       replicas found corrupt or missing stop counting as locations at once, so repair copies them
 *
 * The round reaches its servers through the channel they already use: a held cs.work poll is
 * answered with the scrub command at once, and every heartbeat answer carries it until the server
 * reports (ChunkServers adds commandsFor()).
 */
import type { Clock } from '../env/clock.js';
import { CHUNK_PREFIX, type MetaReadView } from '../meta/namespace-keys.js';
import type { ScrubReportRequest, ScrubRequest, ScrubStatusRequest } from '../proto/meta-requests.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { LeaderTerm } from './leader-term.js';
import type { LeaderTerms } from './leader-terms.js';
import type { RepairLoop } from './repair-loop.js';
import type { ScrubView } from './scrub-rounds.js';
import { SCRUB_ROUND_TIMEOUT_MS_DEFAULT } from '../config/defaults.js';

export interface ScrubCallsComponents {
  terms: LeaderTerms;
  repair: Pick<RepairLoop, 'reportsPending'>;
  /** Committed state (chunk index). */
  view: MetaReadView;
  /** Monotonic time. */
  clock: Clock;
  logger: Logger;
}

export interface ScrubCallsOptions {
  /** Replicas per chunk. */
  replicas: number;
}

export class ScrubCalls {
  private readonly c: ScrubCallsComponents;
  private readonly o: ScrubCallsOptions;

  constructor(c: ScrubCallsComponents, o: ScrubCallsOptions) {
    this.c = c;
    this.o = o;
  }

  start(req: ScrubRequest): A['cluster.scrub'] {
    const t = this.c.terms.current();
    const now = this.c.clock.nowMs();
    const view = this.viewOf(t, now);
    const ring = t.cluster.ring();
    let servers: string[];
    if (req.server !== undefined) {
      if (!ring.server(req.server)) throw new CairnError('NotFound', `no chunk server ${req.server}`);
      if (!view.isAlive(req.server)) throw new CairnError('PreconditionFailed', `chunk server ${req.server} is not alive`);
      servers = [req.server];
    } else {
      servers = ring.servers.map((s) => s.id).filter((id) => view.isAlive(id)).sort();
      if (servers.length === 0) throw new CairnError('PreconditionFailed', 'no live chunk server to scrub');
    }
    const pending = this.c.repair.reportsPending(t, now);
    if (pending.length > 0) throw new CairnError('Unavailable', `the metadata leader is still waiting for chunk reports from ${pending.join(', ')}; try again shortly`);
    const round = t.scrubs.start(
      { servers, believed: (s) => [...t.registry.chunksOf(s)], bytesPerSecMax: req.bytesPerSecMax, timeoutMs: req.timeoutMs ?? SCRUB_ROUND_TIMEOUT_MS_DEFAULT, nowMs: now },
      view,
    );
    // Servers waiting in a work poll start now rather than at their next heartbeat.
    for (const id of servers) {
      const commands = t.scrubs.commandsFor(id);
      if (commands.length > 0) t.polls.release(id, commands);
    }
    this.c.logger.info('scrub round started', { round, servers, bytesPerSecMax: req.bytesPerSecMax });
    return t.scrubs.status(round, view, now);
  }

  status(req: ScrubStatusRequest): A['cluster.scrubStatus'] {
    const t = this.c.terms.current();
    const now = this.c.clock.nowMs();
    return t.scrubs.status(req.round, this.viewOf(t, now), now);
  }

  /** Scrub counters for cluster.repair (ScrubRounds.counters). */
  counters(): Record<string, number> {
    const t = this.c.terms.current();
    const now = this.c.clock.nowMs();
    return t.scrubs.counters(this.viewOf(t, now), now);
  }

  report(server: string, req: ScrubReportRequest): A['cs.scrubReport'] {
    const t = this.c.terms.current();
    const r = t.scrubs.report(server, req, this.viewOf(t, this.c.clock.nowMs()));
    for (const chunk of r.bad) t.registry.markBad(server, chunk);
    if (r.bad.length > 0) this.c.logger.warn('scrub found bad replicas', { server, round: req.round, chunks: r.bad.length });
    return { active: r.active };
  }

  private viewOf(t: LeaderTerm, now: number): ScrubView {
    const reg = t.registry;
    const ring = t.cluster.ring();
    const isAlive = (s: string): boolean => {
      const rs = ring.server(s);
      return rs !== undefined && rs.state !== 'dead' && reg.isAlive(s, now);
    };
    return {
      replicas: this.o.replicas,
      isAlive,
      holds: (s, chunk) => reg.locations(chunk).includes(s),
      liveCopies: (chunk) => reg.locations(chunk).filter(isAlive).length,
      isReferenced: (chunk) => this.c.view.get(CHUNK_PREFIX + chunk) !== undefined,
    };
  }
}

/**
 * A chunk server's link to the metadata leader (HDFS's BPServiceActor): registration, a
 * heartbeat every heartbeatMs with the disk's numbers, a full chunk report whenever the leader
 * asks for one (at start, and after every leader change, since a new leader's location map is
 * empty) and every fullReportMs besides (repairs any drift, as HDFS's periodic block reports
 * do), and incremental reports of replicas added and removed in between.
 *
 * A replica is reported as added only once it is durable (the store's put resolved) — the
 * leader counts reported replicas as verified copies. Full reports are paged (reportPageIds per
 * call) so a server with millions of chunks never sends one huge message.
 *
 * A replica the leader asked for (a repair copy) is reported at once (reportSoon) rather than
 * at the next beat, and the leader answers an incremental report with more work, as it does a
 * heartbeat: repair then runs as fast as copies finish instead of one batch per heartbeat (with
 * the 1 s default heartbeat, handing copies out only on heartbeats held a target to about 8
 * chunks a second, whatever its disk could take).
 *
 * New work reaches an idle server through a long poll (cs.work): the leader holds it until a
 * repair scan queues work for this server and answers at once, so a copy starts when planned
 * rather than up to a heartbeat later (the heartbeat still carries work too, should a poll be
 * lost). The poll runs beside the beat, not in its turn: it waits, it does not report.
 *
 * Scrub commands ({op:'scrub'}, `cairn scrub`) come in the same answers; they go to onScrub, the
 * rest to onCommands. A round's reports (scrubReport) are sent beside the beat, like the poll.
 *
 * Calls go through a MetaSession (leader discovery, NotLeader hints, retries) and never overlap
 * (a beat and a prompt report take turns). Failures are logged and retried on the next beat;
 * the loop never throws.
 */
import type { Clock, Timers } from '../env/clock.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { FULL_REPORT_MS_DEFAULT, HEARTBEAT_MS_DEFAULT, REPORT_PAGE_CHUNKS_DEFAULT, WORK_POLL_MS_DEFAULT } from '../config/defaults.js';
import { decodeCommands, decodeHeartbeat, decodeRegister, decodeReportEnd, decodeScrubReport } from '../proto/meta-answers.js';
import type { ScrubReportRequest } from '../proto/meta-requests.js';
import { parseScrubCommand, type ScrubCommand } from './scrubber.js';

export interface ReporterSession {
  call(method: string, body: unknown, opts?: { idempotent?: boolean; timeoutMs?: number }): Promise<unknown>;
}

export interface ReporterStore {
  space(): Promise<{ capacityBytes: number; freeBytes: number; usedBytes: number; chunks: number; full: boolean }>;
  list(): AsyncIterable<string>;
}

/** Failed repair copies remembered for the next heartbeat (more wait for the leader's copy timeout). */
const COPY_FAILED_MAX = 1000;

export interface MetaReporterComponents {
  session: ReporterSession;
  store: ReporterStore;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Work the leader sent with a heartbeat's or an incremental report's answer (repair copies and deletions). */
  onCommands?: (commands: unknown[]) => void;
  /** A scrub round the leader asks for (`cairn scrub`), taken out of the same answers. */
  onScrub?: (command: ScrubCommand) => void;
  /** Bytes this server has copied for repair since it started (sent with each heartbeat: the leader's repair rate). */
  copiedBytes?: () => number;
  /** Whether repair has nothing queued or running (sent with each heartbeat: the leader forgets work that never arrived). */
  repairIdle?: () => boolean;
}

export interface MetaReporterOptions {
  /** host:port clients use to reach this server's data plane. */
  addr: string;
  zone: string;
  /** @default 1000 */
  heartbeatMs?: number;
  /** Chunk ids per report page / incremental update. @default 5000 */
  reportPageIds?: number;
  /** Send a full report at least this often. @default 600000 (10 min) */
  fullReportMs?: number;
  /** How long the leader may hold a work poll (cs.work); 0: no poll, work comes with beats only. @default 10000 */
  workWaitMs?: number;
  /** Identifies the disk the chunks live on (sent with heartbeats: status counts a shared disk's space once); '': not sent. @default '' */
  diskId?: string;
}

/** Added to a work poll's wait for its call timeout. */
const WORK_POLL_SLACK_MS = 5000;
/** Pause of the work poll after a failure or while not registered (or a heartbeat, if shorter). */
const WORK_POLL_RETRY_MS = 500;

export class MetaReporter {
  private readonly c: MetaReporterComponents;
  private readonly o: Required<MetaReporterOptions>;
  private registered = false;
  private added = new Set<string>();
  private readonly failedCopies = new Set<string>();
  private removed = new Set<string>();
  private timer: { cancel(): void } | null = null;
  private running: Promise<void> | null = null;
  /** Calls to the leader run one at a time, in this chain. */
  private turn: Promise<void> = Promise.resolve();
  private reportSoonPending = false;
  private stopped = false;
  private reportSeq = 0;
  private lastFullReportMs = Number.NEGATIVE_INFINITY;
  /** Counters for tests and status. */
  readonly counters = { heartbeats: 0, fullReports: 0, failures: 0, workPolls: 0 };
  /** When the leader last answered a heartbeat (clock ms); null: not yet. */
  lastHeartbeatAtMs: number | null = null;
  private polling: Promise<void> | null = null;

  constructor(c: MetaReporterComponents, o: MetaReporterOptions) {
    this.c = c;
    this.o = { heartbeatMs: HEARTBEAT_MS_DEFAULT, reportPageIds: REPORT_PAGE_CHUNKS_DEFAULT, fullReportMs: FULL_REPORT_MS_DEFAULT, workWaitMs: WORK_POLL_MS_DEFAULT, diskId: '', ...o };
    this.reportSeq = Math.floor(c.clock.nowMs()) % 1_000_000_000;
  }

  start(): void {
    const beat = (): void => {
      if (this.stopped || this.running) return;
      this.running = this.exclusive(() => this.beat()).finally(() => {
        this.running = null;
      });
    };
    this.timer = this.c.timers.setInterval(beat, this.o.heartbeatMs);
    beat();
    if (this.o.workWaitMs > 0) this.polling = this.pollWork();
  }

  /** Stops beating and polling; the poll in progress (held by the leader) ends when the session closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.turn;
  }

  /** Resolves once the work poll loop has ended (after stop() and the session's close). */
  pollEnded(): Promise<void> {
    return this.polling ?? Promise.resolve();
  }

  /** The work poll loop: one cs.work at a time; after a failure, or while unregistered, a short pause. */
  private async pollWork(): Promise<void> {
    const waitMs = this.o.workWaitMs;
    while (!this.stopped) {
      if (this.registered) {
        try {
          const r = decodeCommands(await this.c.session.call('cs.work', { waitMs }, { idempotent: true, timeoutMs: waitMs + WORK_POLL_SLACK_MS }), 'cs.work');
          this.counters.workPolls++;
          if (this.stopped) return;
          this.dispatch(r.commands);
          continue;
        } catch (err) {
          if (this.stopped) return;
          this.c.logger.debug('work poll failed', { err: (err as Error).message });
        }
      }
      await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, Math.min(this.o.heartbeatMs, WORK_POLL_RETRY_MS)));
    }
  }

  /**
   * Send the pending incremental changes now instead of at the next beat (called when a repair
   * copy is durable, so the leader frees its slot and answers with the next work). Coalesced:
   * changes made before the report leaves go with it.
   */
  reportSoon(): void {
    if (this.stopped || this.reportSoonPending) return;
    this.reportSoonPending = true;
    void this.exclusive(async () => {
      this.reportSoonPending = false;
      if (this.stopped || !this.registered) return;
      try {
        await this.flushIncremental();
      } catch (err) {
        this.counters.failures++;
        this.c.logger.warn('incremental report failed', { err: (err as Error).message });
      }
    });
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const next = this.turn.then(fn).catch((err: unknown) => this.c.logger.error('reporter step failed', { err: (err as Error).message }));
    this.turn = next;
    return next;
  }

  /** A replica became durable here. */
  /**
   * A repair copy the leader asked for failed from every source: told with the next heartbeat so
   * the leader can plan it again without waiting for its copy timeout. At most copyFailedMax kept.
   */
  copyFailed(id: string): void {
    if (this.failedCopies.size < COPY_FAILED_MAX) this.failedCopies.add(id);
  }

  chunkAdded(id: string): void {
    this.removed.delete(id);
    this.added.add(id);
  }

  /** A replica was deleted (or found corrupt) here. */
  chunkRemoved(id: string): void {
    this.added.delete(id);
    this.removed.add(id);
  }

  /** A page of a scrub round's progress (cs.scrubReport); resolves false when the leader wants the round stopped. */
  async scrubReport(page: ScrubReportRequest): Promise<boolean> {
    return decodeScrubReport(await this.c.session.call('cs.scrubReport', page, { idempotent: true })).active;
  }

  /** Scrub commands to onScrub, the rest (repair work) to onCommands. */
  private dispatch(commands: unknown[]): void {
    const work: unknown[] = [];
    for (const cmd of commands) {
      if ((cmd as { op?: unknown } | null)?.op !== 'scrub') {
        work.push(cmd);
        continue;
      }
      const scrub = parseScrubCommand(cmd);
      if (scrub) this.c.onScrub?.(scrub);
      else this.c.logger.warn('malformed scrub command ignored');
    }
    if (work.length > 0) this.c.onCommands?.(work);
  }

  /** Whether the leader has accepted our registration (the cluster can place chunks here). */
  isRegistered(): boolean {
    return this.registered;
  }

  private async beat(): Promise<void> {
    try {
      const space = await this.c.store.space();
      if (!this.registered) {
        decodeRegister(await this.c.session.call('cs.register', { addr: this.o.addr, zone: this.o.zone, capacityBytes: space.capacityBytes }, { idempotent: true }));
        this.registered = true;
        this.c.logger.info('registered with the metadata leader', { addr: this.o.addr, zone: this.o.zone });
      }
      const copyFailed = [...this.failedCopies];
      const hb = decodeHeartbeat(await this.c.session.call(
        'cs.heartbeat',
        {
          usedBytes: space.usedBytes,
          capacityBytes: space.capacityBytes,
          freeBytes: space.freeBytes,
          chunks: space.chunks,
          full: space.full,
          ...(copyFailed.length > 0 ? { copyFailed } : {}),
          ...(this.c.copiedBytes ? { copiedBytes: this.c.copiedBytes() } : {}),
          ...(this.c.repairIdle ? { repairIdle: this.c.repairIdle() } : {}),
          ...(this.o.diskId === '' ? {} : { diskId: this.o.diskId }),
        },
        { idempotent: true },
      ));
      for (const id of copyFailed) this.failedCopies.delete(id);
      this.counters.heartbeats++;
      this.lastHeartbeatAtMs = this.c.clock.nowMs();
      this.dispatch(hb.commands);
      if (!hb.registered) {
        // The map does not know us (removed, or a brand-new cluster): register again next beat.
        this.registered = false;
        return;
      }
      if (hb.needReport || this.c.clock.nowMs() - this.lastFullReportMs >= this.o.fullReportMs) await this.fullReport();
      else await this.flushIncremental();
    } catch (err) {
      this.counters.failures++;
      if (isCairnError(err) && err.code === 'Unauthorized') this.c.logger.error('metadata service refused this server', { err: err.message });
      else this.c.logger.warn('heartbeat failed', { err: (err as Error).message });
    }
  }

  private async fullReport(): Promise<void> {
    const report = ++this.reportSeq;
    // Changes from now on are sent after the report; those before it are in it.
    const pendingAdded = this.added;
    const pendingRemoved = this.removed;
    this.added = new Set();
    this.removed = new Set();
    try {
      await this.c.session.call('cs.reportBegin', { report }, { idempotent: true });
      let page: string[] = [];
      for await (const id of this.c.store.list()) {
        page.push(id);
        if (page.length >= this.o.reportPageIds) {
          await this.c.session.call('cs.reportPage', { report, ids: page }, { idempotent: true });
          page = [];
        }
      }
      if (page.length > 0) await this.c.session.call('cs.reportPage', { report, ids: page }, { idempotent: true });
      decodeReportEnd(await this.c.session.call('cs.reportEnd', { report }, { idempotent: true }));
      this.counters.fullReports++;
      this.lastFullReportMs = this.c.clock.nowMs();
    } catch (err) {
      // Keep the changes for the next attempt (a full report will list the durable ones anyway).
      for (const id of pendingAdded) if (!this.removed.has(id)) this.added.add(id);
      for (const id of pendingRemoved) if (!this.added.has(id)) this.removed.add(id);
      throw err instanceof Error ? err : new CairnError('Internal', String(err));
    }
  }

  private async flushIncremental(): Promise<void> {
    while (this.added.size > 0 || this.removed.size > 0) {
      const added = take(this.added, this.o.reportPageIds);
      const removed = take(this.removed, this.o.reportPageIds);
      try {
        const r = decodeCommands(await this.c.session.call('cs.update', { added, removed }, { idempotent: true }), 'cs.update');
        this.dispatch(r.commands);
      } catch (err) {
        for (const id of added) if (!this.removed.has(id)) this.added.add(id);
        for (const id of removed) if (!this.added.has(id)) this.removed.add(id);
        throw err;
      }
    }
  }
}

function take(set: Set<string>, n: number): string[] {
  const out: string[] = [];
  for (const id of set) {
    if (out.length >= n) break;
    out.push(id);
  }
  for (const id of out) set.delete(id);
  return out;
}

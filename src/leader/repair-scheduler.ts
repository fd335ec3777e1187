/**
 * The leader's repair loop (HDFS ReplicationMonitor + InvalidateBlocks): every scan plans each
 * chunk (meta/repair-planner.ts) and queues work per chunk server; a chunk server takes its work
 * with its heartbeat's answer (HDFS DatanodeCommands) and reports what it did through the
 * ordinary incremental reports, which the next scan sees.
 *
 *   - copies: fewest live replicas first; at most copiesPerServerMax in flight per target; an
 *     unconfirmed copy is scheduled again after copyTimeoutMs, or sooner: when its target
 *     registers again (a new process: the old one's work died with it) or says in a heartbeat
 *     that it has no repair work although it was handed some at least idleGraceMs ago (the
 *     answer was lost, or its queue was full). Copies are idempotent on the chunk server (an
 *     identical replica already there is success), so a repeat costs nothing.
 *   - a chunk short of replicas with no holder known to be dead waits missingGraceMs before it
 *     is copied: a file's chunks are committed before every replica has been reported (reports
 *     are incremental, once a heartbeat), so under a steady write load a fresh chunk looks short
 *     for a moment; copying it then would move whole chunks for nothing. A chunk that lost a
 *     replica to a server declared dead is copied at once, and so is one with its full count of
 *     holders that must move (drain, join): it is not short, so reports cannot be behind.
 *   - excess replicas: deleted only when every desired server holds a verified copy.
 *   - garbage (referenced by no file): deleted everywhere once unreferenced for gcGraceMs as
 *     seen by this leader, which protects uploads in progress (their chunks are written before
 *     the commit that references them).
 *
 * All of it is soft state: a new leader starts empty, waits until every live chunk server has
 * sent it a full report (so it never mistakes "not reported yet" for "missing"), and plans again
 * from scratch. Nothing is lost or done twice across a failover: work is recomputed from
 * what the servers hold, and repeated commands are harmless.
 */
import { planChunk, type RepairView } from '../meta/repair-planner.js';
import { GC_GRACE_MS_DEFAULT, REPAIR_COMMANDS_PER_HEARTBEAT_MAX_DEFAULT, REPAIR_COPIES_PER_SERVER_MAX_DEFAULT, REPAIR_COPY_TIMEOUT_MS_DEFAULT, REPAIR_IDLE_GRACE_MS_DEFAULT, REPAIR_MISSING_GRACE_MS_DEFAULT } from '../config/defaults.js';

export type RepairTask = { op: 'copy'; id: string; from: string[] } | { op: 'delete'; id: string; why: 'excess' | 'garbage' };

export interface RepairSchedulerOptions {
  /** Copies in flight to one chunk server at once. @default 8 */
  copiesPerServerMax?: number;
  /** Commands handed to one server per heartbeat. @default 256 */
  commandsPerHeartbeatMax?: number;
  /** A copy not confirmed within this long is scheduled again. @default 60_000 */
  copyTimeoutMs?: number;
  /** Unreferenced chunks are deleted after this long. @default 3_600_000 (1 h) */
  gcGraceMs?: number;
  /** A short chunk with no holder known dead is copied only once short this long. @default 3_000 (three default heartbeats) */
  missingGraceMs?: number;
  /**
   * Work handed to a server at least this long ago is forgotten when the server says it has
   * nothing queued or running (its answer was lost, or its queue was full). @default 5_000
   */
  idleGraceMs?: number;
}

export interface RepairStats {
  /** Chunks referenced by files at the last scan. */
  chunks: number;
  underReplicated: number;
  lost: number;
  /** Copies and deletions waiting in queues, and copies handed out and not yet confirmed. */
  copiesQueued: number;
  deletesQueued: number;
  copiesInFlight: number;
  /** Since this leader took over. */
  copiesScheduled: number;
  copiesConfirmed: number;
  /** Copies a chunk server reported it could not make from any source. */
  copiesFailed: number;
  /** Copies handed out and then lost: the server restarted, or said it had none (lost on the way, dropped). */
  copiesLost: number;
  deletesScheduled: number;
  garbageChunks: number;
  /** Bytes of repair copies the chunk servers reported finished since this leader took over. */
  copyBytes: number;
  /** Repair copy rate now, bytes/s: the sum of each chunk server's rate over its last heartbeat interval. */
  copyBytesPerSec: number;
}

export interface ScanInput {
  view: RepairView;
  /** Every chunk referenced by a file. */
  referenced: Iterable<string>;
  isReferenced(chunk: string): boolean;
  /** Every located chunk with its holders. */
  located: Iterable<[string, ReadonlySet<string>]>;
  nowMs: number;
}

/**
 * Chunks planned between two turns of the event loop (scanSteps): a pass over a million chunks
 * takes seconds (~1.5 µs each here), longer than a leader may go without sending heartbeats.
 */
export const REPAIR_SCAN_SLICE_CHUNKS = 10_000;

export class RepairScheduler {
  private readonly copiesPerServerMax: number;
  private readonly commandsPerHeartbeatMax: number;
  private readonly copyTimeoutMs: number;
  private readonly idleGraceMs: number;
  private readonly gcGraceMs: number;
  private readonly missingGraceMs: number;
  /** Chunk → when a scan first found it short with no holder known dead. */
  private shortSince = new Map<string, number>();
  /** Queued work by server, rebuilt by every scan. */
  private queues = new Map<string, RepairTask[]>();
  /** `chunk@server` → deadline of a copy handed out. */
  private readonly copying = new Map<string, number>();
  /**
   * `chunk@server` → the source a copy handed out names first (the one it reads from unless that
   * fails). Entries whose copy is no longer in flight are ignored, and dropped at the next scan.
   */
  private readonly sources = new Map<string, string>();
  /** `chunk@server` → deadline of a delete handed out. */
  private readonly deleting = new Map<string, number>();
  private readonly unreferencedSince = new Map<string, number>();
  /** Per chunk server: its cumulative copied-bytes counter at its last heartbeat, and the rate since the one before. */
  private readonly copyMeters = new Map<string, { bytes: number; atMs: number; perSec: number }>();
  readonly stats: RepairStats = {
    chunks: 0,
    underReplicated: 0,
    lost: 0,
    copiesQueued: 0,
    deletesQueued: 0,
    copiesInFlight: 0,
    copiesScheduled: 0,
    copiesConfirmed: 0,
    copiesFailed: 0,
    copiesLost: 0,
    deletesScheduled: 0,
    garbageChunks: 0,
    copyBytes: 0,
    copyBytesPerSec: 0,
  };

  constructor(o: RepairSchedulerOptions = {}) {
    this.copiesPerServerMax = o.copiesPerServerMax ?? REPAIR_COPIES_PER_SERVER_MAX_DEFAULT;
    this.commandsPerHeartbeatMax = o.commandsPerHeartbeatMax ?? REPAIR_COMMANDS_PER_HEARTBEAT_MAX_DEFAULT;
    this.copyTimeoutMs = o.copyTimeoutMs ?? REPAIR_COPY_TIMEOUT_MS_DEFAULT;
    this.gcGraceMs = o.gcGraceMs ?? GC_GRACE_MS_DEFAULT;
    this.missingGraceMs = o.missingGraceMs ?? REPAIR_MISSING_GRACE_MS_DEFAULT;
    this.idleGraceMs = o.idleGraceMs ?? REPAIR_IDLE_GRACE_MS_DEFAULT;
  }

  /** A whole scan at once (scanSteps run to its end). */
  scan(input: ScanInput): void {
    for (const _ of this.scanSteps(input));
  }

  /**
   * A scan in steps: it pauses (yields) after every REPAIR_SCAN_SLICE_CHUNKS chunks of either
   * pass, and the caller lets the leader's other work run before it goes on. What changes
   * meanwhile (reports, copies handed out or confirmed) may or may not be seen, as in any pass the
   * next one corrects; work handed out while it ran is not queued again. The plan (queues, stats)
   * is replaced when the last step ends.
   */
  *scanSteps(input: ScanInput): Generator<void, void, void> {
    const { view, nowMs } = input;
    for (const m of [this.copying, this.deleting]) for (const [k, deadline] of m) if (deadline <= nowMs) m.delete(k);
    for (const k of this.sources.keys()) if (!this.copying.has(k)) this.sources.delete(k);
    const copies: Array<{ server: string; task: RepairTask; live: number }> = [];
    const deletes: Array<{ server: string; task: RepairTask }> = [];
    const shortSince = new Map<string, number>();
    let chunks = 0;
    let under = 0;
    let lost = 0;
    for (const id of input.referenced) {
      if (++chunks % REPAIR_SCAN_SLICE_CHUNKS === 0) yield;
      const p = planChunk(view, id);
      if (p.lost) lost++;
      else if (p.holders.length < view.replicas) under++;
      for (const h of p.holders) {
        if (this.copying.delete(`${id}@${h}`)) this.stats.copiesConfirmed++;
      }
      if (p.copies.length > 0 && p.holders.length < view.replicas && !view.locations(id).some((s) => !view.isAlive(s))) {
        const since = this.shortSince.get(id) ?? nowMs;
        shortSince.set(id, since);
        if (nowMs - since < this.missingGraceMs) continue;
      }
      for (const c of p.copies) {
        if (this.copying.has(`${id}@${c.to}`)) continue;
        copies.push({ server: c.to, task: { op: 'copy', id, from: c.from }, live: p.holders.length });
      }
      for (const s of p.excess) {
        if (!this.deleting.has(`${id}@${s}`)) deletes.push({ server: s, task: { op: 'delete', id, why: 'excess' } });
      }
    }
    this.shortSince = shortSince;
    // Garbage: located but referenced by no file, for longer than the grace.
    let garbage = 0;
    const seen = new Set<string>();
    let located = 0;
    for (const [id, holders] of input.located) {
      if (++located % REPAIR_SCAN_SLICE_CHUNKS === 0) yield;
      if (input.isReferenced(id)) continue;
      seen.add(id);
      garbage++;
      const since = this.unreferencedSince.get(id) ?? nowMs;
      this.unreferencedSince.set(id, since);
      if (nowMs - since < this.gcGraceMs) continue;
      for (const s of holders) {
        if (view.isAlive(s) && !this.deleting.has(`${id}@${s}`)) deletes.push({ server: s, task: { op: 'delete', id, why: 'garbage' } });
      }
    }
    for (const id of this.unreferencedSince.keys()) if (!seen.has(id)) this.unreferencedSince.delete(id);

    // Handed out while the scan paused: in flight already, not to be handed out twice.
    const planned = copies.filter((c) => !this.copying.has(`${c.task.id}@${c.server}`));
    const deleting = deletes.filter((d) => !this.deleting.has(`${d.task.id}@${d.server}`));
    planned.sort((a, b) => a.live - b.live);
    this.chooseSources(planned);
    const queues = new Map<string, RepairTask[]>();
    const push = (server: string, task: RepairTask): void => {
      let q = queues.get(server);
      if (!q) queues.set(server, (q = []));
      q.push(task);
    };
    for (const c of planned) push(c.server, c.task);
    for (const d of deleting) push(d.server, d.task);
    this.queues = queues;
    Object.assign(this.stats, {
      chunks,
      underReplicated: under,
      lost,
      copiesQueued: planned.length,
      deletesQueued: deleting.length,
      copiesInFlight: this.copying.size,
      garbageChunks: garbage,
    });
  }

  /** `server` reported new replicas: copies to it are done, which frees room for the next ones at once. */
  confirm(server: string, added: readonly string[]): void {
    for (const id of added) {
      if (this.copying.delete(`${id}@${server}`)) this.stats.copiesConfirmed++;
    }
    this.stats.copiesInFlight = this.copying.size;
  }

  /** `server` could not copy these chunks from any source: they may be planned again at the next scan. */
  failed(server: string, ids: readonly string[]): void {
    for (const id of ids) {
      if (this.copying.delete(`${id}@${server}`)) this.stats.copiesFailed++;
    }
    this.stats.copiesInFlight = this.copying.size;
  }

  /**
   * `server` (re)started: whatever it was handed before is gone with its old process, so its
   * copies and deletions stop counting as in flight (they would hold its room and their chunks
   * until copyTimeoutMs) and are planned again at the next scan. Work still queued for it stays.
   */
  restarted(server: string): void {
    this.forget(server, Number.POSITIVE_INFINITY);
  }

  /**
   * `server` has no repair work queued or running (its heartbeat said so): what it was handed at
   * least idleGraceMs ago never reached it or was dropped, so it stops counting as in flight and
   * is planned again at the next scan (rather than after copyTimeoutMs). Younger work may still be
   * on its way to the server and is kept.
   */
  idle(server: string, nowMs: number): void {
    this.forget(server, nowMs - this.idleGraceMs);
  }

  /** Drop `server`'s copies and deletions handed out at or before `handedBy` (counted as lost copies). */
  private forget(server: string, handedBy: number): void {
    const suffix = `@${server}`;
    for (const m of [this.copying, this.deleting]) {
      for (const [k, deadline] of m) {
        if (!k.endsWith(suffix) || deadline - this.copyTimeoutMs > handedBy) continue;
        m.delete(k);
        if (m === this.copying) this.stats.copiesLost++;
      }
    }
    this.stats.copiesInFlight = this.copying.size;
  }

  /**
   * `server`'s heartbeat carried its cumulative count of bytes copied by repair (since it
   * started). The rate is the increase over the heartbeat interval; a counter that went down
   * (the server restarted) starts a new meter. Rates older than staleMs (a silent server) count 0.
   */
  copyProgress(server: string, bytes: number, nowMs: number, staleMs = 5_000): void {
    const prev = this.copyMeters.get(server);
    if (!prev || bytes < prev.bytes) {
      this.copyMeters.set(server, { bytes, atMs: nowMs, perSec: 0 });
    } else if (nowMs > prev.atMs) {
      const delta = bytes - prev.bytes;
      this.stats.copyBytes += delta;
      this.copyMeters.set(server, { bytes, atMs: nowMs, perSec: (delta * 1000) / (nowMs - prev.atMs) });
    }
    let sum = 0;
    for (const [id, m] of this.copyMeters) {
      if (nowMs - m.atMs > staleMs) this.copyMeters.delete(id);
      else sum += m.perSec;
    }
    this.stats.copyBytesPerSec = Math.round(sum);
  }

  /** Work for `server` now (called on its heartbeat); what is handed out counts as in flight. */
  take(server: string, nowMs: number): RepairTask[] {
    const q = this.queues.get(server);
    if (!q || q.length === 0) return [];
    let copyRoom = this.copiesPerServerMax;
    for (const k of this.copying.keys()) if (k.endsWith(`@${server}`)) copyRoom--;
    const out: RepairTask[] = [];
    const rest: RepairTask[] = [];
    for (const t of q) {
      if (out.length >= this.commandsPerHeartbeatMax) {
        rest.push(t);
        continue;
      }
      if (t.op === 'copy') {
        if (copyRoom <= 0) {
          rest.push(t);
          continue;
        }
        copyRoom--;
        const key = `${t.id}@${server}`;
        this.copying.set(key, nowMs + this.copyTimeoutMs);
        if (t.from[0] !== undefined) this.sources.set(key, t.from[0]);
        this.stats.copiesScheduled++;
      } else {
        this.deleting.set(`${t.id}@${server}`, nowMs + this.copyTimeoutMs);
        this.stats.deletesScheduled++;
      }
      out.push(t);
    }
    this.queues.set(server, rest);
    this.stats.copiesInFlight = this.copying.size;
    return out;
  }

  /**
   * Names first, for each planned copy, the holder with the least repair work (copies in flight
   * and planned, sent plus received), so the reads of a dead server's chunks spread over their
   * holders instead of all falling on the first holder by id (HDFS picks a replication source by
   * its load the same way). The chunk server tries the others only if that one fails.
   */
  private chooseSources(copies: Array<{ server: string; task: RepairTask }>): void {
    const load = this.copyLoads();
    for (const c of copies) bump(load, c.server);
    for (const c of copies) {
      if (c.task.op !== 'copy') continue;
      const from = leastLoadedFirst(c.task.from, load);
      if (from[0] !== undefined) bump(load, from[0]);
      c.task = { ...c.task, from };
    }
  }

  /** Copies in flight per server, as target and as first-named source. */
  private copyLoads(): Map<string, number> {
    const load = new Map<string, number>();
    for (const k of this.copying.keys()) {
      bump(load, k.slice(k.lastIndexOf('@') + 1));
      const src = this.sources.get(k);
      if (src !== undefined) bump(load, src);
    }
    return load;
  }
}

function bump(load: Map<string, number>, server: string): void {
  load.set(server, (load.get(server) ?? 0) + 1);
}

/** `from` reordered least-loaded first; equal loads keep their order (the planner's: desired holders first). */
function leastLoadedFirst(from: readonly string[], load: ReadonlyMap<string, number>): string[] {
  return from
    .map((s, i) => ({ s, i, n: load.get(s) ?? 0 }))
    .sort((a, b) => a.n - b.n || a.i - b.i)
    .map((x) => x.s);
}

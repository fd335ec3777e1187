/**
 * The leader's soft view of the chunk servers (HDFS DatanodeManager + BlocksMap): when each
 * server last sent a heartbeat and what it said about its disk, and which servers hold a
 * verified replica of each chunk. Nothing here is replicated: a new leader starts empty and
 * rebuilds it from heartbeats and full chunk reports, so it must not declare anyone dead, or any
 * chunk lost, before the servers have had `deadAfterMs` to report to it.
 *
 * Full reports arrive in pages (a server may hold millions of chunks; one RPC stays bounded):
 * beginReport → reportPage* → endReport. Chunks the server listed before but not in the finished
 * report are dropped from its set; a report that is never finished changes nothing it did not add.
 * Incremental reports (added / removed) keep the map current between full reports.
 *
 * Pure and synchronous; time comes in as `nowMs` arguments.
 */
import { CairnError } from '../util/errors.js';
import { REPORT_PAGE_IDS_MAX } from '../proto/meta-requests.js';

export interface ServerLoad {
  usedBytes: number;
  capacityBytes: number;
  freeBytes: number;
  /** Replicas the server holds by its own count. */
  chunks: number;
  /** The server refuses new chunks (disk full or below its reserve). */
  full: boolean;
  /** The disk it stores on (servers sharing a disk report the same id); absent: unknown. */
  diskId?: string;
}

export interface ChunkRegistryOptions {
  /** A server silent this long counts as dead. */
  deadAfterMs: number;
  /** Chunk ids accepted in one report page or incremental update. @default 10_000 */
  reportPageChunksMax?: number;
}

interface ServerEntry {
  lastSeenMs: number;
  load: ServerLoad | null;
  /** Chunks this server holds a verified replica of. */
  chunks: Set<string>;
  /** An unfinished full report: its id and the chunks listed so far. */
  report: { id: number; seen: Set<string> } | null;
  /** At least one full report finished since this leader took over. */
  reported: boolean;
}

export class ChunkRegistry {
  private readonly servers = new Map<string, ServerEntry>();
  /** chunk id → servers holding a verified replica. */
  private readonly where = new Map<string, Set<string>>();
  private readonly deadAfterMs: number;
  private readonly reportPageChunksMax: number;

  /** `startMs`: when this registry (this leadership) began; silence is measured from no earlier. */
  constructor(
    private readonly startMs: number,
    options: ChunkRegistryOptions,
  ) {
    if (!(options.deadAfterMs > 0)) throw new CairnError('InvalidArgument', 'deadAfterMs must be positive');
    this.deadAfterMs = options.deadAfterMs;
    this.reportPageChunksMax = options.reportPageChunksMax ?? REPORT_PAGE_IDS_MAX;
  }

  heartbeat(id: string, load: ServerLoad, nowMs: number): void {
    const s = this.entry(id);
    s.lastSeenMs = Math.max(s.lastSeenMs, nowMs);
    s.load = { ...load };
  }

  load(id: string): ServerLoad | null {
    return this.servers.get(id)?.load ?? null;
  }

  lastSeenMs(id: string): number | null {
    return this.servers.get(id)?.lastSeenMs ?? null;
  }

  /**
   * Is `id` alive at `nowMs`: heard from within deadAfterMs. A server never heard from by this
   * leader is given deadAfterMs from the leader's start before it counts as silent.
   */
  isAlive(id: string, nowMs: number): boolean {
    return nowMs < this.deadAtMs(id);
  }

  /** When `id` counts as dead if it stays silent (isAlive is true before, false from then on). */
  deadAtMs(id: string): number {
    const seen = this.servers.get(id)?.lastSeenMs ?? this.startMs;
    return Math.max(seen, this.startMs) + this.deadAfterMs;
  }

  /** Has `id` finished a full report to this leader (its chunk set is complete)? */
  hasReported(id: string): boolean {
    return this.servers.get(id)?.reported ?? false;
  }

  beginReport(id: string, reportId: number, nowMs: number): void {
    const s = this.entry(id);
    s.lastSeenMs = Math.max(s.lastSeenMs, nowMs);
    s.report = { id: reportId, seen: new Set() };
  }

  /** Add a page of a full report. Throws InvalidArgument for a report that was not begun. */
  reportPage(id: string, reportId: number, chunkIds: readonly string[]): void {
    this.checkPage(chunkIds);
    const s = this.servers.get(id);
    if (!s?.report || s.report.id !== reportId) throw new CairnError('InvalidArgument', `no report ${reportId} in progress for ${id}`);
    for (const c of chunkIds) {
      s.report.seen.add(c);
      this.addLocation(s, id, c);
    }
  }

  /** Finish a full report: chunks not listed in it are no longer located on `id`. Returns them. */
  endReport(id: string, reportId: number): string[] {
    const s = this.servers.get(id);
    if (!s?.report || s.report.id !== reportId) throw new CairnError('InvalidArgument', `no report ${reportId} in progress for ${id}`);
    const seen = s.report.seen;
    const gone: string[] = [];
    for (const c of s.chunks) if (!seen.has(c)) gone.push(c);
    for (const c of gone) this.removeLocation(s, id, c);
    s.report = null;
    s.reported = true;
    return gone;
  }

  /** Incremental report: replicas added (durable and verified) and removed since the last one. */
  update(id: string, added: readonly string[], removed: readonly string[]): void {
    this.checkPage(added);
    this.checkPage(removed);
    const s = this.entry(id);
    for (const c of added) {
      this.addLocation(s, id, c);
      s.report?.seen.add(c);
    }
    for (const c of removed) {
      this.removeLocation(s, id, c);
      s.report?.seen.delete(c);
    }
  }

  /** A replica found corrupt (by a reader or the scrubber) no longer counts as a location. */
  markBad(id: string, chunkId: string): void {
    const s = this.servers.get(id);
    if (s) this.removeLocation(s, id, chunkId);
  }

  /** Drop everything known about a server (it was removed from the cluster). */
  forget(id: string): void {
    const s = this.servers.get(id);
    if (!s) return;
    for (const c of s.chunks) this.unlink(c, id);
    this.servers.delete(id);
  }

  /** Servers holding a verified replica of `chunkId` (any liveness), sorted. */
  locations(chunkId: string): string[] {
    const set = this.where.get(chunkId);
    return set ? [...set].sort() : [];
  }

  /** Replicas `id` holds by this leader's knowledge. */
  chunkCount(id: string): number {
    return this.servers.get(id)?.chunks.size ?? 0;
  }

  chunksOf(id: string): Iterable<string> {
    return this.servers.get(id)?.chunks ?? [];
  }

  /** Every located chunk with its holders. */
  *located(): Generator<[string, ReadonlySet<string>]> {
    yield* this.where;
  }

  knownServers(): string[] {
    return [...this.servers.keys()].sort();
  }

  private entry(id: string): ServerEntry {
    let s = this.servers.get(id);
    if (!s) {
      s = { lastSeenMs: this.startMs, load: null, chunks: new Set(), report: null, reported: false };
      this.servers.set(id, s);
    }
    return s;
  }

  private checkPage(chunkIds: readonly string[]): void {
    if (chunkIds.length > this.reportPageChunksMax)
      throw new CairnError('TooLarge', `a report page holds at most ${this.reportPageChunksMax} chunk ids, got ${chunkIds.length}`);
  }

  private addLocation(s: ServerEntry, id: string, chunkId: string): void {
    if (s.chunks.has(chunkId)) return;
    s.chunks.add(chunkId);
    let set = this.where.get(chunkId);
    if (!set) {
      set = new Set();
      this.where.set(chunkId, set);
    }
    set.add(id);
  }

  private removeLocation(s: ServerEntry, id: string, chunkId: string): void {
    if (!s.chunks.delete(chunkId)) return;
    this.unlink(chunkId, id);
  }

  private unlink(chunkId: string, id: string): void {
    const set = this.where.get(chunkId);
    if (!set) return;
    set.delete(id);
    if (set.size === 0) this.where.delete(chunkId);
  }
}

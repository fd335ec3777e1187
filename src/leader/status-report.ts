/**
 * cluster.status as the leader builds it: the contract's object (members and roles, chunk
 * servers, chunk counts), the health verdict (proto/cluster-health.ts; a leader that confirmed
 * its leadership has a quorum) and the operator's detail — Raft figures and follower lag, each
 * chunk server's heartbeat age, free space and disk, totals with a shared disk counted once,
 * and the repair ETA.
 *
 * Cost: one pass over the chunk index (see chunkCounts()) and one over the inode records (the
 * totals: see namespace()); both are in LMDB, so the leader's memory does not grow with them.
 * Each pass reads SCAN_SLICE_KEYS keys at a time and lets the event loop run between slices: on
 * a namespace of a million files one pass takes seconds, and a leader that stopped for that long
 * would miss its heartbeats and lose its leadership. A pass is so a fuzzy count (HDFS's are
 * too): what is created or deleted while it runs may or may not be in it.
 */
import type { Clock, Timers } from '../env/clock.js';
import { listServers } from '../meta/cluster-map.js';
import { CHUNK_PREFIX, INODE_PREFIX, inodeKey, ROOT_INODE, summarizeInode, type MetaReadView } from '../meta/namespace-keys.js';
import { clusterHealth, type ChunkServerDetail, type MetaMemberDetail, type StatusRepair, type StatusTotals } from '../proto/cluster-health.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';
import type { LeaderRaftStatus } from './leader-raft.js';
import type { LeaderTerm } from './leader-term.js';
import { CHUNK_PREFIX_END } from './repair-loop.js';

type Status = A['cluster.status'];

const ROOT_KEY = inodeKey(ROOT_INODE);

/** The first key after every inode record. */
const INODE_PREFIX_END = INODE_PREFIX.slice(0, -1) + String.fromCharCode(INODE_PREFIX.charCodeAt(INODE_PREFIX.length - 1) + 1);

/** Keys read between two turns of the event loop in a pass over the chunk index or the inodes (~10–30 ms of work). */
export const SCAN_SLICE_KEYS = 10_000;

type NamespaceTotals = { files: number; dirs: number; bytes: number; inlineBytes: number };
/** The chunk census: the contract's counts, and the copies repair still has to make (its ETA). */
type ChunkCounts = { total: number; underReplicated: number; lost: number; missingCopies: number };

export interface StatusReportComponents {
  /** Committed state (cluster map, namespace, chunk index). */
  view: MetaReadView;
  clock: Clock;
  /** Lets the event loop run between the slices of a pass. */
  timers: Timers;
  addrOf(id: string): string | undefined;
}

export interface StatusReportOptions {
  /** Replicas per chunk. */
  replicas: number;
  /**
   * Namespace totals are recounted when the state changed, at most once per this long, and no
   * sooner than 4 × the last count took (a long count must not keep the leader counting). @default 1000
   */
  totalsCacheMs?: number;
}

export class StatusReport {
  private readonly c: StatusReportComponents;
  private readonly replicas: number;
  private readonly totalsCacheMs: number;
  private namespaceCache: (NamespaceTotals & { atMs: number; applied: number; tookMs: number }) | null = null;
  /** The namespace count under way, which calls arriving meanwhile share. */
  private counting: Promise<NamespaceTotals> | null = null;
  /** The last chunk census, of the leader term whose registry it read. */
  private chunkCache: (ChunkCounts & { term: LeaderTerm; atMs: number; tookMs: number }) | null = null;
  /** The chunk census under way, which calls of the same term arriving meanwhile share. */
  private chunkCounting: { term: LeaderTerm; counts: Promise<ChunkCounts> } | null = null;

  constructor(c: StatusReportComponents, o: StatusReportOptions) {
    this.c = c;
    this.replicas = o.replicas;
    this.totalsCacheMs = o.totalsCacheMs ?? 1000;
  }

  /** `st`: the leader's Raft status, read after its leadership was confirmed. */
  async build(st: LeaderRaftStatus, t: LeaderTerm): Promise<Status> {
    const reg = t.registry;
    const now = this.c.clock.nowMs();
    const learners = new Set(st.conf.learners);
    const metaDetail: Record<string, MetaMemberDetail> = {};
    const meta = [...st.conf.voters, ...st.conf.learners].sort().map((id) => {
      let role: Status['meta'][number]['role'];
      if (id === st.leader) role = 'leader';
      else if (learners.has(id)) role = 'learner';
      else role = st.progress?.[id]?.recentActive === false ? 'unreachable' : 'follower';
      const match = id === st.id ? st.lastIndex : st.progress?.[id]?.match;
      const self = id === st.id;
      metaDetail[id] = {
        term: self ? st.term : null,
        commit: self ? st.commit : null,
        applied: self ? st.applied : null,
        lag: match === undefined ? null : Math.max(0, st.lastIndex - match),
        lastContactMs: self ? 0 : null,
      };
      return { id, addr: this.c.addrOf(id) ?? null, role };
    });
    const ring = t.cluster.ring();
    const chunkServerDetail: Record<string, ChunkServerDetail> = {};
    const chunkServers = listServers(this.c.view).map((rec) => {
      const rs = ring.server(rec.id);
      const alive = reg.isAlive(rec.id, now);
      const state: Status['chunkServers'][number]['state'] = !alive || rs?.state === 'dead' ? 'dead' : rs?.state === 'draining' ? 'draining' : 'alive';
      const load = reg.load(rec.id);
      const seen = reg.lastSeenMs(rec.id);
      chunkServerDetail[rec.id] = { heartbeatAgeMs: seen === null || load === null ? null : Math.max(0, Math.round(now - seen)), free: load?.freeBytes ?? 0, disk: load?.diskId ?? null };
      return { id: rec.id, addr: rec.addr, state, used: load?.usedBytes ?? 0, capacity: load?.capacityBytes ?? rec.capacityBytes, chunks: reg.chunkCount(rec.id) };
    });
    const { total, underReplicated, lost, missingCopies } = await this.chunkCounts(t);
    const chunks = { total, underReplicated, lost };
    const health = clusterHealth({ meta, chunkServers, chunks }, true);
    const totals = this.totals(chunkServers, chunkServerDetail, st.conf.voters.length, await this.namespace(st.applied));
    const replicasHeld = chunkServers.reduce((n, c) => n + c.chunks, 0);
    const chunkBytesAvg = replicasHeld > 0 ? chunkServers.reduce((n, c) => n + c.used, 0) / replicasHeld : 0;
    const s = t.repair.stats;
    const repair: StatusRepair = {
      copiesQueued: s.copiesQueued,
      copiesInFlight: s.copiesInFlight,
      copyBytesPerSec: s.copyBytesPerSec,
      etaSeconds: missingCopies === 0 ? 0 : s.copyBytesPerSec > 0 ? Math.ceil((missingCopies * chunkBytesAvg) / s.copyBytesPerSec) : null,
    };
    return {
      health,
      leader: st.leader,
      meta,
      chunkServers,
      chunks,
      raft: { term: st.term, commit: st.commit, applied: st.applied },
      metaDetail,
      chunkServerDetail,
      totals,
      repair,
    };
  }

  /** Capacity and free space count each disk once (servers on one disk report the same id; an unknown disk is the server's own). */
  private totals(servers: Status['chunkServers'], detail: Record<string, ChunkServerDetail>, voters: number, ns: NamespaceTotals): StatusTotals {
    const disks = new Map<string, { capacity: number; free: number }>();
    let used = 0;
    for (const srv of servers) {
      // A dead server's replicas are not counted: repair is making them again elsewhere.
      if (srv.state === 'dead') continue;
      used += srv.used;
      const d = detail[srv.id]!;
      disks.set(d.disk === null ? `server:${srv.id}` : `disk:${d.disk}`, { capacity: srv.capacity, free: d.free });
    }
    let capacity = 0;
    let free = 0;
    for (const d of disks.values()) {
      capacity += d.capacity;
      free += d.free;
    }
    return { files: ns.files, dirs: ns.dirs, bytes: ns.bytes, rawBytes: used + ns.inlineBytes * voters, capacity, free };
  }

  /**
   * The chunk census: one pass over the chunk index, each chunk's live holders from the term's
   * registry. Calls that arrive while a pass runs share it, and its result stands for 4 × the
   * time the pass took: on a small index that is a few milliseconds (status pollers see every
   * change at once), on millions of chunks seconds, so a status poller, however frequent, keeps
   * the leader counting at most a fifth of its time.
   */
  private async chunkCounts(t: LeaderTerm): Promise<ChunkCounts> {
    const cached = this.chunkCache;
    if (cached && cached.term === t && this.c.clock.nowMs() - cached.atMs < 4 * cached.tookMs) return cached;
    if (this.chunkCounting?.term !== t) {
      const counts = this.countChunks(t).finally(() => {
        if (this.chunkCounting?.term === t) this.chunkCounting = null;
      });
      this.chunkCounting = { term: t, counts };
    }
    return this.chunkCounting.counts;
  }

  private async countChunks(t: LeaderTerm): Promise<ChunkCounts> {
    const reg = t.registry;
    const t0 = this.c.clock.nowMs();
    const n: ChunkCounts = { total: 0, underReplicated: 0, lost: 0, missingCopies: 0 };
    // Liveness as of the pass's start, for every chunk alike.
    const now = t0;
    await this.pass(CHUNK_PREFIX, CHUNK_PREFIX_END, (key) => {
      n.total++;
      const id = key.slice(CHUNK_PREFIX.length);
      const live = reg.locations(id).filter((s) => reg.isAlive(s, now)).length;
      if (live === 0) n.lost++;
      else if (live < this.replicas) {
        n.underReplicated++;
        n.missingCopies += this.replicas - live;
      }
    });
    const atMs = this.c.clock.nowMs();
    this.chunkCache = { ...n, term: t, atMs, tookMs: atMs - t0 };
    return n;
  }

  /**
   * Files, directories (the root not counted) and bytes of the namespace: one pass over the inode
   * records, reused while nothing was applied since, and while writes go on for totalsCacheMs or
   * 4 × the last pass, whichever is longer (so the figures lag the namespace by about that long).
   */
  private async namespace(applied: number): Promise<NamespaceTotals> {
    const cached = this.namespaceCache;
    if (cached && (cached.applied === applied || this.c.clock.nowMs() - cached.atMs < Math.max(this.totalsCacheMs, 4 * cached.tookMs))) return cached;
    this.counting ??= this.countNamespace(applied).finally(() => (this.counting = null));
    return this.counting;
  }

  private async countNamespace(applied: number): Promise<NamespaceTotals> {
    const t0 = this.c.clock.nowMs();
    const n: NamespaceTotals = { files: 0, dirs: 0, bytes: 0, inlineBytes: 0 };
    await this.pass(INODE_PREFIX, INODE_PREFIX_END, (key, value) => {
      const rec = summarizeInode(value);
      if (rec.type === 'dir') {
        if (key !== ROOT_KEY) n.dirs++;
        return;
      }
      n.files++;
      n.bytes += rec.size;
      if (rec.inline) n.inlineBytes += rec.size;
    });
    const atMs = this.c.clock.nowMs();
    this.namespaceCache = { ...n, atMs, applied, tookMs: atMs - t0 };
    return n;
  }

  /** Visit every pair in [start, end), SCAN_SLICE_KEYS at a time, the event loop running between slices. */
  private async pass(start: string, end: string, visit: (key: string, value: Uint8Array) => void): Promise<void> {
    let from = start;
    for (;;) {
      let seen = 0;
      let last = '';
      for (const [key, value] of this.c.view.range(from, end, SCAN_SLICE_KEYS)) {
        visit(key, value);
        last = key;
        seen++;
      }
      if (seen < SCAN_SLICE_KEYS) return;
      from = `${last}\u0000`;
      await new Promise<void>((resolve) => this.c.timers.setTimeout(resolve, 0));
    }
  }
}

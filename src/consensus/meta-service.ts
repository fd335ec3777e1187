/**
 * The metadata service: the RPC that clients and chunk servers call on the metadata leader,
 * over the replicated state (namespace + cluster map, MetaStateMachine) and the leader's soft
 * state (ChunkRegistry: liveness, chunk locations).
 *
 * Every call is served by the leader; a follower answers NotLeader with a hint, which
 * client/meta-session.ts follows. Reads are linearizable (ReadIndex before reading). Writes go
 * through Raft carrying the client's s = [client, seq, ackedBelow], so a retry after a leader
 * change returns the first outcome. The leader stamps wall time into each command (mtime,
 * session age), so replicas apply identical commands.
 *
 * Client methods (client token):
 *   fs.stat {path}                      → {path, type, size, mtime, etag, chunks:[{id,size,crc,replicas}]}
 *   fs.list {path, limit?, cursor?}     → {entries:[{name,path,type,size,mtime}], cursor}
 *   fs.walk {path, limit?, cursor?}     → the same, recursive (ls -R), paths relative to the walk
 *   fs.mkdir {path, parents, s}         → {}
 *   fs.rm {path, recursive, s}          → {}
 *   fs.mv {from, to, s}                 → {}
 *   fs.alloc {count, exclude?}          → {chunkSize, chunks:[{id, targets:[{id, addr, token}]}]}  placement of new chunks
 *                                          (chunkSize: the cluster's default chunk size for writers)
 *   fs.retarget {id, exclude}           → {targets:[…]}  replacements for failed targets of one chunk
 *   fs.commit {path, size, etag, chunks:[[id,size,crc]…], overwrite, parents, s} → {path, size, etag, mtime}
 *   fs.open {path, first?, count?}      → {size, etag, mtime, total, chunks:[{id,size,crc,offset,replicas:[{id,addr}],token}]}
 *   fs.bad {id, server}                 → {}  a reader found a corrupt or missing replica
 *   cluster.status                      → the `cairn status --json` object
 *   fs.statLocal {paths}                → {applied, types:[type|null…]}  THIS server's committed state,
 *                                          possibly stale (tests compare replicas with it)
 * Service methods (cluster secret; the caller's id is the chunk server id):
 *   cs.register {addr, zone, capacityBytes} → {ringVersion}
 *   cs.heartbeat {usedBytes, capacityBytes, freeBytes, chunks, full, copyFailed?, copiedBytes?, repairIdle?} → {needReport, registered, commands}
 *                                       (copyFailed: repair copies that failed from every source)
 *   cs.reportBegin {report} · cs.reportPage {report, ids} · cs.reportEnd {report} → {}
 *   cs.update {added, removed}          → {commands}
 *   cs.work {waitMs}                    → {commands}  long poll: answered as soon as the leader has
 *                                          work for the caller, or with none after waitMs (≤ 30 s)
 * Repair (repair-scheduler.ts): the answers of cs.heartbeat, cs.update and cs.work carry `commands`, work for that server:
 *   {op:'copy', id, sources:[{id, addr}], token} (read token for the sources) · {op:'delete', id}.
 * Operator methods (client token):
 *   cluster.drain {id}                  → {}  move every replica off a server (ring state draining)
 *   cluster.remove {id, force?}         → {}  forget a server; PreconditionFailed while it holds the
 *                                          only live copy of any chunk, or (unless force) while a
 *                                          chunk it holds has < R live copies elsewhere
 *   cluster.repair                      → repair progress (RepairStats), ready, reportsPending (live
 *                                          chunk servers whose full report this leader lacks)
 */
import type { Clock, Timers } from '../env/clock.js';
import { ChunkRegistry } from '../meta/chunk-registry.js';
import { listServers, readRing, RING_KEY, type ClusterCommand, type ClusterResult, type ServerRecord } from '../meta/cluster-map.js';
import { encodeMetaCommand, ETAG_BYTES_MAX, FILE_CHUNKS_MAX, type MetaCommand } from '../meta/meta-command.js';
import { CHUNK_PREFIX, type ChunkRef, type MetaReadView } from '../meta/namespace-keys.js';
import type { Outcome } from '../meta/namespace.js';
import { PATH_BYTES_MAX } from '../proto/path.js';
import { CLIENT_ID_RE, type SessionHeader } from '../meta/session.js';
import { preferenceList, readOrder, Ring } from '../placement/index.js';
import { body, bool, int, optInt, optStr, str, strArray, type Body } from '../proto/fields.js';
import { isChunkId } from '../util/chunk-id.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { MetaStateMachine } from './meta-state-machine.js';
import type { RaftRuntime } from './raft-runtime.js';
import { RepairScheduler, type RepairSchedulerOptions, type RepairTask } from './repair-scheduler.js';

export const META_SERVICE_METHODS = [
  'fs.stat',
  'fs.list',
  'fs.walk',
  'fs.mkdir',
  'fs.rm',
  'fs.mv',
  'fs.alloc',
  'fs.retarget',
  'fs.commit',
  'fs.open',
  'fs.bad',
  'cluster.status',
  'fs.statLocal',
  'cs.register',
  'cs.heartbeat',
  'cs.reportBegin',
  'cs.reportPage',
  'cs.reportEnd',
  'cs.update',
  'cs.work',
  'raft.status',
  'cluster.drain',
  'cluster.remove',
  'cluster.repair',
] as const;

export interface MetaServiceComponents {
  runtime: RaftRuntime;
  machine: MetaStateMachine;
  /** Committed state (cluster map, chunk index). */
  view: MetaReadView;
  /** Monotonic time for liveness. */
  clock: Clock;
  /** Wall time for mtimes, session ages and token expiry. */
  wallMs: () => number;
  timers: Timers;
  randomBytes: (n: number) => Uint8Array;
  tokens: { signFor(op: 'read' | 'write' | 'delete' | 'copy', chunkId: string, ttlMs: number): string };
  logger: Logger;
}

export interface MetaServiceOptions {
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
  /** Repair and garbage collection (leader only). */
  repair?: RepairSchedulerOptions;
  /** How often the leader plans repair. @default 1000 */
  repairScanMs?: number;
}

export interface Caller {
  role: 'client' | 'service';
  id?: string;
}

const ALLOC_CHUNKS_MAX = 64;
const STAT_LOCAL_PATHS_MAX = 10_000;
const SERVER_CACHE_MS = 1000;
const OPEN_CHUNKS_MAX = 10_000;
const REPORT_PAGE_IDS_MAX = 10_000;
const ADDR_CHARS_MAX = 300;
const ZONE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const CAPACITY_BYTES_MAX = 2 ** 53 - 1;
/** Longest a cs.work poll is held. */
export const WORK_WAIT_MS_MAX = 30_000;

interface Target {
  id: string;
  addr: string;
  token: string;
}

export class MetaService {
  private readonly c: MetaServiceComponents;
  private readonly replicas: number;
  private readonly deadAfterMs: number;
  private readonly tokenTtlMs: number;
  private readonly tickMs: number;
  private readonly chunkSizeBytes: number;
  private reg: { term: number; registry: ChunkRegistry; repair: RepairScheduler } | null = null;
  private readonly repairOptions: RepairSchedulerOptions;
  private readonly repairScanMs: number;
  private lastRepairScanMs = Number.NEGATIVE_INFINITY;
  /** The ring built from the committed layout bytes it came from (building costs ms). */
  private ringCache: { bytes: Uint8Array | undefined; ring: Ring } | null = null;
  private serverCache: { ring: Ring; atMs: number; servers: Map<string, ServerRecord> } | null = null;
  private ticker: { cancel(): void } | null = null;
  /** Liveness verdicts proposed and not yet applied, by server (one at a time each). */
  private readonly verdicts = new Set<string>();
  /** Chunk servers' cs.work polls held until there is work for them (one per server). */
  private readonly workWaiters = new Map<string, { resolve(v: unknown): void; timer: { cancel(): void }; signal: AbortSignal | undefined; onAbort: () => void }>();

  constructor(c: MetaServiceComponents, o: MetaServiceOptions) {
    this.c = c;
    this.replicas = o.replicas;
    this.deadAfterMs = o.deadAfterMs;
    this.tokenTtlMs = o.tokenTtlMs ?? 3_600_000;
    this.tickMs = o.tickMs ?? 500;
    this.chunkSizeBytes = o.chunkSizeBytes ?? 8 * 1024 * 1024;
    this.repairOptions = o.repair ?? {};
    this.repairScanMs = o.repairScanMs ?? 1000;
  }

  start(): void {
    this.ticker = this.c.timers.setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    this.ticker?.cancel();
    this.ticker = null;
    for (const id of [...this.workWaiters.keys()]) this.releaseWaiter(id);
  }

  /** The RPC handler (net/NetServer). */
  handle = async (method: string, raw: unknown, caller: Caller, signal?: AbortSignal): Promise<unknown> => {
    const b = body(raw);
    if (method.startsWith('cs.')) {
      if (caller.role !== 'service' || caller.id === undefined) throw new CairnError('Unauthorized', `${method} is for chunk servers`);
      return this.serviceCall(method, b, caller.id, signal);
    }
    switch (method) {
      case 'fs.stat':
        return this.stat(b);
      case 'fs.list':
      case 'fs.walk':
        return this.list(b, method === 'fs.walk');
      case 'fs.mkdir':
        await this.proposeNs({ op: 'mkdir', path: path(b, 'path'), parents: bool(b, 'parents'), session: session(b), nowMs: this.c.wallMs() });
        return {};
      case 'fs.rm':
        await this.proposeNs({ op: 'delete', path: path(b, 'path'), recursive: bool(b, 'recursive'), session: session(b), nowMs: this.c.wallMs() });
        return {};
      case 'fs.mv':
        await this.proposeNs({ op: 'rename', from: path(b, 'from'), to: path(b, 'to'), session: session(b), nowMs: this.c.wallMs() });
        return {};
      case 'fs.alloc':
        return this.alloc(b);
      case 'fs.retarget':
        return this.retarget(b);
      case 'fs.commit':
        return this.commit(b);
      case 'fs.open':
        return this.open(b);
      case 'fs.bad': {
        const id = chunkId(b, 'id');
        const server = str(b, 'server', 64);
        this.registry().markBad(server, id);
        this.c.logger.warn('replica reported bad', { chunk: id, server });
        return {};
      }
      case 'cluster.status':
        return this.status();
      case 'cluster.drain': {
        const id = str(b, 'id', 64);
        this.requireLeader();
        if (!this.ring().server(id)) throw new CairnError('NotFound', `no chunk server ${id}`);
        await this.proposeCluster({ op: 'set-state', id, state: 'draining' });
        this.c.logger.info('chunk server draining', { id });
        return {};
      }
      case 'cluster.remove':
        return this.removeServer(str(b, 'id', 64), bool(b, 'force'));
      case 'cluster.repair':
        this.requireLeader();
        this.registry();
        return { ...this.reg!.repair.stats, ready: this.repairReady(), reportsPending: this.reportsPending() };
      case 'raft.status':
        return this.c.runtime.status();
      case 'fs.statLocal': {
        const paths = strArray(b, 'paths', STAT_LOCAL_PATHS_MAX, (s) => s.length > 0 && s.length <= PATH_BYTES_MAX);
        return {
          applied: this.c.machine.appliedIndex(),
          types: paths.map((p) => {
            const r = this.c.machine.stat(p);
            return r.ok ? r.stat.type : null;
          }),
        };
      }
      default:
        throw new CairnError('InvalidArgument', `unknown method ${method}`);
    }
  };

  // ---- namespace ------------------------------------------------------------------------------

  private async proposeNs(cmd: MetaCommand): Promise<Record<string, unknown>> {
    const out = (await this.c.runtime.propose(encodeMetaCommand(cmd))) as Outcome | undefined;
    if (!out) throw new CairnError('Internal', 'no result from the state machine');
    if (!out.ok) throw new CairnError(out.code, out.message);
    return out as Record<string, unknown>;
  }

  private async stat(b: Body): Promise<unknown> {
    const p = path(b, 'path');
    await this.c.runtime.linearizableRead();
    const st = unwrap(this.c.machine.stat(p)).stat;
    const reg = this.registryIfLeader();
    const now = this.c.clock.nowMs();
    return {
      path: p,
      type: st.type,
      size: st.size,
      mtime: st.mtime,
      etag: st.etag,
      chunks: st.chunks.map((ch) => ({ id: ch.id, size: ch.size, crc: ch.crc, replicas: reg ? reg.locations(ch.id).filter((s) => reg.isAlive(s, now)) : [] })),
    };
  }

  private async list(b: Body, recursive: boolean): Promise<unknown> {
    const p = path(b, 'path');
    const limit = optInt(b, 'limit', 1, 10_000);
    const cursor = optStr(b, 'cursor', 16 * PATH_BYTES_MAX);
    await this.c.runtime.linearizableRead();
    const opts = { ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) };
    if (recursive) {
      const r = unwrap(this.c.machine.walk(p, opts));
      return { entries: r.entries.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime })), cursor: r.cursor };
    }
    const r = unwrap(this.c.machine.list(p, opts));
    const base = p === '/' ? '' : p;
    return { entries: r.entries.map((e) => ({ name: e.name, path: `${base}/${e.name}`, type: e.type, size: e.size, mtime: e.mtime })), cursor: r.cursor };
  }

  private async commit(b: Body): Promise<unknown> {
    const p = path(b, 'path');
    const size = int(b, 'size');
    const etag = str(b, 'etag', ETAG_BYTES_MAX);
    const raw = b.chunks;
    if (!Array.isArray(raw) || raw.length > FILE_CHUNKS_MAX) throw new CairnError('InvalidArgument', `chunks must be an array of at most ${FILE_CHUNKS_MAX}`);
    const chunks: ChunkRef[] = raw.map((c: unknown) => {
      if (!Array.isArray(c) || c.length !== 3) throw new CairnError('InvalidArgument', 'each chunk is [id, size, crc]');
      const [id, sz, crc] = c as unknown[];
      if (!isChunkId(id)) throw new CairnError('InvalidArgument', 'bad chunk id');
      if (typeof sz !== 'number' || !Number.isSafeInteger(sz) || sz < 0) throw new CairnError('InvalidArgument', 'bad chunk size');
      if (typeof crc !== 'number' || !Number.isSafeInteger(crc) || crc < 0 || crc > 0xffffffff) throw new CairnError('InvalidArgument', 'bad chunk crc');
      return { id, size: sz, crc };
    });
    const nowMs = this.c.wallMs();
    await this.proposeNs({
      op: 'commitFile',
      path: p,
      file: { size, etag, chunks },
      overwrite: bool(b, 'overwrite'),
      createParents: bool(b, 'parents', true),
      session: session(b),
      nowMs,
    });
    return { path: p, size, etag, mtime: nowMs };
  }

  private async open(b: Body): Promise<unknown> {
    const p = path(b, 'path');
    const first = optInt(b, 'first') ?? 0;
    const count = optInt(b, 'count', 1, OPEN_CHUNKS_MAX) ?? OPEN_CHUNKS_MAX;
    await this.c.runtime.linearizableRead();
    const st = unwrap(this.c.machine.stat(p)).stat;
    if (st.type !== 'file') throw new CairnError('IsADirectory', `${p} is a directory`);
    const ring = this.ring();
    const servers = this.serverAddrs();
    const reg = this.registryIfLeader();
    const now = this.c.clock.nowMs();
    let offset = 0;
    for (let i = 0; i < Math.min(first, st.chunks.length); i++) offset += st.chunks[i]!.size;
    const chunks = st.chunks.slice(first, first + count).map((ch) => {
      const known = reg ? reg.locations(ch.id).filter((s) => reg.isAlive(s, now)) : [];
      // Ring order first (the copies placement put there), then any other verified copy; with no
      // reports yet (a new leader), the ring's guess.
      const order = readOrder(ring, ch.id, this.replicas);
      const replicas = known.length > 0 ? [...order.filter((s) => known.includes(s)), ...known.filter((s) => !order.includes(s))] : order;
      const out = {
        id: ch.id,
        size: ch.size,
        crc: ch.crc,
        offset,
        replicas: replicas.filter((s) => servers.has(s)).map((s) => ({ id: s, addr: servers.get(s)!.addr })),
        token: this.c.tokens.signFor('read', ch.id, this.tokenTtlMs),
      };
      offset += ch.size;
      return out;
    });
    return { size: st.size, etag: st.etag, mtime: st.mtime, total: st.chunks.length, chunks };
  }

  // ---- placement ------------------------------------------------------------------------------

  private alloc(b: Body): unknown {
    const count = int(b, 'count', 1, ALLOC_CHUNKS_MAX);
    const exclude = new Set(strArray(b, 'exclude', 256, (s) => s.length <= 64));
    this.requireLeader();
    const chunks = [];
    for (let i = 0; i < count; i++) {
      const id = Buffer.from(this.c.randomBytes(16)).toString('hex');
      chunks.push({ id, targets: this.targets(id, exclude) });
    }
    return { chunkSize: this.chunkSizeBytes, chunks };
  }

  private retarget(b: Body): unknown {
    const id = chunkId(b, 'id');
    const exclude = new Set(strArray(b, 'exclude', 256, (s) => s.length <= 64));
    this.requireLeader();
    return { targets: this.targets(id, exclude) };
  }

  /** The first R up, alive, not-full servers in the chunk's ring order, minus `exclude`. */
  private targets(id: string, exclude: ReadonlySet<string>): Target[] {
    const ring = this.ring();
    const reg = this.registry();
    const servers = this.serverAddrs();
    const now = this.c.clock.nowMs();
    const out: Target[] = [];
    for (const s of preferenceList(ring, id)) {
      if (out.length >= this.replicas) break;
      const rec = servers.get(s);
      if (exclude.has(s) || !rec || !reg.isAlive(s, now) || reg.load(s)?.full) continue;
      out.push({ id: s, addr: rec.addr, token: this.c.tokens.signFor('write', id, this.tokenTtlMs) });
    }
    if (out.length === 0)
      throw new CairnError('NoSpace', exclude.size > 0 ? `no live chunk server with free space outside the ${exclude.size} excluded (${[...exclude].sort().slice(0, 8).join(',')}${exclude.size > 8 ? ',…' : ''}) can take chunk ${id}` : 'no live chunk server with free space can take a new chunk');
    return out;
  }

  private ring(): Ring {
    const bytes = this.c.view.get(RING_KEY);
    const cached = this.ringCache;
    if (cached && sameBytes(cached.bytes, bytes)) return cached.ring;
    const ring = readRing({ get: () => bytes });
    this.ringCache = { bytes, ring };
    return ring;
  }

  /**
   * Server records by id, re-read at most every SERVER_CACHE_MS (and whenever the ring changed):
   * they change only on registration, and placement asks for them on every write.
   */
  private serverAddrs(): Map<string, ServerRecord> {
    const ring = this.ring();
    const now = this.c.clock.nowMs();
    const cached = this.serverCache;
    if (cached && cached.ring === ring && now - cached.atMs < SERVER_CACHE_MS) return cached.servers;
    const servers = new Map(listServers(this.c.view).map((s) => [s.id, s]));
    this.serverCache = { ring, atMs: now, servers };
    return servers;
  }

  // ---- chunk servers ----------------------------------------------------------------------------

  private async serviceCall(method: string, b: Body, id: string, signal: AbortSignal | undefined): Promise<unknown> {
    switch (method) {
      case 'cs.register': {
        const addr = str(b, 'addr', ADDR_CHARS_MAX);
        const zone = str(b, 'zone', 64);
        if (!ZONE_RE.test(zone)) throw new CairnError('InvalidArgument', 'zone must match [A-Za-z0-9._-]{1,64}');
        const capacityBytes = int(b, 'capacityBytes', 0, CAPACITY_BYTES_MAX);
        const r = await this.proposeCluster({ op: 'register', id, addr, zone, capacityBytes, nowMs: this.c.wallMs() });
        this.registry().heartbeat(id, { usedBytes: 0, capacityBytes, freeBytes: capacityBytes, chunks: 0, full: false }, this.c.clock.nowMs());
        // A server registers when its process starts: repair work handed to an earlier one is lost.
        this.reg!.repair.restarted(id);
        this.c.logger.info('chunk server registered', { id, addr, zone, ringVersion: r.version });
        return { ringVersion: r.version };
      }
      case 'cs.heartbeat': {
        const load = {
          usedBytes: int(b, 'usedBytes'),
          capacityBytes: int(b, 'capacityBytes'),
          freeBytes: int(b, 'freeBytes'),
          chunks: int(b, 'chunks'),
          full: bool(b, 'full'),
        };
        const reg = this.registry();
        const now = this.c.clock.nowMs();
        reg.heartbeat(id, load, now);
        const s = this.ring().server(id);
        if (s?.state === 'dead') this.verdict(id, 'up');
        if (b.copyFailed !== undefined) this.reg!.repair.failed(id, strArray(b, 'copyFailed', 1000, isChunkId));
        if (b.copiedBytes !== undefined) this.reg!.repair.copyProgress(id, int(b, 'copiedBytes'), now);
        // Nothing queued or running there: work handed out a while ago never arrived (or was dropped).
        if (b.repairIdle !== undefined && bool(b, 'repairIdle')) this.reg!.repair.idle(id, now);
        return { needReport: !reg.hasReported(id), registered: s !== undefined, commands: this.takeCommands(id, now) };
      }
      case 'cs.reportBegin':
        this.registry().beginReport(id, int(b, 'report'), this.c.clock.nowMs());
        return {};
      case 'cs.reportPage':
        this.registry().reportPage(id, int(b, 'report'), strArray(b, 'ids', REPORT_PAGE_IDS_MAX, isChunkId));
        return {};
      case 'cs.reportEnd':
        return { dropped: this.registry().endReport(id, int(b, 'report')).length };
      case 'cs.update': {
        const added = strArray(b, 'added', REPORT_PAGE_IDS_MAX, isChunkId);
        this.registry().update(id, added, strArray(b, 'removed', REPORT_PAGE_IDS_MAX, isChunkId));
        this.reg!.repair.confirm(id, added);
        // A finished copy frees a slot: hand out the next work now rather than at the next heartbeat.
        return { commands: this.takeCommands(id, this.c.clock.nowMs()) };
      }
      case 'cs.work': {
        const waitMs = int(b, 'waitMs', 0, WORK_WAIT_MS_MAX);
        this.requireLeader(); // a follower never holds a poll: NotLeader sends the server to the leader
        const commands = this.takeCommands(id, this.c.clock.nowMs());
        if (commands.length > 0 || waitMs === 0) return { commands };
        return this.waitForWork(id, waitMs, signal);
      }
      default:
        throw new CairnError('InvalidArgument', `unknown method ${method}`);
    }
  }

  /**
   * Hold a chunk server's cs.work poll until a repair scan queues work for it (then it starts at
   * once instead of at its next heartbeat, up to a heartbeat later), or until waitMs passes. A
   * newer poll from the same server replaces this one (answered with no work); a poll whose
   * connection closed is dropped without handing anything out.
   */
  private waitForWork(id: string, waitMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    this.releaseWaiter(id);
    if (signal?.aborted) return Promise.resolve({ commands: [] });
    return new Promise((resolve) => {
      const timer = this.c.timers.setTimeout(() => this.releaseWaiter(id), waitMs);
      const onAbort = (): void => this.releaseWaiter(id);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.workWaiters.set(id, { resolve, timer, signal, onAbort });
    });
  }

  private releaseWaiter(id: string, commands: unknown[] = []): void {
    const w = this.workWaiters.get(id);
    if (!w) return;
    this.workWaiters.delete(id);
    w.timer.cancel();
    w.signal?.removeEventListener('abort', w.onAbort);
    w.resolve({ commands });
  }

  /** After a scan: answer every held poll whose server now has work. */
  private wakeWaiters(now: number): void {
    // (A poll whose connection closed was released by its abort listener already.)
    for (const id of [...this.workWaiters.keys()]) {
      const commands = this.takeCommands(id, now);
      if (commands.length > 0) this.releaseWaiter(id, commands);
    }
  }

  /** Repair work for a chunk server that is in the map and has sent this leader its full report. */
  private takeCommands(id: string, nowMs: number): unknown[] {
    if (!this.ring().server(id) || !this.registry().hasReported(id)) return [];
    return this.reg!.repair.take(id, nowMs).map((t) => this.commandOf(t));
  }

  private async proposeCluster(cmd: ClusterCommand): Promise<Extract<ClusterResult, { ok: true }>> {
    const out = (await this.c.runtime.propose(encodeMetaCommand({ op: 'cluster', cluster: cmd, nowMs: this.c.wallMs() }))) as ClusterResult | undefined;
    if (!out) throw new CairnError('Internal', 'no result from the state machine');
    if (!out.ok) throw new CairnError(out.code, out.message);
    return out;
  }

  /** Commit a liveness verdict unless one for this server is already on its way. */
  private verdict(id: string, state: 'up' | 'dead'): void {
    if (this.verdicts.has(id)) return;
    this.verdicts.add(id);
    const ifVersion = this.ring().version;
    this.proposeCluster({ op: 'set-state', id, state, ifVersion }).then(
      () => this.c.logger.info(state === 'dead' ? 'chunk server declared dead' : 'chunk server back', { id }),
      (err: unknown) => this.c.logger.debug('liveness verdict not applied', { id, state, err: (err as Error).message }),
    ).finally(() => this.verdicts.delete(id));
  }

  /** Leader housekeeping: servers silent past deadAfterMs are declared dead through Raft; repair is planned. */
  private tick(): void {
    if (!this.c.runtime.isLeader()) {
      this.reg = null;
      // Polls held while leader: answered now, so their servers find the new leader.
      for (const id of [...this.workWaiters.keys()]) this.releaseWaiter(id);
      return;
    }
    const reg = this.registry();
    const now = this.c.clock.nowMs();
    let silent = false;
    for (const s of this.ring().servers) {
      if (s.state !== 'dead' && !reg.isAlive(s.id, now)) {
        this.verdict(s.id, 'dead');
        silent = true;
      }
    }
    // A server just fell silent: plan its copies now, not at the next periodic scan.
    if ((silent || now - this.lastRepairScanMs >= this.repairScanMs) && this.repairReady()) {
      this.lastRepairScanMs = now;
      this.scanRepair(now);
      this.wakeWaiters(now);
    }
  }

  /** Every live chunk server has sent this leader a full report (its location map is complete). */
  private repairReady(): boolean {
    return this.reportsPending().length === 0;
  }

  /** Live chunk servers whose full report this leader has not had yet (sorted ids). */
  private reportsPending(): string[] {
    const reg = this.registry();
    const now = this.c.clock.nowMs();
    return this.ring()
      .servers.filter((s) => reg.isAlive(s.id, now) && !reg.hasReported(s.id))
      .map((s) => s.id)
      .sort();
  }

  private scanRepair(now: number): void {
    const reg = this.registry();
    const ring = this.ring();
    const view = this.c.view;
    const end = CHUNK_PREFIX.slice(0, -1) + '0';
    this.reg!.repair.scan({
      view: {
        ring,
        replicas: this.replicas,
        isAlive: (s) => ring.server(s) !== undefined && reg.isAlive(s, now),
        isFull: (s) => reg.load(s)?.full ?? false,
        locations: (id) => reg.locations(id),
      },
      referenced: (function* () {
        for (const [key] of view.range(CHUNK_PREFIX, end)) yield key.slice(CHUNK_PREFIX.length);
      })(),
      isReferenced: (id) => view.get(CHUNK_PREFIX + id) !== undefined,
      located: reg.located(),
      nowMs: now,
    });
  }

  /** A repair task on the wire: copies carry where to read from and a read token. */
  private commandOf(t: RepairTask): unknown {
    if (t.op === 'delete') return { op: 'delete', id: t.id };
    const servers = this.serverAddrs();
    const sources = t.from.filter((s) => servers.has(s)).map((s) => ({ id: s, addr: servers.get(s)!.addr }));
    return { op: 'copy', id: t.id, sources, token: this.c.tokens.signFor('read', t.id, this.tokenTtlMs) };
  }

  /**
   * Forget a chunk server. Refused (PreconditionFailed) while it holds the only live verified
   * copy of a chunk referenced by a file — always, even with `force`; and, without `force`, while
   * any chunk it holds has fewer than R live verified copies on the other servers (removing it
   * now would leave that chunk under-replicated: drain it first and wait until it is empty, or
   * for a dead server, until repair has restored every chunk elsewhere).
   */
  private async removeServer(id: string, force: boolean): Promise<unknown> {
    this.requireLeader();
    if (!this.ring().server(id)) throw new CairnError('NotFound', `no chunk server ${id}`);
    const reg = this.registry();
    const now = this.c.clock.nowMs();
    let sole = 0;
    let short = 0;
    for (const c of reg.chunksOf(id)) {
      if (this.c.view.get(CHUNK_PREFIX + c) === undefined) continue; // garbage: nothing to keep
      const elsewhere = reg.locations(c).filter((s) => s !== id && reg.isAlive(s, now)).length;
      if (elsewhere === 0) sole++;
      else if (elsewhere < this.replicas) short++;
    }
    if (sole > 0) throw new CairnError('PreconditionFailed', `${id} still holds the only live copy of ${sole} chunk(s); drain it first and wait`);
    if (short > 0 && !force)
      throw new CairnError('PreconditionFailed', `${short} chunk(s) on ${id} have fewer than ${this.replicas} live copies elsewhere; drain it first and wait (or force)`);
    await this.proposeCluster({ op: 'remove', id });
    reg.forget(id);
    this.c.logger.info('chunk server removed', { id, force });
    return {};
  }

  // ---- status ---------------------------------------------------------------------------------

  private async status(): Promise<unknown> {
    await this.c.runtime.linearizableRead();
    const st = this.c.runtime.status();
    const reg = this.registry();
    const now = this.c.clock.nowMs();
    const learners = new Set(st.conf.learners);
    const meta = [...st.conf.voters, ...st.conf.learners].sort().map((id) => {
      let role: string;
      if (id === st.leader) role = 'leader';
      else if (learners.has(id)) role = 'learner';
      else role = st.progress?.[id]?.recentActive === false ? 'unreachable' : 'follower';
      return { id, addr: this.c.runtime.addrOf(id) ?? null, role };
    });
    const ring = this.ring();
    const chunkServers = listServers(this.c.view).map((rec) => {
      const rs = ring.server(rec.id);
      const alive = reg.isAlive(rec.id, now);
      const state = !alive || rs?.state === 'dead' ? 'dead' : rs?.state === 'draining' ? 'draining' : 'alive';
      const load = reg.load(rec.id);
      return { id: rec.id, addr: rec.addr, state, used: load?.usedBytes ?? 0, capacity: load?.capacityBytes ?? rec.capacityBytes, chunks: reg.chunkCount(rec.id) };
    });
    let total = 0;
    let underReplicated = 0;
    let lost = 0;
    for (const [key] of this.c.view.range(CHUNK_PREFIX, CHUNK_PREFIX.slice(0, -1) + '0')) {
      total++;
      const id = key.slice(CHUNK_PREFIX.length);
      const live = reg.locations(id).filter((s) => reg.isAlive(s, now)).length;
      if (live === 0) lost++;
      else if (live < this.replicas) underReplicated++;
    }
    return { leader: st.leader, meta, chunkServers, chunks: { total, underReplicated, lost } };
  }

  // ---- leader soft state ------------------------------------------------------------------------

  /** This leadership's registry (a new term starts an empty one); NotLeader on a follower. */
  private registry(): ChunkRegistry {
    const st = this.c.runtime.status();
    if (st.role !== 'leader') throw this.c.runtime.notLeader();
    if (!this.reg || this.reg.term !== st.term) {
      this.reg = {
        term: st.term,
        registry: new ChunkRegistry(this.c.clock.nowMs(), { deadAfterMs: this.deadAfterMs, reportPageChunksMax: REPORT_PAGE_IDS_MAX }),
        repair: new RepairScheduler(this.repairOptions),
      };
    }
    return this.reg.registry;
  }

  private registryIfLeader(): ChunkRegistry | null {
    return this.c.runtime.isLeader() ? this.registry() : null;
  }

  private requireLeader(): void {
    if (!this.c.runtime.isLeader()) throw this.c.runtime.notLeader();
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function unwrap<T extends object>(o: Outcome<T>): T {
  if (!o.ok) throw new CairnError(o.code, o.message);
  return o;
}

function path(b: Body, field: string): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > PATH_BYTES_MAX) throw new CairnError('InvalidPath', `${field} must be an absolute path of at most ${PATH_BYTES_MAX} bytes`);
  return v;
}

function chunkId(b: Body, field: string): string {
  const v = b[field];
  if (!isChunkId(v)) throw new CairnError('InvalidArgument', `${field} must be a chunk id (32 lowercase hex digits)`);
  return v;
}

/** s = [client, seq, ackedBelow]: the request id that makes retries apply once. */
function session(b: Body): SessionHeader {
  const s = b.s;
  if (!Array.isArray(s) || s.length !== 3) throw new CairnError('InvalidArgument', 's must be [client, seq, ackedBelow]');
  const [client, seq, ackedBelow] = s as unknown[];
  if (typeof client !== 'string' || !CLIENT_ID_RE.test(client)) throw new CairnError('InvalidArgument', 'bad client id');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new CairnError('InvalidArgument', 'bad seq');
  if (typeof ackedBelow !== 'number' || !Number.isSafeInteger(ackedBelow) || ackedBelow < 0 || ackedBelow > seq) throw new CairnError('InvalidArgument', 'bad ackedBelow');
  return { client, seq, ackedBelow };
}

/**
 * Namespace calls. Reads are linearizable (ReadIndex before reading); writes go through Raft
 * carrying the client's s = [client, seq, ackedBelow], so a retry after a leader change returns
 * the first outcome. The leader stamps wall time into each command (mtime, session age), so
 * replicas apply identical commands.
 *
 *   fs.stat {path}                  → {path, type, size, mtime, etag, chunks:[{id,size,crc,replicas}], attrs?, crc32c?}
 *                                     (crc32c: a file's whole CRC-32C, composed from its chunks' CRCs)
 *   fs.list {path, limit?, cursor?} → {entries:[{name,path,type,size,mtime}], cursor}
 *   fs.walk {path, limit?, cursor?} → the same, recursive (ls -R), paths relative to the walk
 *   fs.mkdir {path, parents, s} · fs.rm {path, recursive, s} · fs.mv {from, to, s} → {}
 *   fs.copy {from, to, overwrite, parents, s} → {path, size, etag, mtime}  server-side copy: the
 *                                     new file shares the source's chunks (one Raft entry, no bytes move)
 *   fs.concat {dir, names, to, overwrite, parents, attrs?, s} → {path, size, etag, mtime}  `to` made of the
 *                                     files dir/name in order, which go in the same entry (no bytes move)
 *   fs.commit {path, size, etag, chunks:[[id,size,crc]…], overwrite, parents, s, ringVersion?, attrs?} → {path, size, etag, mtime}
 *                                     (StaleRing when ringVersion is older than the ring: see commit())
 *   fs.put {path, data, crc, overwrite, parents, s, attrs?} → {path, size, etag, mtime}  a whole small file,
 *                                     committed inline (one Raft entry; see below)
 *   fs.open {path, first?, count?}  → {size, etag, mtime, total, chunks:[{id,size,crc,offset,replicas:[{id,addr}],token}], attrs?, crc32c?}
 *                                     (attrs: only when the file has attributes; crc32c: on a page from chunk 0)
 *                                     (+ inline: {data, crc}, total 0, no chunks, for an inline file)
 *   fs.bad {id, server}             → {}  a reader found a corrupt or missing replica (a hint: the
 *                                     server re-verifies it before it stops counting; see bad())
 *   fs.statLocal {paths}            → {applied, types:[type|null…]}  THIS server's committed state,
 *                                     possibly stale (tests compare replicas with it); any server answers
 *
 * Inline files (fs.put): a file of at most inlineBytesMax bytes (and at most one chunk) is kept
 * in its namespace entry, so Raft replicates it to every metadata server, each syncing it before
 * it counts toward the commit: its durability is the Raft log's, no chunk server holds it.
 * Over the threshold, or when the cluster's inline bytes would pass inlineTotalBytesMax, fs.put
 * is InlineRefused with detail {inlineBytesMax} and the client stores the file in chunks. The
 * cap is checked here against committed state (an early answer, no Raft entry) and again,
 * deterministically, when the entry is applied (the leader stamps its cap into the command).
 */
import type { Clock } from '../env/clock.js';
import type { MetaReadView } from '../meta/namespace-keys.js';
import { inlineUsage, type InlineUsage, type Outcome, type StatInfo } from '../meta/namespace.js';
import { hasTrash, TREE_DELETE_ENTRIES } from '../meta/namespace-trash.js';
import { hasOutcome } from '../meta/session.js';
import { readOrder } from '../placement/index.js';
import type { BadRequest, CommitRequest, ConcatRequest, CopyRequest, ListRequest, MkdirRequest, MvRequest, OpenRequest, PutRequest, RmRequest, StatLocalRequest, StatRequest } from '../proto/meta-requests.js';
import { INLINE_FILE_BYTES_MAX } from '../proto/meta-fields.js';
import { crc32c } from '../util/crc32c.js';
import { composeCrc32c } from '../util/crc32c-combine.js';
import { contentEtag } from '../util/content-etag.js';
import { inlineEtagOf } from '../util/inline-etag.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { LeaderRaft } from './leader-raft.js';
import type { LeaderTerms } from './leader-terms.js';
import type { NamespaceReader } from './namespace-reader.js';
import { proposeNamespace } from './proposals.js';
import type { TokenSigner } from './token-signer.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';

export interface NamespaceCallsComponents {
  raft: Pick<LeaderRaft, 'propose' | 'linearizableRead'>;
  namespace: NamespaceReader;
  /** Committed state (the inline usage counter). */
  view: Pick<MetaReadView, 'get'>;
  terms: LeaderTerms;
  /** Monotonic time for liveness. */
  clock: Clock;
  /** Wall time for mtimes and session ages. */
  wallMs: () => number;
  tokens: TokenSigner;
  logger: Logger;
}

export interface NamespaceCallsOptions {
  /** Replicas per chunk. */
  replicas: number;
  /** How long a chunk token stays valid. */
  tokenTtlMs: number;
  /** Largest inline file (fs.put), 0..INLINE_FILE_BYTES_MAX; 0: never inline. */
  inlineBytesMax: number;
  /** Cap on the inline bytes of the whole cluster. */
  inlineTotalBytesMax: number;
  /** The cluster's chunk size: an inline file is at most one chunk. */
  chunkSizeBytes: number;
}

export class NamespaceCalls {
  private readonly c: NamespaceCallsComponents;
  private readonly o: NamespaceCallsOptions;

  constructor(c: NamespaceCallsComponents, o: NamespaceCallsOptions) {
    if (!Number.isSafeInteger(o.inlineBytesMax) || o.inlineBytesMax < 0 || o.inlineBytesMax > INLINE_FILE_BYTES_MAX) {
      throw new CairnError('InvalidArgument', `inline bytes max must be 0..${INLINE_FILE_BYTES_MAX}`);
    }
    if (!Number.isSafeInteger(o.inlineTotalBytesMax) || o.inlineTotalBytesMax < 0) throw new CairnError('InvalidArgument', 'inline total bytes max must be a non-negative integer');
    this.c = c;
    this.o = o;
  }

  /** The largest file fs.put takes here: the inline threshold, at most one chunk. */
  get inlineBytesMax(): number {
    return Math.min(this.o.inlineBytesMax, this.o.chunkSizeBytes);
  }

  /** Inline files and bytes of the cluster (this server's committed state). */
  inlineUsage(): InlineUsage {
    return inlineUsage(this.c.view);
  }

  async stat(req: StatRequest): Promise<A['fs.stat']> {
    await this.c.raft.linearizableRead();
    const st = unwrap(this.c.namespace.stat(req.path)).stat;
    const reg = this.c.terms.current().registry;
    const now = this.c.clock.nowMs();
    return {
      path: req.path,
      type: st.type,
      size: st.size,
      mtime: st.mtime,
      etag: st.etag,
      chunks: st.chunks.map((ch) => ({ id: ch.id, size: ch.size, crc: ch.crc, replicas: reg.locations(ch.id).filter((s) => reg.isAlive(s, now)) })),
      ...(st.attrs ? { attrs: st.attrs } : {}),
      ...(st.type === 'file' ? { crc32c: wholeCrc(st) } : {}),
    };
  }

  async list(req: ListRequest, recursive: boolean): Promise<A['fs.list']> {
    await this.c.raft.linearizableRead();
    const opts = { ...(req.limit === undefined ? {} : { limit: req.limit }), ...(req.cursor === undefined ? {} : { cursor: req.cursor }) };
    if (recursive) {
      const r = unwrap(this.c.namespace.walk(req.path, opts));
      return { entries: r.entries.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime })), cursor: r.cursor };
    }
    const r = unwrap(this.c.namespace.list(req.path, opts));
    // A file lists as itself (its path is req.path); a directory holding one file of its own
    // name looks the same, so that rare shape is told apart by a stat of the same state.
    const only = r.entries.length === 1 && r.cursor === null ? r.entries[0]! : null;
    const self = only !== null && only.type === 'file' && req.path.endsWith(`/${only.name}`) ? this.c.namespace.stat(req.path) : null;
    const listsItself = self !== null && self.ok && self.stat.type === 'file';
    const base = listsItself ? req.path.slice(0, -only!.name.length - 1) : req.path === '/' ? '' : req.path;
    return { entries: r.entries.map((e) => ({ name: e.name, path: `${base}/${e.name}`, type: e.type, size: e.size, mtime: e.mtime })), cursor: r.cursor };
  }

  async mkdir(req: MkdirRequest): Promise<A['fs.mkdir']> {
    await proposeNamespace(this.c.raft, { op: 'mkdir', path: req.path, parents: req.parents, session: req.s, nowMs: this.c.wallMs() });
    return {};
  }

  async rm(req: RmRequest): Promise<A['fs.rm']> {
    await proposeNamespace(this.c.raft, { op: 'delete', path: req.path, recursive: req.recursive, session: req.s, nowMs: this.c.wallMs() });
    return {};
  }

  async mv(req: MvRequest): Promise<A['fs.mv']> {
    await proposeNamespace(this.c.raft, { op: 'rename', from: req.from, to: req.to, session: req.s, nowMs: this.c.wallMs() });
    return {};
  }

  /**
   * The copy shares the source's chunks (meta/namespace-copy.ts); an inline source is copied
   * inline, under the cluster's inline cap stamped into the command as for fs.put.
   */
  async copy(req: CopyRequest): Promise<A['fs.copy']> {
    const nowMs = this.c.wallMs();
    const out = await proposeNamespace(this.c.raft, {
      op: 'copyFile',
      from: req.from,
      to: req.to,
      overwrite: req.overwrite,
      createParents: req.parents,
      inlineTotalBytesMax: this.o.inlineTotalBytesMax,
      session: req.s,
      nowMs,
    });
    return { path: req.to, size: out.size as number, etag: out.etag as string, mtime: nowMs };
  }

  /**
   * The new file's etag is contentEtag of the joined chunk list, computed here from the sources as
   * read now; the command carries each source's etag, so a source changed before it applies is
   * PreconditionFailed (meta/namespace-concat.ts). An inline source is refused here already.
   */
  async concat(req: ConcatRequest): Promise<A['fs.concat']> {
    await this.c.raft.linearizableRead();
    const parts: Array<{ size: number; crc: number }> = [];
    const sources = req.names.map((name) => {
      const path = `${req.dir === '/' ? '' : req.dir}/${name}`;
      const st = unwrap(this.c.namespace.stat(path)).stat;
      if (st.type !== 'file' || st.etag === null) throw new CairnError('IsADirectory', `is a directory: ${path}`);
      if (st.inline && st.size > 0) throw new CairnError('InlineRefused', `${path} is stored inline: its bytes are in no chunk to share`);
      for (const ch of st.chunks) parts.push({ size: ch.size, crc: ch.crc });
      return { name, etag: st.etag };
    });
    const size = parts.reduce((n, p) => n + p.size, 0);
    const etag = contentEtag(size, parts);
    const nowMs = this.c.wallMs();
    await proposeNamespace(this.c.raft, {
      op: 'concatFiles',
      to: req.to,
      dir: req.dir,
      sources,
      etag,
      overwrite: req.overwrite,
      createParents: req.parents,
      ...(req.attrs ? { attrs: req.attrs } : {}),
      session: req.s,
      nowMs,
    });
    return { path: req.to, size, etag, mtime: nowMs };
  }

  /**
   * StaleRing (detail {ringVersion}) when the client placed the chunks with a ring older than
   * the leader's (req.ringVersion, from fs.view). Refusing rather than accepting and reporting
   * the new version, because:
   * - the client must adopt the current ring before it places anything more (a ring change
   *   removes, drains or kills servers; until told, a client would go on placing by the old
   *   ring for as long as its grant lives), and
   * - it gets to check, before the file becomes visible, that every chunk still has a holder
   *   the new ring counts (client/file-writer.ts): a chunk whose every replica is on servers
   *   the ring no longer counts (removed, or declared dead) must not be acknowledged.
   * The chunks themselves are not re-placed: each is durable on every server that acknowledged
   * it, the leader learns those replicas from chunk reports like any other, and repair moves
   * them toward place(current ring) exactly as for files committed before the change.
   * Nothing is proposed, so the refusal costs no Raft entry. A retry of a commit that was
   * already applied skips the check (proposing it again returns its first outcome). A client
   * ring NEWER than the leader's (a new leader still applying) is accepted.
   */
  async commit(req: CommitRequest): Promise<A['fs.commit']> {
    const { path, size, etag, chunks } = req;
    if (req.ringVersion !== undefined) {
      const current = this.c.terms.current().cluster.ring().version;
      if (req.ringVersion < current && !hasOutcome(this.c.view, req.s)) {
        throw new CairnError('StaleRing', `${path}: chunks placed with ring version ${req.ringVersion}, the cluster's is ${current}`, { ringVersion: current });
      }
    }
    const nowMs = this.c.wallMs();
    await proposeNamespace(this.c.raft, {
      op: 'commitFile',
      path,
      file: { size, etag, chunks, ...(req.attrs ? { attrs: req.attrs } : {}) },
      overwrite: req.overwrite,
      createParents: req.parents,
      session: req.s,
      nowMs,
    });
    return { path, size, etag, mtime: nowMs };
  }

  async put(req: PutRequest): Promise<A['fs.put']> {
    const { path, data } = req;
    const max = this.inlineBytesMax;
    const refuse = (why: string): CairnError => new CairnError('InlineRefused', `${path} not stored inline: ${why}`, { inlineBytesMax: max });
    if (crc32c(data) !== req.crc) throw new CairnError('Corrupt', `fs.put of ${path}: the bytes fail their CRC-32C`);
    const cap = this.o.inlineTotalBytesMax;
    // A retry of an applied put skips the early refusals: proposing it again returns its first outcome.
    if (!hasOutcome(this.c.view, req.s)) {
      if (data.length > max) throw refuse(`${data.length} bytes is over the cluster's inline threshold of ${max}`);
      const used = this.inlineUsage().bytes;
      if (used + data.length > cap) throw refuse(`the cluster's inline files hold ${used} of at most ${cap} bytes`);
    }
    // The bytes passed their CRC above: the etag is made from it.
    const etag = inlineEtagOf(data.length, req.crc);
    const nowMs = this.c.wallMs();
    try {
      await proposeNamespace(this.c.raft, {
        op: 'putInline',
        path,
        etag,
        data,
        crc: req.crc,
        overwrite: req.overwrite,
        createParents: req.parents,
        inlineTotalBytesMax: cap,
        ...(req.attrs ? { attrs: req.attrs } : {}),
        session: req.s,
        nowMs,
      });
    } catch (e) {
      // Refused when applied (the cap): the same answer, with the threshold for the client.
      if (e instanceof CairnError && e.code === 'InlineRefused') throw refuse(e.message);
      throw e;
    }
    return { path, size: data.length, etag, mtime: nowMs };
  }

  async open(req: OpenRequest): Promise<A['fs.open']> {
    const { path, first, count } = req;
    await this.c.raft.linearizableRead();
    const st = unwrap(this.c.namespace.stat(path)).stat;
    if (st.type !== 'file') throw new CairnError('IsADirectory', `${path} is a directory`);
    if (st.inline) return { size: st.size, etag: st.etag, mtime: st.mtime, total: 0, chunks: [], inline: { data: st.inline.data, crc: st.inline.crc }, ...(st.attrs ? { attrs: st.attrs } : {}), crc32c: st.inline.crc };
    const t = this.c.terms.current();
    const ring = t.cluster.ring();
    const servers = t.cluster.servers();
    const reg = t.registry;
    const now = this.c.clock.nowMs();
    let offset = 0;
    for (let i = 0; i < Math.min(first, st.chunks.length); i++) offset += st.chunks[i]!.size;
    const chunks = st.chunks.slice(first, first + count).map((ch) => {
      const known = reg.locations(ch.id).filter((s) => reg.isAlive(s, now));
      // Ring order first (the copies placement put there), then any other verified copy; with no
      // reports yet (a new leader), the ring's guess.
      const order = readOrder(ring, ch.id, this.o.replicas);
      const replicas = known.length > 0 ? [...order.filter((s) => known.includes(s)), ...known.filter((s) => !order.includes(s))] : order;
      const out = {
        id: ch.id,
        size: ch.size,
        crc: ch.crc,
        offset,
        replicas: replicas.filter((s) => servers.has(s)).map((s) => ({ id: s, addr: servers.get(s)!.addr })),
        token: this.c.tokens.signFor('read', ch.id, this.o.tokenTtlMs),
      };
      offset += ch.size;
      return out;
    });
    return { size: st.size, etag: st.etag, mtime: st.mtime, total: st.chunks.length, chunks, ...(st.attrs ? { attrs: st.attrs } : {}), ...(first === 0 ? { crc32c: wholeCrc(st) } : {}) };
  }

  /**
   * A hint, not a verdict (ReplicaChecks): the replica keeps counting until its holder, asked to
   * re-verify it, reports it gone. `session` (the caller's connection) is what reports are
   * rate-limited by. Reports of a replica the leader does not count are ignored.
   */
  bad(req: BadRequest, session?: object): A['fs.bad'] {
    const t = this.c.terms.current();
    if (!t.registry.locations(req.id).includes(req.server)) return {};
    const outcome = t.checks.report(req.server, req.id, session, this.c.clock.nowMs());
    if (outcome !== 'queued') return {};
    this.c.logger.warn('replica reported bad; asking its server to verify it', { chunk: req.id, server: req.server });
    // A server waiting in a work poll checks now rather than at its next heartbeat.
    if (t.polls.servers().includes(req.server)) t.polls.release(req.server, t.checks.commandsFor(req.server));
    return {};
  }

  statLocal(req: StatLocalRequest): A['fs.statLocal'] {
    return {
      applied: this.c.namespace.appliedIndex(),
      types: req.paths.map((p) => {
        const r = this.c.namespace.stat(p);
        return r.ok ? r.stat.type : null;
      }),
    };
  }
}

/** A file's CRC-32C: an inline file's own, else composed from its chunks' (O(chunks), no data read). */
function wholeCrc(st: StatInfo): number {
  return st.inline ? st.inline.crc : composeCrc32c(st.chunks);
}

function unwrap<T extends object>(o: Outcome<T>): T {
  if (!o.ok) throw new CairnError(o.code, o.message);
  return o;
}

export interface TrashPurgerComponents {
  raft: Pick<LeaderRaft, 'propose' | 'isLeader'>;
  /** Committed state. */
  view: MetaReadView;
  wallMs: () => number;
  logger: Logger;
}

/**
 * Empties the namespace's trash (meta/namespace-trash.ts): while it holds anything, the leader
 * proposes purgeTrash commands one after another, each deleting at most TREE_DELETE_ENTRIES
 * entries, so no single apply holds the members for long. Started from the leader's tick; a
 * leader that loses its leadership stops, and the next one finds what is left and goes on.
 */
export class TrashPurger {
  private running = false;

  constructor(private readonly c: TrashPurgerComponents) {}

  /** From the leader's tick: start purging if the trash holds anything and no purge runs. */
  tick(): void {
    if (this.running || !hasTrash(this.c.view)) return;
    this.running = true;
    void this.run().finally(() => (this.running = false));
  }

  private async run(): Promise<void> {
    try {
      while (this.c.raft.isLeader() && hasTrash(this.c.view)) {
        await proposeNamespace(this.c.raft, { op: 'purgeTrash', nowMs: this.c.wallMs(), entries: TREE_DELETE_ENTRIES });
      }
    } catch (err) {
      // Leadership lost, or the proposal timed out: the next tick (or the next leader) goes on.
      this.c.logger.debug('trash purge paused', { err: (err as Error).message });
    }
  }
}

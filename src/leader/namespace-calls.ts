/**
 * Namespace calls. Reads are linearizable (ReadIndex before reading); writes go through Raft
 * carrying the client's s = [client, seq, ackedBelow], so a retry after a leader change returns
 * the first outcome. The leader stamps wall time into each command (mtime, session age), so
 * replicas apply identical commands.
 *
 *   fs.stat {path}                  → {path, type, size, mtime, etag, chunks:[{id,size,crc,replicas}]}
 *   fs.list {path, limit?, cursor?} → {entries:[{name,path,type,size,mtime}], cursor}
 *   fs.walk {path, limit?, cursor?} → the same, recursive (ls -R), paths relative to the walk
 *   fs.mkdir {path, parents, s} · fs.rm {path, recursive, s} · fs.mv {from, to, s} → {}
 *   fs.commit {path, size, etag, chunks:[[id,size,crc]…], overwrite, parents, s} → {path, size, etag, mtime}
 *   fs.open {path, first?, count?}  → {size, etag, mtime, total, chunks:[{id,size,crc,offset,replicas:[{id,addr}],token}]}
 *   fs.bad {id, server}             → {}  a reader found a corrupt or missing replica
 *   fs.statLocal {paths}            → {applied, types:[type|null…]}  THIS server's committed state,
 *                                     possibly stale (tests compare replicas with it); any server answers
 */
import type { Clock } from '../env/clock.js';
import type { Outcome } from '../meta/namespace.js';
import { readOrder } from '../placement/index.js';
import type { BadRequest, CommitRequest, ListRequest, MkdirRequest, MvRequest, OpenRequest, RmRequest, StatLocalRequest, StatRequest } from '../proto/meta-requests.js';
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
}

export class NamespaceCalls {
  private readonly c: NamespaceCallsComponents;
  private readonly o: NamespaceCallsOptions;

  constructor(c: NamespaceCallsComponents, o: NamespaceCallsOptions) {
    this.c = c;
    this.o = o;
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
    const base = req.path === '/' ? '' : req.path;
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

  async commit(req: CommitRequest): Promise<A['fs.commit']> {
    const { path, size, etag, chunks } = req;
    const nowMs = this.c.wallMs();
    await proposeNamespace(this.c.raft, {
      op: 'commitFile',
      path,
      file: { size, etag, chunks },
      overwrite: req.overwrite,
      createParents: req.parents,
      session: req.s,
      nowMs,
    });
    return { path, size, etag, mtime: nowMs };
  }

  async open(req: OpenRequest): Promise<A['fs.open']> {
    const { path, first, count } = req;
    await this.c.raft.linearizableRead();
    const st = unwrap(this.c.namespace.stat(path)).stat;
    if (st.type !== 'file') throw new CairnError('IsADirectory', `${path} is a directory`);
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
    return { size: st.size, etag: st.etag, mtime: st.mtime, total: st.chunks.length, chunks };
  }

  bad(req: BadRequest): A['fs.bad'] {
    this.c.terms.current().registry.markBad(req.server, req.id);
    this.c.logger.warn('replica reported bad', { chunk: req.id, server: req.server });
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

function unwrap<T extends object>(o: Outcome<T>): T {
  if (!o.ok) throw new CairnError(o.code, o.message);
  return o;
}

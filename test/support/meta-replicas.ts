/**
 * Each metadata server of a DevCluster on its own, not through the leader: its Raft progress
 * (raft.status), the types of paths in its own committed state (fs.statLocal) and, once the
 * servers are stopped, its namespace read straight from its LMDB state store. Durability tests
 * use it to check that every replica holds the same namespace, inline bytes included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, systemClock, systemTimers } from '../../src/env/system.js';
import { inlineUsage, walk as walkNamespace, stat as statNamespace, type InlineUsage } from '../../src/meta/namespace.js';
import { CHUNK_PREFIX, DENTRY_PREFIX, INLINE_USAGE_KEY, INODE_PREFIX, NEXT_INODE_KEY } from '../../src/meta/namespace-keys.js';
import { RpcClient } from '../../src/net/index.js';
import { decodeRaftStatus, decodeStatLocal, type RaftStatusAnswer } from '../../src/proto/meta-answers.js';
import type { DevCluster } from '../../src/server/dev-cluster.js';
import { LmdbStateStore } from '../../src/storage/lmdb-state-store.js';

/** Calls to one server give up after this long (a dead server must not stall a poll). */
const CALL_TIMEOUT_MS = 1000;
/** Paths per fs.statLocal call (the request allows 10,000). */
const STAT_LOCAL_PATHS_MAX = 5000;
/** How much of a server's log a failure message shows. */
const LOG_TAIL_CHARS = 3000;
/** Entries per page when walking a stopped server's namespace. */
const WALK_PAGE_ENTRIES = 10_000;

export class MetaReplicas {
  private readonly cluster: DevCluster;
  private readonly clients = new Map<string, RpcClient>();

  constructor(cluster: DevCluster) {
    this.cluster = cluster;
  }

  get ids(): string[] {
    return this.cluster.meta.map((m) => m.id);
  }

  private client(id: string): RpcClient {
    let c = this.clients.get(id);
    if (!c) {
      c = new RpcClient({ timers: systemTimers }, { addr: this.cluster.member(id).addr, clientToken: this.cluster.token, connectTimeoutMs: CALL_TIMEOUT_MS });
      this.clients.set(id, c);
    }
    return c;
  }

  /** One server's Raft status, or null when it does not answer. */
  async raftStatus(id: string): Promise<RaftStatusAnswer | null> {
    if (!this.cluster.member(id).proc.running) return null;
    try {
      return decodeRaftStatus(await this.client(id).call('raft.status', {}, { timeoutMs: CALL_TIMEOUT_MS }));
    } catch {
      return null;
    }
  }

  /** The running server that says it leads (the highest term's, if two do), or null. */
  async leader(): Promise<string | null> {
    let best: RaftStatusAnswer | null = null;
    for (const s of await Promise.all(this.ids.map((id) => this.raftStatus(id)))) {
      if (s?.role === 'leader' && (best === null || s.term > best.term)) best = s;
    }
    return best?.id ?? null;
  }

  /**
   * Waits until a leader answers and every metadata server (all must be running) has applied
   * at least the leader's commit index as it was when the wait began; returns that index.
   */
  async converge(timeoutMs: number): Promise<number> {
    const deadline = systemClock.nowMs() + timeoutMs;
    let target: number | null = null;
    let last = 'no leader';
    let laggards: string[] = [];
    while (systemClock.nowMs() < deadline) {
      const all = await Promise.all(this.ids.map(async (id) => [id, await this.raftStatus(id)] as const));
      if (target === null) {
        const lead = all.find(([, s]) => s?.role === 'leader')?.[1];
        if (lead) target = lead.commit;
      }
      if (target !== null) {
        const behind = all.filter(([, s]) => s === null || s.applied < target!);
        if (behind.length === 0) return target;
        laggards = behind.map(([id]) => id);
        last = `waiting for ${behind.map(([id, s]) => `${id} (applied ${s?.applied ?? 'no answer'})`).join(', ')} to apply ${target}`;
      }
      await sleep(100);
    }
    throw new Error(`metadata servers did not converge within ${timeoutMs} ms: ${last}${(target === null ? this.ids : laggards).map((id) => serverReport(this.cluster, id)).join('')}`);
  }

  /** The type ('file', 'dir' or null) of each path in server `id`'s own committed state. */
  async typesOn(id: string, paths: string[]): Promise<Array<string | null>> {
    const out: Array<string | null> = [];
    for (let i = 0; i < paths.length; i += STAT_LOCAL_PATHS_MAX) {
      const page = paths.slice(i, i + STAT_LOCAL_PATHS_MAX);
      out.push(...decodeStatLocal(await this.client(id).call('fs.statLocal', { paths: page }, { timeoutMs: 5000 })).types);
    }
    return out;
  }

  /**
   * Where the servers' committed states disagree on `paths` (call after converge()): one line
   * per path whose type differs between servers; [] when all agree.
   */
  async disagreements(paths: string[]): Promise<string[]> {
    const byServer = await Promise.all(this.ids.map(async (id) => [id, await this.typesOn(id, paths)] as const));
    const out: string[] = [];
    paths.forEach((p, i) => {
      const seen = byServer.map(([id, types]) => `${id}=${types[i] ?? 'absent'}`);
      if (new Set(byServer.map(([, types]) => types[i])).size > 1) out.push(`${p}: ${seen.join(' ')}`);
    });
    return out;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** A server's process state and the end of its log, for failure messages. */
export function serverReport(cluster: DevCluster, id: string): string {
  const proc = cluster.member(id).proc;
  let tail: string;
  try {
    tail = readFileSync(join(cluster.dir, 'logs', `${id}.log`), 'utf8').slice(-LOG_TAIL_CHARS);
  } catch (e) {
    tail = (e as Error).message;
  }
  return `\n--- ${id}: pid ${proc.pid ?? 'none'}, ${proc.running ? 'running' : `exited (code ${proc.exitCode ?? 'none'})`}; end of its log:\n${tail}`;
}

/** A report (serverReport) of every metadata or chunk server of the cluster that is not running; [] when all are. */
export function serversDown(cluster: DevCluster): string[] {
  return [...cluster.meta, ...cluster.chunks].filter((m) => !m.proc.running).map((m) => serverReport(cluster, m.id));
}

/** A file as a stopped server's state store holds it. */
export interface FileOnDisk {
  size: number;
  etag: string | null;
  chunks: string[];
  /** An inline file's bytes (null for a file in chunks). */
  inline: Buffer | null;
}

export interface NamespaceOnDisk {
  applied: number;
  /** Every namespace key (inodes, dentries, chunk index, inode counter, inline usage) → its value in hex. */
  pairs: Map<string, string>;
  /** Every file below / by path. */
  files: Map<string, FileOnDisk>;
  /** The server's inline counter (what status reports), to hold against `files`. */
  inline: InlineUsage;
}

const NAMESPACE_PREFIXES = [INODE_PREFIX, DENTRY_PREFIX, CHUNK_PREFIX];

/**
 * The namespace of the metadata server whose data directory is `metaDir` (the server must be
 * stopped): raw namespace pairs, to compare servers byte for byte, and every file decoded.
 */
export async function namespaceOnDisk(metaDir: string): Promise<NamespaceOnDisk> {
  const store = await LmdbStateStore.open(join(metaDir, 'state'));
  try {
    const pairs = new Map<string, string>();
    const hexOf = (v: Uint8Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    for (const prefix of NAMESPACE_PREFIXES) {
      const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      for (const [k, v] of store.range(prefix, end)) pairs.set(k, hexOf(v));
    }
    for (const k of [NEXT_INODE_KEY, INLINE_USAGE_KEY]) {
      const v = store.get(k);
      if (v) pairs.set(k, hexOf(v));
    }
    const files = new Map<string, FileOnDisk>();
    let cursor: string | null = null;
    // Each page advances the cursor; the walk ends on a page without one.
    for (;;) {
      const page = walkNamespace(store, [], { limit: WALK_PAGE_ENTRIES, cursor });
      if (!page.ok) throw new Error(`walk of ${metaDir}: ${page.message}`);
      for (const e of page.entries) {
        if (e.type !== 'file') continue;
        const st = statNamespace(store, e.path.split('/').slice(1));
        if (!st.ok) throw new Error(`stat ${e.path} in ${metaDir}: ${st.message}`);
        const inline = st.stat.inline ? Buffer.from(st.stat.inline.data) : null;
        files.set(e.path, { size: st.stat.size, etag: st.stat.etag, chunks: st.stat.chunks.map((c) => c.id), inline });
      }
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    return { applied: store.appliedIndex(), pairs, files, inline: inlineUsage(store) };
  } finally {
    await store.close();
  }
}

/** Lines naming where two servers' on-disk namespaces differ (at most `max`); [] when equal. */
export function namespaceDifferences(a: [string, NamespaceOnDisk], b: [string, NamespaceOnDisk], max = 20): string[] {
  const out: string[] = [];
  const keys = new Set([...a[1].pairs.keys(), ...b[1].pairs.keys()]);
  for (const k of [...keys].sort()) {
    const va = a[1].pairs.get(k);
    const vb = b[1].pairs.get(k);
    if (va !== vb) out.push(`${k}: ${a[0]} ${va === undefined ? 'absent' : `${va.length / 2} bytes`} vs ${b[0]} ${vb === undefined ? 'absent' : `${vb.length / 2} bytes`}${va && vb ? ' (different)' : ''}`);
    if (out.length >= max) break;
  }
  return out;
}

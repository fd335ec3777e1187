/**
 * Test doubles for the client's unit tests: chunk servers in this process (real ChunkStore in a
 * temp dir + real ChunkHttpServer on 127.0.0.1) and a fake metadata leader that answers fs.view,
 * fs.alloc, fs.retarget, fs.commit, fs.put, fs.open, fs.stat and fs.bad as the real one does, with
 * real signed chunk tokens and write grants, keeping the namespace in a Map. fs.view describes a
 * real ring of the nodes (one zone each, weight 1, version `ringVersion`); fs.commit refuses a
 * ringVersion older than it with StaleRing, as the leader does. fs.put stores a file inline up to
 * `inlineBytesMax` (default 0: refused, as a cluster with inlining off does).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { ChunkToken, type ChunkOp } from '../../../src/proto/chunk-token.js';
import { CairnClient, type CairnClientOptions, type MetaCaller } from '../../../src/client/cairn-client.js';
import { SeededRng } from '../../../src/env/rng.js';
import { systemClock, systemTimers, wallClockMs } from '../../../src/env/system.js';
import type { Clock } from '../../../src/env/clock.js';
import { DEFAULT_VNODES_PER_WEIGHT, ringLayoutToValue, type ServerState } from '../../../src/placement/index.js';
import { contentEtag } from '../../../src/util/content-etag.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { CairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';
import { openStore, tempDir } from '../chunk/helpers.js';

const SECRET = 'client-unit-test-cluster-secret';
const clock = { nowMs: wallClockMs };

export interface ChunkNode {
  id: string;
  dir: string;
  addr: string;
  server: ChunkHttpServer;
  stopped: boolean;
  stop(): Promise<void>;
  /** Listen again on the same address with the same store (a restarted server). */
  restart(): Promise<void>;
  /** The chunk's file on this node's disk. */
  chunkFile(chunkId: string): string;
  has(chunkId: string): boolean;
  /** Flip one bit of the chunk's stored bytes at file offset `at`. */
  corrupt(chunkId: string, at: number): void;
}

/** `n` chunk servers on loopback, each with its own store in a temp dir; close() removes them. */
/** `full`: ids of servers whose disk counts as full (every write refused with NoSpace). */
export async function startChunkNodes(n: number, opts: { full?: string[] } = {}): Promise<{ nodes: ChunkNode[]; close(): Promise<void> }> {
  const nodes: ChunkNode[] = [];
  const cleanups: Array<() => void> = [];
  for (let i = 0; i < n; i++) {
    const { dir, cleanup } = tempDir('client-unit');
    cleanups.push(cleanup);
    const full = opts.full?.includes(`c${i + 1}`) ?? false;
    const store = await openStore(dir, { chunkBytesMax: 8 * 1024 * 1024, ...(full ? { reserveBytes: 2 ** 52 } : {}) });
    const server = new ChunkHttpServer({ store, clock, logger: silentLogger }, { secret: SECRET });
    const addr = await server.start();
    const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
    const chunkFile = (id: string): string => join(dir, 'chunks', id.slice(0, 2), id);
    const node: ChunkNode = {
      id: `c${i + 1}`,
      dir,
      addr,
      server,
      stopped: false,
      async stop() {
        if (node.stopped) return;
        node.stopped = true;
        await node.server.close();
      },
      async restart() {
        if (!node.stopped) return;
        node.server = new ChunkHttpServer({ store, clock, logger: silentLogger }, { secret: SECRET, port });
        await node.server.start();
        node.stopped = false;
      },
      chunkFile,
      has: (id) => existsSync(chunkFile(id)),
      corrupt(id, at) {
        const f = readFileSync(chunkFile(id));
        f[at] = f[at]! ^ 1;
        writeFileSync(chunkFile(id), f);
      },
    };
    nodes.push(node);
  }
  return {
    nodes,
    async close() {
      for (const node of nodes) await node.stop();
      for (const c of cleanups) c();
    },
  };
}

export interface FakeFile {
  size: number;
  etag: string;
  mtime: number;
  chunks: Array<[id: string, size: number, crc: number]>;
  /** An inline file's bytes and CRC-32C (chunks []). */
  inline?: { data: Uint8Array; crc: number };
}

export interface MetaCall {
  method: string;
  body: Record<string, unknown>;
  idempotent: boolean;
}

/**
 * The metadata leader, faked: the k-th chunk allocated (from 0) goes to the R servers starting
 * at node k mod N (a retarget: the first R in node order not excluded); fs.open lists the servers whose disk holds the chunk
 * (readOrder may reorder them). Every call is recorded.
 */
export class FakeMeta implements MetaCaller {
  readonly files = new Map<string, FakeFile>();
  readonly calls: MetaCall[] = [];
  readonly bad: Array<{ id: string; server: string }> = [];
  /** Overrides the answer of a method (after recording the call). */
  readonly answers = new Map<string, (body: Record<string, unknown>) => unknown>();
  /** Reorders fs.open's replicas of a chunk (default: node order). */
  readOrder: ((chunkId: string, holders: ChunkNode[]) => ChunkNode[]) | null = null;
  private readonly tokens = new ChunkToken({ clock }, { secret: SECRET });
  private nextChunk = 1;
  /** The ring version fs.view reports and fs.commit checks against. */
  ringVersion = 1;
  /** Servers fs.view reports as not taking writes (the leader found them dead or full). */
  readonly notWritable = new Set<string>();
  /** Ring states other than 'up' (fs.view's ring). */
  readonly ringStates = new Map<string, ServerState>();
  /** Life of the write grants fs.view hands out. */
  grantTtlMs = 60_000;
  private views = 0;
  closed = false;

  constructor(
    private readonly nodes: ChunkNode[],
    private readonly o: { replicas: number; chunkSize: number; inlineBytesMax?: number },
  ) {}

  token(op: ChunkOp, id: string): string {
    return this.tokens.signFor(op, id, 60_000);
  }

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }

  async call(method: string, body: unknown, opts: { idempotent?: boolean } = {}): Promise<unknown> {
    const b = body as Record<string, unknown>;
    this.calls.push({ method, body: b, idempotent: opts.idempotent ?? false });
    if (method === 'fs.bad') this.bad.push({ id: b.id as string, server: b.server as string });
    await Promise.resolve(); // answers are asynchronous, as over a socket
    const override = this.answers.get(method);
    if (override) return override(b);
    switch (method) {
      case 'fs.view':
        return this.view();
      case 'fs.alloc': {
        const chunks = [];
        for (let i = 0; i < (b.count as number); i++) {
          const n = this.nextChunk++;
          const id = n.toString(16).padStart(32, '0');
          chunks.push({ id, targets: this.targets(id, new Set(), n - 1) });
        }
        return { chunkSize: this.o.chunkSize, chunks };
      }
      case 'fs.retarget': {
        const exclude = new Set(b.exclude as string[]);
        const targets = this.targets(b.id as string, exclude, 0);
        if (targets.length === 0) throw new CairnError('NoSpace', 'no server outside the excluded');
        return { targets };
      }
      case 'fs.commit': {
        if (!Array.isArray(b.s)) throw new CairnError('InvalidArgument', 's must be [client, seq, ackedBelow]');
        const path = b.path as string;
        if (typeof b.ringVersion === 'number' && b.ringVersion < this.ringVersion) throw new CairnError('StaleRing', `placed with ring ${b.ringVersion}, the cluster's is ${this.ringVersion}`, { ringVersion: this.ringVersion });
        if (this.files.has(path) && b.overwrite !== true) throw new CairnError('AlreadyExists', `${path} exists`);
        const mtime = 1_700_000_000_000 + this.files.size;
        this.files.set(path, { size: b.size as number, etag: b.etag as string, mtime, chunks: b.chunks as FakeFile['chunks'] });
        return { path, size: b.size, etag: b.etag, mtime };
      }
      case 'fs.put': {
        if (!Array.isArray(b.s)) throw new CairnError('InvalidArgument', 's must be [client, seq, ackedBelow]');
        const path = b.path as string;
        const data = b.data as Uint8Array;
        const max = this.o.inlineBytesMax ?? 0;
        if (data.length > max) throw new CairnError('InlineRefused', `${data.length} bytes is over ${max}`, { inlineBytesMax: max });
        if (crc32c(data) !== b.crc) throw new CairnError('Corrupt', 'fs.put bytes fail their CRC-32C');
        if (this.files.has(path) && b.overwrite !== true) throw new CairnError('AlreadyExists', `${path} exists`);
        const mtime = 1_700_000_000_000 + this.files.size;
        const etag = inlineEtag(data);
        this.files.set(path, { size: data.length, etag, mtime, chunks: [], inline: { data: Uint8Array.from(data), crc: b.crc } });
        return { path, size: data.length, etag, mtime };
      }
      case 'fs.stat': {
        const f = this.file(b.path as string);
        return { path: b.path, type: 'file', size: f.size, mtime: f.mtime, etag: f.etag, chunks: f.chunks.map(([id, size, crc]) => ({ id, size, crc, replicas: this.holders(id).map((n) => n.id) })) };
      }
      case 'fs.open': {
        const f = this.file(b.path as string);
        const first = (b.first as number | undefined) ?? 0;
        const count = (b.count as number | undefined) ?? 10_000;
        let offset = 0;
        for (let i = 0; i < Math.min(first, f.chunks.length); i++) offset += f.chunks[i]![1];
        const chunks = f.chunks.slice(first, first + count).map(([id, size, crc]) => {
          const holders = this.holders(id);
          const out = { id, size, crc, offset, replicas: (this.readOrder?.(id, holders) ?? holders).map((n) => ({ id: n.id, addr: n.addr })), token: this.token('read', id) };
          offset += size;
          return out;
        });
        return { size: f.size, etag: f.etag, mtime: f.mtime, total: f.chunks.length, chunks, ...(f.inline ? { inline: f.inline } : {}) };
      }
      case 'fs.bad':
      case 'cluster.drain':
      case 'cluster.remove':
      case 'fs.mkdir':
      case 'fs.rm':
      case 'fs.mv':
        return {};
      default:
        throw new CairnError('InvalidArgument', `unknown method ${method}`);
    }
  }

  close(): void {
    this.closed = true;
  }

  /** fs.view's answer now (not recorded as a call). */
  view(): { ringVersion: number; ring: unknown[]; servers: Array<{ id: string; addr: string; writable: boolean }>; replicas: number; chunkSize: number; grant: { prefix: string; token: string; ttlMs: number } } {
    const prefix = (0xc0ffee00 + ++this.views).toString(16).padStart(16, '0');
    const servers = this.nodes.map((n) => ({ id: n.id, zone: `z-${n.id}`, weight: 1, state: this.ringStates.get(n.id) ?? ('up' as const) }));
    return {
      ringVersion: this.ringVersion,
      ring: ringLayoutToValue({ version: this.ringVersion, vnodesPerWeight: DEFAULT_VNODES_PER_WEIGHT, servers }),
      servers: this.nodes.map((n) => ({ id: n.id, addr: n.addr, writable: !this.notWritable.has(n.id) })),
      replicas: this.o.replicas,
      chunkSize: this.o.chunkSize,
      grant: { prefix, token: this.tokens.signGrantFor(prefix, this.grantTtlMs), ttlMs: this.grantTtlMs },
    };
  }

  /**
   * Stores `data` as the committed file `path` the way fs.alloc placed chunks: the k-th chunk on
   * the R nodes starting at node k mod N (tests of the read path rely on that layout; the
   * client's own writes place by the ring).
   */
  async storeFile(path: string, data: Buffer): Promise<void> {
    const chunks = new ChunkClient({ logger: silentLogger }, { idleTimeoutMs: 5000 });
    const refs: FakeFile['chunks'] = [];
    try {
      for (let k = 0, off = 0; off < data.length; k++, off += this.o.chunkSize) {
        const id = (this.nextChunk++).toString(16).padStart(32, '0');
        const piece = data.subarray(off, Math.min(data.length, off + this.o.chunkSize));
        const crc = crc32c(piece);
        const out = await chunks.putChunk(id, this.targets(id, new Set(), k), Readable.from([piece]), { size: piece.length, crc32c: crc });
        if (!out.ok) throw new Error(`storeFile: chunk ${k} not stored`);
        refs.push([id, piece.length, crc]);
      }
    } finally {
      chunks.close();
    }
    this.files.set(path, { size: data.length, etag: contentEtag(data.length, refs.map(([, size, crc]) => ({ size, crc }))), mtime: 1_700_000_000_000 + this.files.size, chunks: refs });
  }

  private file(path: string): FakeFile {
    const f = this.files.get(path);
    if (!f) throw new CairnError('NotFound', `no such file: ${path}`);
    return f;
  }

  /** Nodes whose disk holds the chunk, in node order. */
  private holders(id: string): ChunkNode[] {
    return this.nodes.filter((n) => n.has(id));
  }

  private targets(id: string, exclude: ReadonlySet<string>, rotate: number): Array<{ id: string; addr: string; token: string }> {
    const order = this.nodes.map((_, i) => this.nodes[(i + rotate) % this.nodes.length]!);
    return order
      .filter((n) => !exclude.has(n.id))
      .slice(0, this.o.replicas)
      .map((n) => ({ id: n.id, addr: n.addr, token: this.token('write', id) }));
  }
}

/** A CairnClient over the fake leader and a real ChunkClient. */
export function clientOver(meta: FakeMeta, options: CairnClientOptions = {}, chunkIdleTimeoutMs = 5000, monotonic: Clock = systemClock): CairnClient {
  const chunks = new ChunkClient({ logger: silentLogger }, { idleTimeoutMs: chunkIdleTimeoutMs });
  return new CairnClient({ meta, chunks, timers: systemTimers, clock: monotonic, rng: new SeededRng(1) }, { clientId: 'test-client', ...options });
}

/**
 * The metadata service as real processes (3 metadata servers, 3 chunk servers): namespace
 * operations through the leader, chunk-server registration and heartbeats, chunk locations from
 * incremental reports, status counts, a dead chunk server declared dead through Raft and skipped
 * by placement, the location map rebuilt from full reports after the metadata leader is
 * killed with SIGKILL, and malformed requests answered with errors while the service keeps
 * serving.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../src/chunk/chunk-client.js';
import type { MetaSession } from '../../src/client/meta-session.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { crc32c } from '../../src/util/crc32c.js';
import { isCairnError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';

interface Status {
  leader: string | null;
  meta: Array<{ id: string; addr: string; role: string }>;
  chunkServers: Array<{ id: string; addr: string; state: string; used: number; capacity: number; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = systemClock.nowMs() + timeoutMs;
  let last: unknown = null;
  while (systemClock.nowMs() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

describe('metadata service with real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-meta-cluster-'));
  let cluster: DevCluster;
  let s: MetaSession;
  let seq = 0;
  const client = `t-${systemRng.int(1e9)}`;
  const req = () => [client, ++seq, seq - 1];
  const chunks = new ChunkClient({ logger: silentLogger });

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 3, deadAfterSec: 2, heartbeatMs: 200, chunkSize: 65536 });
    cluster.start();
    await cluster.waitReady(30_000);
    s = cluster.session({ callTimeoutMs: 2000, retryDeadlineMs: 15_000 });
  }, 60_000);

  afterAll(async () => {
    s?.close();
    chunks.close();
    await cluster?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async () => (await s.call('cluster.status', {}, { idempotent: true })) as Status;

  it('reports the group and every registered chunk server', async () => {
    const st = await status();
    expect(st.leader).toMatch(/^m[123]$/);
    expect(st.meta.map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
    expect(st.meta.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([st.leader]);
    expect(st.chunkServers.map((c) => [c.id, c.state])).toEqual([
      ['c1', 'alive'],
      ['c2', 'alive'],
      ['c3', 'alive'],
    ]);
    for (const c of st.chunkServers) expect(c.capacity).toBeGreaterThan(0);
    expect(st.chunks).toEqual({ total: 0, underReplicated: 0, lost: 0 });
  });

  it('serves namespace operations with typed errors', async () => {
    await s.call('fs.mkdir', { path: '/a/b/c', parents: true, s: req() }, { idempotent: true });
    await s.call('fs.mv', { from: '/a/b', to: '/a/moved', s: req() }, { idempotent: true });
    const list = (await s.call('fs.list', { path: '/a' }, { idempotent: true })) as { entries: Array<{ name: string; path: string; type: string }> };
    expect(list.entries.map((e) => [e.name, e.path, e.type])).toEqual([['moved', '/a/moved', 'dir']]);
    const err = await s.call('fs.mkdir', { path: '/a/moved', parents: false, s: req() }, { idempotent: true }).catch((e: unknown) => e);
    expect(isCairnError(err) && err.code).toBe('AlreadyExists');
    const gone = await s.call('fs.stat', { path: '/nope' }, { idempotent: true }).catch((e: unknown) => e);
    expect(isCairnError(gone) && gone.code).toBe('NotFound');
    // A retry of an applied request returns its first outcome instead of applying again.
    const again = req();
    await s.call('fs.rm', { path: '/a/moved/c', recursive: false, s: again }, { idempotent: true });
    await expect(s.call('fs.rm', { path: '/a/moved/c', recursive: false, s: again }, { idempotent: true })).resolves.toEqual({});
  });

  it('refuses malformed requests and keeps serving', async () => {
    const bad: Array<[string, unknown]> = [
      ['fs.mkdir', { path: 'relative', s: req() }],
      ['fs.mkdir', { path: '/x/../y', parents: true, s: req() }],
      ['fs.mkdir', { path: '/x', s: 'nope' }],
      ['fs.commit', { path: '/f', size: 1, etag: 'e', chunks: [['not-hex', 1, 0]], s: req() }],
      ['fs.commit', { path: '/f', size: 5, etag: 'e', chunks: 'x', s: req() }],
      ['fs.alloc', { count: 10_000 }],
      ['fs.list', { path: '/', limit: -1 }],
      ['cs.heartbeat', {}],
      ['fs.stat', [1, 2, 3]],
    ];
    for (const [method, body] of bad) {
      const err = await s.call(method, body, { idempotent: true }).catch((e: unknown) => e);
      expect(isCairnError(err), `${method} ${JSON.stringify(body)}`).toBe(true);
      expect(['InvalidArgument', 'InvalidPath', 'Unauthorized', 'TooLarge']).toContain(isCairnError(err) && err.code);
    }
    expect((await status()).leader).not.toBeNull();
  });

  it('places chunks, locates replicas from reports, and counts lost and under-replicated chunks', async () => {
    const alloc = (await s.call('fs.alloc', { count: 2 })) as { chunkSize: number; chunks: Array<{ id: string; targets: Array<{ id: string; addr: string; token: string }> }> };
    expect(alloc.chunkSize).toBe(65536);
    const [written, missing] = alloc.chunks as [(typeof alloc.chunks)[0], (typeof alloc.chunks)[0]];
    expect(new Set(written.targets.map((t) => t.id)).size).toBe(3);
    // A replacement when every server is excluded: NoSpace that says why, across the wire.
    const none = await s.call('fs.retarget', { id: written.id, exclude: ['c1', 'c2', 'c3'] }, { idempotent: true }).catch((e: unknown) => e);
    expect(isCairnError(none) && none.code).toBe('NoSpace');
    expect((none as Error).message).toBe(`no live chunk server with free space outside the 3 excluded (c1,c2,c3) can take chunk ${written.id}`);
    const one = (await s.call('fs.retarget', { id: written.id, exclude: ['c1'] }, { idempotent: true })) as { targets: Array<{ id: string }> };
    expect(one.targets.map((t) => t.id).sort()).toEqual(['c2', 'c3']);
    const data = new Uint8Array(1000).fill(7);
    const out = await chunks.putChunk(written.id, written.targets, Readable.from([data]), { size: data.length, crc32c: crc32c(data) });
    expect(out.ok).toBe(true);
    await s.call(
      'fs.commit',
      { path: '/files/f1', size: 2000, etag: 'etag-1', chunks: [[written.id, 1000, crc32c(data)], [missing.id, 1000, 0]], overwrite: false, parents: true, s: req() },
      { idempotent: true },
    );
    // Incremental reports arrive with the next heartbeats.
    const st = await until('replica locations', async () => {
      const r = (await s.call('fs.stat', { path: '/files/f1' }, { idempotent: true })) as { chunks: Array<{ id: string; replicas: string[] }> };
      return r.chunks[0]!.replicas.length === 3 ? r : null;
    });
    expect(st.chunks[0]!.replicas.sort()).toEqual(written.targets.map((t) => t.id).sort());
    expect(st.chunks[1]!.replicas).toEqual([]);
    expect((await status()).chunks).toEqual({ total: 2, underReplicated: 0, lost: 1 });
    const open = (await s.call('fs.open', { path: '/files/f1' }, { idempotent: true })) as { total: number; chunks: Array<{ offset: number; replicas: Array<{ id: string }>; token: string }> };
    expect(open.total).toBe(2);
    expect(open.chunks.map((c) => c.offset)).toEqual([0, 1000]);
    expect(open.chunks[0]!.replicas).toHaveLength(3);
    const got = await chunks.getChunk(open.chunks[0]!.replicas[0]!.id === written.targets[0]!.id ? written.targets[0]!.addr : written.targets.find((t) => t.id === open.chunks[0]!.replicas[0]!.id)!.addr, written.id, open.chunks[0]!.token);
    const buf: Buffer[] = [];
    for await (const b of got.stream) buf.push(b as Buffer);
    expect(Buffer.concat(buf).equals(Buffer.from(data))).toBe(true);
  });

  it('declares a silent chunk server dead through Raft, places around it, and takes it back when it returns', async () => {
    const victim = cluster.member('c2');
    await victim.proc.kill('SIGKILL');
    const st = await until('c2 dead', async () => {
      const x = await status();
      return x.chunkServers.find((c) => c.id === 'c2')?.state === 'dead' ? x : null;
    });
    expect(st.chunks.underReplicated).toBe(1);
    // New chunks avoid it (the ring state is committed, so every server agrees).
    const alloc = (await s.call('fs.alloc', { count: 8 })) as { chunks: Array<{ targets: Array<{ id: string }> }> };
    for (const c of alloc.chunks) expect(c.targets.map((t) => t.id)).not.toContain('c2');
    victim.proc.start();
    await until('c2 alive again', async () => (await status()).chunkServers.find((c) => c.id === 'c2')?.state === 'alive');
    await until('c2 replicas reported again', async () => (await status()).chunks.underReplicated === 0);
  });

  it('rebuilds chunk locations from full reports after the metadata leader is killed', async () => {
    const before = await status();
    const leader = before.leader!;
    await cluster.member(leader).proc.kill('SIGKILL');
    const after = await until('a new leader', async () => {
      const x = await status();
      return x.leader && x.leader !== leader ? x : null;
    });
    expect(after.leader).not.toBe(leader);
    await until('locations rebuilt', async () => {
      const r = (await s.call('fs.stat', { path: '/files/f1' }, { idempotent: true })) as { chunks: Array<{ replicas: string[] }> };
      return r.chunks[0]!.replicas.length === 3;
    });
    const st = await status();
    expect(st.chunks).toEqual({ total: 2, underReplicated: 0, lost: 1 });
    expect(st.meta.find((m) => m.id === leader)?.role).toBe('unreachable');
    cluster.member(leader).proc.start();
    await until('old leader back as follower', async () => (await status()).meta.find((m) => m.id === leader)?.role === 'follower');
  }, 40_000);
});

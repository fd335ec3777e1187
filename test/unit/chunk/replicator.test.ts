/**
 * The replicator against real chunk stores and a real chunk HTTP server on loopback: copies are
 * verified and durable before they are announced, fall over to the next source, leave nothing
 * behind when a source is corrupt or unreachable, are idempotent, throttled and bounded in
 * concurrency; deletes are idempotent; malformed commands are ignored.
 */
import fs, { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { ChunkToken } from '../../../src/proto/chunk-token.js';
import { Replicator, parseReplicaCommand, type ReplicatorOptions } from '../../../src/chunk/replicator.js';
import { systemClock, systemTimers, wallClockMs } from '../../../src/env/system.js';
import { ChunkStore } from '../../../src/storage/chunk-store.js';
import { SeededRng } from '../../../src/env/rng.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SEG, bytes, cid, collect, openStore, pieces, tempDir, waitUntil } from './helpers.js';

const secret = 'replicator-test-cluster-secret';
const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
const readToken = (id: string): string => tokens.signFor('read', id, 60_000);

const cleanups: Array<() => void | Promise<void>> = [];
let source: { store: ChunkStore; addr: string; dir: string };
let deadAddr: string;
let client: ChunkClient;

async function node(tag: string): Promise<{ store: ChunkStore; addr: string; dir: string; server: ChunkHttpServer }> {
  const { dir, cleanup } = tempDir(tag);
  const store = await openStore(dir);
  const server = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger }, { secret });
  const addr = await server.start();
  cleanups.push(async () => {
    await server.close();
    cleanup();
  });
  return { store, addr, dir, server };
}

/** A replicator writing into a fresh store; `added` lists what the store announced, in order. */
async function target(opts: ReplicatorOptions = {}, wrapPut?: (put: ChunkStore['put']) => ChunkStore['put']) {
  const { dir, cleanup } = tempDir('repl-dst');
  cleanups.push(cleanup);
  const added: string[] = [];
  const copied: Array<[string, boolean]> = [];
  const failed: string[] = [];
  const store = await openAnnouncingStore(dir, (id) => {
    added.push(id);
    journal?.push(`announced ${id}`);
  });
  const put = wrapPut ? wrapPut(store.put.bind(store)) : store.put.bind(store);
  const r = new Replicator(
    {
      store: { put: (id, src, o) => put(id, src, o), delete: (id) => store.delete(id) },
      chunks: client,
      clock: systemClock,
      timers: systemTimers,
      logger: silentLogger,
      onCopied: (id, created) => copied.push([id, created]),
      onCopyFailed: (id) => failed.push(id),
    },
    opts,
  );
  cleanups.push(() => r.stop());
  return { r, store, dir, added, copied, failed };
}

/** A store that tells `onAdded` about every replica that reached its final name. */
function openAnnouncingStore(dir: string, onAdded: (id: string) => void): Promise<ChunkStore> {
  return ChunkStore.open({ rng: new SeededRng(3), clock: systemClock, timers: systemTimers, logger: silentLogger, onAdded }, { dir });
}

const copy = (id: string, ...addrs: string[]) => ({ op: 'copy', id, token: readToken(id), sources: addrs.map((addr, i) => ({ id: `s${i}`, addr })) });

beforeAll(async () => {
  client = new ChunkClient({ logger: silentLogger });
  source = await node('repl-src');
  const dead = await node('repl-dead');
  await dead.server.close();
  deadAddr = dead.addr;
  for (let i = 1; i <= 12; i++) await source.store.put(cid(i), pieces(bytes(3 * SEG + 100 * i, i)));
});

afterAll(async () => {
  client.close();
  for (const c of cleanups.reverse()) await c();
});

/**
 * Records the durability steps of this process (file data syncs, renames, descriptor fsyncs, in
 * the order they complete or start) by wrapping node:fs for the duration of a test; `restore`
 * puts the real functions back.
 */
let journal: string[] | null = null;
async function journalSyncs(): Promise<{ events: string[]; restore: () => void }> {
  const events: string[] = [];
  journal = events;
  const probeDir = tempDir('repl-probe');
  const probe = await fsp.open(join(probeDir.dir, 'p'), 'w');
  const fhProto = Object.getPrototypeOf(probe) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await probe.close();
  probeDir.cleanup();
  const real = { sync: fhProto.sync, datasync: fhProto.datasync, rename: fsp.rename, fsync: fs.fsync };
  const synced = (f: () => Promise<void>, tag: string) =>
    async function (this: unknown): Promise<void> {
      events.push(`${tag}-start`);
      await f.call(this);
      events.push(`${tag}-end`);
    };
  fhProto.sync = synced(real.sync, 'fh-sync');
  fhProto.datasync = synced(real.datasync, 'fh-sync');
  fsp.rename = async (from, to) => {
    await real.rename(from, to);
    events.push(`rename ${String(to)}`);
  };
  fs.fsync = ((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
    events.push('sync-start');
    real.fsync(fd, (e) => {
      if (!e) events.push('sync-end');
      cb(e);
    });
  }) as typeof fs.fsync;
  syncBuiltinESMExports();
  return {
    events,
    restore: () => {
      journal = null;
      Object.assign(fhProto, { sync: real.sync, datasync: real.datasync });
      fsp.rename = real.rename;
      fs.fsync = real.fsync;
      syncBuiltinESMExports();
    },
  };
}

const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

describe('Replicator', () => {
  it('copies a chunk from a live replica: identical bytes, durable on disk before it is announced', async () => {
    const t = await target({ bytesPerSecMax: 0 });
    const j = await journalSyncs();
    restores.push(j.restore);
    t.r.submit([copy(cid(1), source.addr)]);
    await waitUntil(() => t.copied.length === 1);
    expect(t.added).toEqual([cid(1)]);
    // Durable before announced: the data was synced before its rename to the final name, and a
    // directory sync that began after the rename had ended before the store announced it.
    const announced = j.events.indexOf(`announced ${cid(1)}`);
    expect(announced).toBeGreaterThan(0);
    const seen = j.events.slice(0, announced);
    const renamed = seen.findIndex((e) => e.startsWith('rename ') && e.endsWith(cid(1)));
    expect(renamed).toBeGreaterThan(0);
    expect(seen.slice(0, renamed)).toContain('fh-sync-end');
    const after = seen.slice(renamed);
    const started = after.findIndex((e) => e.endsWith('sync-start'));
    expect(started).toBeGreaterThan(0);
    expect(after.slice(started).some((e) => e.endsWith('sync-end'))).toBe(true);
    expect(t.copied).toEqual([[cid(1), true]]);
    expect((await collect((await t.store.read(cid(1))).stream)).equals(bytes(3 * SEG + 100, 1))).toBe(true);
    expect(existsSync(join(t.dir, 'chunks', cid(1).slice(0, 2), cid(1)))).toBe(true);
    expect(t.r.counters).toMatchObject({ copies: 1, copyFailures: 0, bytesCopied: 3 * SEG + 100 });
  });

  it('falls over to the next source when one is unreachable or lacks the chunk', async () => {
    const t = await target({ bytesPerSecMax: 0 });
    const empty = await node('repl-empty');
    t.r.submit([copy(cid(2), deadAddr, empty.addr, source.addr)]);
    await waitUntil(() => t.copied.length === 1);
    expect(t.added).toEqual([cid(2)]);
    expect(t.r.counters.copyFailures).toBe(0);
  });

  it('a corrupt source stores and announces nothing, leaves no temp file, and frees the command', async () => {
    const { store: bad, addr, dir } = await node('repl-bad');
    const id = cid(100);
    await bad.put(id, pieces(bytes(4 * SEG, 100)));
    const file = join(dir, 'chunks', id.slice(0, 2), id);
    const b = readFileSync(file);
    b[2 * SEG + 5] = b[2 * SEG + 5]! ^ 0x55; // a segment in the middle: the stream fails after a first part
    writeFileSync(file, b);
    const t = await target({ bytesPerSecMax: 0 });
    t.r.submit([copy(id, addr)]);
    await waitUntil(() => t.r.counters.copyFailures === 1);
    expect(t.failed).toEqual([id]); // told to the leader, which can plan it again at once
    expect(t.added).toEqual([]);
    expect(t.copied).toEqual([]);
    await expect(t.store.read(id)).rejects.toMatchObject({ code: 'NotFound' });
    expect(readdirSync(join(t.dir, 'tmp'))).toEqual([]);
    // The id is free again: the same command with a good source now succeeds.
    await bad.delete(id);
    await source.store.put(id, pieces(bytes(4 * SEG, 100)));
    t.r.submit([copy(id, addr, source.addr)]);
    await waitUntil(() => t.copied.length === 1);
    expect(t.added).toEqual([id]);
  });

  for (const bytesPerSecMax of [0, 64 * 1024 * 1024]) {
    it(`sends a copy unchecked by its source, then asks a source that failed our check to check its own replica (${bytesPerSecMax === 0 ? 'whole' : 'streamed'} copy)`, async () => {
      const { store: bad, addr, dir } = await node('repl-bad2');
      const id = cid(200 + (bytesPerSecMax === 0 ? 0 : 1));
      const data = bytes(4 * SEG, 7);
      await bad.put(id, pieces(data));
      const file = join(dir, 'chunks', id.slice(0, 2), id);
      const b = readFileSync(file);
      b[3 * SEG + 5] = b[3 * SEG + 5]! ^ 0x55;
      writeFileSync(file, b);
      await source.store.put(id, pieces(data));
      const asked: string[] = [];
      const { dir: tdir, cleanup } = tempDir('repl-dst2');
      cleanups.push(cleanup);
      const store = await openStore(tdir);
      const copied: string[] = [];
      const r = new Replicator(
        {
          store: { put: (i, src, o) => store.put(i, src, o), delete: (i) => store.delete(i) },
          chunks: {
            getChunk: (a, i, tok, o) => (asked.push(`${a === addr ? 'bad' : 'good'} ${o.checkedBy}`), client.getChunk(a, i, tok, o)),
            readChunk: (a, i, tok, o) => (asked.push(`${a === addr ? 'bad' : 'good'} ${o.checkedBy}`), client.readChunk(a, i, tok, o)),
          },
          clock: systemClock,
          timers: systemTimers,
          logger: silentLogger,
          onCopied: (i) => copied.push(i),
        },
        { bytesPerSecMax },
      );
      cleanups.push(() => r.stop());
      r.submit([copy(id, addr, source.addr)]);
      await waitUntil(() => copied.length === 1);
      // The bad source sent its flipped byte unchecked, our store refused it, the source was asked
      // again checking its segments and found its replica corrupt; the good source then served.
      expect(asked).toEqual(['bad reader', 'bad server', 'good reader']);
      expect(bad.corruptChunks()).toEqual([id]);
      expect((await collect((await store.read(id)).stream)).equals(data)).toBe(true);
      expect(r.counters).toMatchObject({ copies: 1, copyFailures: 0 });
    });
  }

  it('is idempotent: a replica already held is success (announced again, not rewritten); duplicates run once', async () => {
    const t = await target({ bytesPerSecMax: 0, concurrencyMax: 1 });
    await t.store.put(cid(3), pieces(bytes(3 * SEG + 300, 3)));
    t.added.length = 0;
    expect(t.r.idle()).toBe(true);
    t.r.submit([copy(cid(3), source.addr), copy(cid(4), source.addr), copy(cid(4), source.addr)]);
    expect(t.r.idle()).toBe(false); // one running, one queued
    t.r.submit([copy(cid(4), source.addr)]);
    await waitUntil(() => t.copied.length === 2);
    await waitUntil(() => t.r.idle());
    await new Promise((r) => setTimeout(r, 100));
    expect(t.copied).toEqual([
      [cid(3), false],
      [cid(4), true],
    ]);
    expect(t.added).toEqual([cid(4)]);
    expect(t.r.counters.copies).toBe(2);
  });

  it('keeps at most concurrencyMax commands running and the byte rate under bytesPerSecMax', async () => {
    let running = 0;
    let peak = 0;
    const rate = 2 * 1024 * 1024;
    const t = await target({ bytesPerSecMax: rate, concurrencyMax: 2 }, (put) => async (id, src, o) => {
      running++;
      peak = Math.max(peak, running);
      try {
        return await put(id, src, o);
      } finally {
        running--;
      }
    });
    const ids = [5, 6, 7, 8, 9].map(cid);
    const total = [5, 6, 7, 8, 9].reduce((a, i) => a + 3 * SEG + 100 * i, 0); // ~1 MiB
    const t0 = systemClock.nowMs();
    t.r.submit(ids.map((id) => copy(id, source.addr)));
    await waitUntil(() => t.copied.length === ids.length, 10_000);
    const elapsedMs = systemClock.nowMs() - t0;
    expect(peak).toBe(2);
    // The bucket lets the first piece through at once; the rest waits its turn.
    expect(elapsedMs).toBeGreaterThanOrEqual(((total - 256 * 1024) / rate) * 1000 * 0.9);
    expect(new Set(t.added)).toEqual(new Set(ids));
  });

  it('deletes a replica; deleting an absent one is a no-op', async () => {
    const t = await target({ bytesPerSecMax: 0 });
    await t.store.put(cid(10), pieces(bytes(SEG, 10)));
    t.r.submit([{ op: 'delete', id: cid(10) }, { op: 'delete', id: cid(11) }]);
    await waitUntil(() => t.r.counters.deletes === 1);
    await new Promise((r) => setTimeout(r, 50));
    await expect(t.store.read(cid(10))).rejects.toMatchObject({ code: 'NotFound' });
    expect(t.r.counters.deletes).toBe(1);
  });

  it('ignores malformed commands', () => {
    expect(parseReplicaCommand(null)).toBeNull();
    expect(parseReplicaCommand({ op: 'delete', id: '../etc/passwd' })).toBeNull();
    expect(parseReplicaCommand({ op: 'copy', id: cid(1), token: 't' })).toBeNull();
    expect(parseReplicaCommand({ op: 'copy', id: cid(1), token: 't', sources: [{ id: 1, addr: 'x' }] })).toBeNull();
    expect(parseReplicaCommand({ op: 'move', id: cid(1) })).toBeNull();
    expect(parseReplicaCommand({ op: 'copy', id: cid(1), token: 't', sources: [{ id: 'c1', addr: '127.0.0.1:1' }] })).toEqual({
      op: 'copy',
      id: cid(1),
      token: 't',
      sources: [{ id: 'c1', addr: '127.0.0.1:1' }],
    });
  });
});

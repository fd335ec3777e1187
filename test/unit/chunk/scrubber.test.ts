/**
 * The scrubber over a real chunk store: every replica is verified each pass, a corrupt one (data
 * or table damaged on disk) is reported through the store's onCorrupt exactly once, passes repeat
 * once per period, the read rate is held under bytesPerSecMax, and stop() ends a pass or a wait.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scrubber, parseScrubCommand, type ScrubPosition, type ScrubRoundPage } from '../../../src/chunk/scrubber.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import type { ChunkStore } from '../../../src/storage/chunk-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SEG, bytes, cid, openStore, pieces, tempDir, waitUntil } from './helpers.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups.length = 0;
});

async function setup(n: number, size = 2 * SEG): Promise<{ store: ChunkStore; dir: string; corrupt: string[] }> {
  const { dir, cleanup } = tempDir('scrub');
  cleanups.push(cleanup);
  const corrupt: string[] = [];
  const store = await openStore(dir, {}, (id) => corrupt.push(id));
  for (let i = 1; i <= n; i++) await store.put(cid(i), pieces(bytes(size, i)));
  return { store, dir, corrupt };
}

function flipByte(dir: string, id: string, at: number): void {
  const file = join(dir, 'chunks', id.slice(0, 2), id);
  const b = readFileSync(file);
  b[at] = b[at]! ^ 0x01;
  writeFileSync(file, b);
}

function scrubber(store: ChunkStore, periodMs: number, bytesPerSecMax = 0, more: { resume?: ScrubPosition; reportRound?: (p: ScrubRoundPage) => Promise<boolean> } = {}): Scrubber {
  const s = new Scrubber(
    { store, clock: systemClock, timers: systemTimers, logger: silentLogger, ...(more.reportRound ? { reportRound: more.reportRound } : {}) },
    { periodMs, bytesPerSecMax, ...(more.resume ? { resume: more.resume } : {}) },
  );
  cleanups.push(() => s.stop());
  return s;
}

describe('Scrubber', () => {
  it('verifies every replica each pass and reports each corrupt one once', async () => {
    const { store, dir, corrupt } = await setup(8);
    flipByte(dir, cid(3), SEG + 10); // data of the second segment
    const size = readFileSync(join(dir, 'chunks', cid(6).slice(0, 2), cid(6))).length;
    flipByte(dir, cid(6), size - 40); // the CRC table
    const s = scrubber(store, 200);
    s.start();
    await waitUntil(() => s.counters.passes >= 2, 10_000);
    expect(new Set(corrupt)).toEqual(new Set([cid(3), cid(6)]));
    expect(corrupt).toHaveLength(2); // the store reports a replica once, however often it is re-verified
    expect(s.counters.verified).toBeGreaterThanOrEqual(16);
    expect(s.counters.corrupt).toBeGreaterThanOrEqual(2);
  });

  it('waits out the period between passes', async () => {
    const { store } = await setup(2);
    const s = scrubber(store, 800);
    const t0 = systemClock.nowMs();
    s.start();
    await waitUntil(() => s.counters.passes >= 2, 10_000);
    expect(systemClock.nowMs() - t0).toBeGreaterThanOrEqual(750);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.counters.passes).toBe(2); // the third pass is due only at ~1600 ms
  });

  it('reads no faster than bytesPerSecMax, and stop() ends a pass in progress', async () => {
    const { store } = await setup(4, 4 * SEG); // 1 MiB in all
    const rate = 2 * 1024 * 1024;
    const s = scrubber(store, 60_000, rate);
    const t0 = systemClock.nowMs();
    s.start();
    await waitUntil(() => s.counters.passes >= 1, 10_000);
    const elapsed = systemClock.nowMs() - t0;
    // Each replica's budget starts at its first batch; the last batch of each is free: ≥ 3/4 of 1 MiB at 2 MiB/s.
    expect(elapsed).toBeGreaterThanOrEqual(((3 * 4 * SEG) / rate) * 1000 * 0.9);
    // Now waiting for the next period (a minute): stop() returns at once.
    const t1 = systemClock.nowMs();
    await s.stop();
    expect(systemClock.nowMs() - t1).toBeLessThan(1000);

    const slow = scrubber(store, 60_000, 64 * 1024); // 16 s a pass
    slow.start();
    await new Promise((r) => setTimeout(r, 200));
    const t2 = systemClock.nowMs();
    await slow.stop();
    expect(systemClock.nowMs() - t2).toBeLessThan(1000);
    expect(slow.counters.passes).toBe(0);
  });

  it('after a clean stop resumes its schedule instead of verifying at once; without one verifies everything first', async () => {
    const { store, dir, corrupt } = await setup(4);
    flipByte(dir, cid(2), 10);
    // Between passes when it stopped: the next pass is a minute away.
    const waiting = scrubber(store, 10 * 60_000, 0, { resume: { prefix: null, waitMs: 60_000 } });
    waiting.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(waiting.counters.verified).toBe(0);
    expect(corrupt).toEqual([]);
    expect(waiting.position().prefix).toBeNull();
    expect(waiting.position().waitMs).toBeGreaterThan(55_000);
    expect(waiting.position().waitMs).toBeLessThanOrEqual(60_000);
    await waiting.stop();
    // No resume (the last stop was not clean): every replica at once.
    const first = scrubber(store, 10 * 60_000);
    first.start();
    await waitUntil(() => first.counters.passes >= 1);
    expect(first.counters.verified).toBe(4);
    expect(corrupt).toEqual([cid(2)]);
  });

  it('resumes a pass at the prefix it had reached, and says where it is', async () => {
    const { dir, cleanup } = tempDir('scrub-resume');
    cleanups.push(cleanup);
    const store = await openStore(dir);
    const ids = ['00', '40', '80', 'c0'].map((p) => p + '1'.repeat(30));
    for (const [i, id] of ids.entries()) await store.put(id, pieces(bytes(SEG, i + 1)));
    const s = scrubber(store, 10 * 60_000, 0, { resume: { prefix: 0x80, waitMs: 0 } });
    s.start();
    await waitUntil(() => s.counters.passes >= 1);
    expect(s.counters.verified).toBe(2); // the pass went on from 80: 80…, c0…
    expect(s.position()).toMatchObject({ prefix: null });
    const slow = scrubber(store, 10 * 60_000, 64 * 1024); // 1 s per replica
    slow.start();
    await waitUntil(() => slow.counters.verified >= 1 && slow.position().prefix === 0x40, 5000);
    expect(slow.position()).toEqual({ prefix: 0x40, waitMs: 0 });
    expect(slow.counters.verified).toBe(1); // at 40…, the second replica
  });

  it('runs an on-demand round at full speed: pages of verified and corrupt ids, then done; each round once', async () => {
    const { store, dir, corrupt } = await setup(5);
    flipByte(dir, cid(4), SEG + 3);
    const pages: ScrubRoundPage[] = [];
    const s = scrubber(store, 10 * 60_000, 1024, { resume: { prefix: null, waitMs: 60_000 }, reportRound: async (p) => (pages.push(p), true) });
    s.start();
    const cmd = parseScrubCommand({ op: 'scrub', round: '2-1', bytesPerSecMax: 0 })!;
    s.startRound(cmd);
    s.startRound(cmd);
    await waitUntil(() => pages.some((p) => p.done));
    expect(pages[0]).toEqual({ round: '2-1', page: 1, verified: [], corrupt: [], done: false });
    expect(pages.map((p) => p.page)).toEqual(pages.map((_, i) => i + 1));
    expect(pages.filter((p) => p.done)).toHaveLength(1);
    expect(pages.at(-1)!.done).toBe(true);
    expect(pages.flatMap((p) => p.verified).sort()).toEqual([1, 2, 3, 5].map(cid));
    expect(pages.flatMap((p) => p.corrupt)).toEqual([cid(4)]);
    expect(corrupt).toEqual([cid(4)]); // marked corrupt in the store: the chunk server deletes and reports it
    expect(s.counters).toMatchObject({ rounds: 1, roundsRunning: 0, roundVerified: 4, roundCorrupt: 1, passes: 0 });
    expect(parseScrubCommand({ op: 'scrub', round: '', bytesPerSecMax: 0 })).toBeNull();
    expect(parseScrubCommand({ op: 'scrub', round: 'r', bytesPerSecMax: -1 })).toBeNull();
    expect(parseScrubCommand({ op: 'copy', round: 'r', bytesPerSecMax: 0 })).toBeNull();
  });

  it('stops a round the leader no longer knows, and throttles one that asks for it', async () => {
    const { store } = await setup(3);
    const pages: ScrubRoundPage[] = [];
    const s = scrubber(store, 10 * 60_000, 0, { resume: { prefix: null, waitMs: 60_000 }, reportRound: async (p) => (pages.push(p), false) });
    s.start();
    s.startRound({ round: 'gone', bytesPerSecMax: 0 });
    await waitUntil(() => s.counters.roundsRunning === 0);
    expect(pages).toHaveLength(1);
    expect(s.counters.roundVerified).toBe(0);
    const paced: ScrubRoundPage[] = [];
    const t = scrubber(store, 10 * 60_000, 0, { resume: { prefix: null, waitMs: 60_000 }, reportRound: async (p) => (paced.push(p), true) });
    t.start();
    const t0 = systemClock.nowMs();
    t.startRound({ round: 'slow', bytesPerSecMax: 256 * 1024 }); // 3 × 128 KiB: the last batch of each is free, ≥ 3 × 0.25 s
    await waitUntil(() => paced.some((p) => p.done), 10_000);
    expect(systemClock.nowMs() - t0).toBeGreaterThanOrEqual(600);
  });

  it('stop() does not wait for a round report the leader never answers', async () => {
    const { store } = await setup(2);
    let calls = 0;
    const s = scrubber(store, 10 * 60_000, 0, { resume: { prefix: null, waitMs: 60_000 }, reportRound: () => (calls++, new Promise<boolean>(() => undefined)) });
    s.start();
    s.startRound({ round: 'r', bytesPerSecMax: 0 });
    await waitUntil(() => calls === 1);
    const t0 = systemClock.nowMs();
    await s.stop();
    expect(systemClock.nowMs() - t0).toBeLessThan(500);
    expect(s.counters.roundsRunning).toBe(0);
  });
});

/**
 * The scrubber over a real chunk store: every replica is verified each pass, a corrupt one (data
 * or table damaged on disk) is reported through the store's onCorrupt exactly once, passes repeat
 * once per period, the read rate is held under bytesPerSecMax, and stop() ends a pass or a wait.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scrubber } from '../../../src/chunk/scrubber.js';
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

function scrubber(store: ChunkStore, periodMs: number, bytesPerSecMax = 0): Scrubber {
  const s = new Scrubber({ store, clock: systemClock, timers: systemTimers, logger: silentLogger }, { periodMs, bytesPerSecMax });
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
});

/**
 * The chunk store on a disk that loses power (test/support/crash-fs.ts): at a call chosen by
 * the seed, in the middle of concurrent puts, re-puts and deletes, the disk keeps only what was
 * synced. Reopened, the store must hold every replica it acknowledged, byte-exact, none it
 * acknowledged deleting, and nothing torn under a replica's name. A put that skips its data
 * sync, or a rename or unlink without the directory sync after it, fails here.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../../src/env/rng.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { ChunkStore } from '../../../src/storage/chunk-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { CrashFs } from '../../support/crash-fs.js';
import { bytes, cid, collect, openStore, pieces, tempDir } from '../chunk/helpers.js';

const ROUNDS = 12;

interface Op {
  kind: 'put' | 'delete';
  id: string;
  data?: Buffer;
  streamed?: boolean;
}

/** A seed's workload: new replicas (in memory and streamed, 0 to 2.5 MiB), identical re-puts, deletes of older replicas. */
function workload(rng: SeededRng, older: Map<string, Buffer>): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < 14; i++) {
    // The largest class fills direct-write buffers (src/storage/direct-writes.ts).
    const size = [0, 1 + rng.int(4096), 1 + rng.int(70_000), 100_000 + rng.int(200_000), 1_048_576 + rng.int(1_500_000)][rng.int(5)]!;
    ops.push({ kind: 'put', id: cid(10_000 + rng.int(1_000_000)), data: bytes(size, 1 + rng.int(1000)), streamed: rng.int(2) === 0 });
  }
  for (const [id, data] of older) ops.push(rng.int(2) === 0 ? { kind: 'delete', id } : { kind: 'put', id, data });
  // Deletes and re-puts anywhere in the run, not only at its end.
  for (let i = ops.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [ops[i], ops[j]] = [ops[j]!, ops[i]!];
  }
  return ops;
}

/** Runs `ops` three at a time (so acknowledgements spread over the run), recording what was acknowledged. */
async function run(store: ChunkStore, ops: Op[]): Promise<{ stored: Map<string, Buffer>; deleted: Set<string>; failed: string[] }> {
  const stored = new Map<string, Buffer>();
  const deleted = new Set<string>();
  const failed: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    // Each turn takes the next operation; a failed one (the disk crashed) ends nothing else.
    while (next < ops.length) {
      const op = ops[next++]!;
      try {
        if (op.kind === 'delete') {
          if (await store.delete(op.id)) deleted.add(op.id);
          else failed.push(`delete ${op.id}: not there`);
        } else {
          await store.put(op.id, op.streamed ? pieces(op.data!, 16_384) : op.data!, { size: op.data!.length });
          stored.set(op.id, op.data!);
        }
      } catch (err) {
        // Not acknowledged: the checks below allow either outcome for it.
        failed.push(`${op.kind} ${op.id}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return { stored, deleted, failed };
}

async function seeded(dir: string, rng: SeededRng): Promise<Map<string, Buffer>> {
  const older = new Map<string, Buffer>();
  const s = await openStore(dir);
  for (let i = 1; i <= 4; i++) {
    const data = bytes(1 + rng.int(100_000), i);
    await s.put(cid(i), data);
    older.set(cid(i), data);
  }
  await s.close();
  return older;
}

async function countCalls(seed: number): Promise<number> {
  const { dir, cleanup } = tempDir('crash-dry');
  try {
    const rng = new SeededRng(seed);
    const older = await seeded(dir, rng);
    const fs = new CrashFs();
    const store = await crashStore(dir, fs);
    const before = fs.calls;
    const ops = workload(rng, older);
    const { stored, deleted, failed } = await run(store, ops);
    // Without a crash every operation is acknowledged (else the rounds below would prove nothing).
    expect(failed).toEqual([]);
    expect(stored.size + deleted.size).toBe(ops.length);
    await store.close();
    return fs.calls - before;
  } finally {
    cleanup();
  }
}

function crashStore(dir: string, fs: CrashFs): Promise<ChunkStore> {
  return ChunkStore.open({ rng: new SeededRng(3), clock: systemClock, timers: systemTimers, logger: silentLogger, fs }, { dir });
}

describe('ChunkStore when the power fails', () => {
  it('keeps every acknowledged replica byte-exact and every acknowledged delete, whatever call the power fails at', async () => {
    // A dry run counts a workload's calls, so the crash can fall anywhere in one.
    const calls = await countCalls(7000);
    let crashedMidway = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const seed = 7000 + round;
      const { dir, cleanup } = tempDir('crash');
      try {
        const rng = new SeededRng(seed);
        const older = await seeded(dir, rng);
        const ops = workload(rng, older);
        const crashAfter = 1 + new SeededRng(seed * 31).int(calls);
        const fs = new CrashFs();
        const store = await crashStore(dir, fs);
        fs.crashAtCall = fs.calls + crashAfter;
        const { stored, deleted } = await run(store, ops);
        await fs.crash();
        if (stored.size + deleted.size > 0 && stored.size + deleted.size < ops.length) crashedMidway++;

        const back = await openStore(dir);
        const why = `seed ${seed}, power lost at call ${crashAfter} of ${calls}`;
        for (const [id, data] of stored) {
          const r = await back.read(id).catch((e: unknown) => e as Error);
          expect(r instanceof Error ? r.message : 'read', `${why}: acknowledged replica ${id}`).toBe('read');
          expect((await collect((r as Awaited<ReturnType<ChunkStore['read']>>).stream)).equals(data), `${why}: bytes of ${id}`).toBe(true);
        }
        for (const id of deleted) expect(await back.stat(id), `${why}: deleted replica ${id} came back`).toBeNull();
        for await (const id of back.list()) expect((await back.verify(id)).ok, `${why}: ${id} is torn`).toBe(true);
        for (const [id, data] of older) {
          if (deleted.has(id) || stored.has(id)) continue;
          // Neither acknowledged: the replica is either whole or gone, never different.
          const st = await back.stat(id);
          if (st) expect(st.size, `${why}: ${id}`).toBe(data.length);
        }
        expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
        await back.close();
      } finally {
        cleanup();
      }
    }
    // The seeds put the crash in the middle of the workload (some acknowledged, some not), not only after it.
    expect(crashedMidway).toBeGreaterThan(ROUNDS / 2);
  }, 120_000);
});

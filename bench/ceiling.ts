/**
 * The machine's own ceilings, measured in the same run as each benchmark so figures can be
 * printed as ratios: synced small writes (write + fdatasync of 4 KiB) and synced throughput.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** How many 4 KiB write+fdatasync a second the disk under `dir` sustains (appending, like a log). */
export function syncedWritesPerSec(dir: string = tmpdir(), durationMs = 2000): number {
  const d = mkdtempSync(join(dir, 'cairn-ceiling-'));
  const fd = openSync(join(d, 'f'), 'w');
  const buf = Buffer.alloc(4096, 7);
  let n = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < durationMs) {
      writeSync(fd, buf);
      fdatasyncSync(fd);
      n++;
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    closeSync(fd);
    rmSync(d, { recursive: true, force: true });
  }
}

/** Percentile (0..100) of a sample, nearest-rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

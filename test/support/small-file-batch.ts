/**
 * A seeded batch of small puts for durability tests: several writers, each putting its own
 * sequence of files in order (inline ones up to the cluster's threshold, some exactly at it,
 * chunked ones just above it, empty ones, and overwrites of a path the writer owns), every
 * outcome recorded; then a check that what the cluster holds is what was acknowledged:
 *   - a path whose last acknowledged put is P holds exactly P's bytes, or the bytes of a put
 *     on that path attempted AFTER P (unacknowledged, it may have landed); never older bytes;
 *   - a path with no acknowledged put is absent or holds exactly one of its attempts' bytes;
 *   - nothing is ever partial, corrupt or unreadable.
 * Each path is written by one writer only, so the order of its attempts is well defined.
 */
import type { Readable } from 'node:stream';
import type { CairnClient } from '../../src/client/index.js';
import type { SeededRng } from '../../src/env/rng.js';
import { isCairnError } from '../../src/util/errors.js';
import { patternBytes } from '../integration/cli-harness.js';

export interface SmallPut {
  path: string;
  data: Buffer;
  overwrite: boolean;
}

export interface PutRecord {
  put: SmallPut;
  acked: boolean;
  /** The error code (or message) of a put that was not acknowledged. */
  error: string | null;
}

export interface BatchPlanOptions {
  /** Directory the batch writes below. */
  prefix: string;
  writers: number;
  putsPerWriter: number;
  /** The cluster's inline threshold: sizes are drawn on both sides of it. */
  inlineBytesMax: number;
}

/** Bytes past the threshold a "just above" chunked file may have. */
const ABOVE_BYTES_MAX = 2048;
/** Bytes below the threshold a "near" inline file may have. */
const NEAR_BYTES_MAX = 512;
/** Reads running at once while checking. */
const CHECK_READS_INFLIGHT = 8;

/** A size drawn from the mix described in the file comment. */
function drawSize(rng: SeededRng, max: number): number {
  const r = rng.int(100);
  if (r < 3) return 0;
  if (r < 55) return 1 + rng.int(Math.min(4096, max));
  if (r < 63) return max; // exactly at the threshold: still inline
  if (r < 75) return max - rng.int(NEAR_BYTES_MAX);
  return max + 1 + rng.int(ABOVE_BYTES_MAX); // just above: chunked
}

/** Each writer's puts, in the order it sends them; about one in six overwrites its own path. */
export function planSmallPuts(rng: SeededRng, o: BatchPlanOptions): SmallPut[][] {
  return Array.from({ length: o.writers }, (_, w) =>
    Array.from({ length: o.putsPerWriter }, (_, i): SmallPut => {
      const over = rng.int(6) === 0;
      const data = patternBytes(drawSize(rng, o.inlineBytesMax), rng.nextU32());
      return over ? { path: `${o.prefix}/w${w}/over`, data, overwrite: true } : { path: `${o.prefix}/w${w}/f${i}`, data, overwrite: false };
    }),
  );
}

export interface RunHooks {
  /** Called after each acknowledgement with the number of acknowledged puts so far. */
  onAck?(acked: number): void;
  /** Called after each put settled, acknowledged or not. */
  onSettled?(): void;
}

/**
 * Runs the plan: writer w sends its puts one after another through clients[w % clients.length],
 * all writers at once. Resolves with every put's outcome, writer by writer in plan order.
 */
export async function runSmallPuts(clients: CairnClient[], plan: SmallPut[][], hooks: RunHooks = {}): Promise<PutRecord[]> {
  let acked = 0;
  const perWriter = await Promise.all(
    plan.map(async (puts, w) => {
      const client = clients[w % clients.length]!;
      const out: PutRecord[] = [];
      for (const put of puts) {
        try {
          await client.put(put.path, [put.data], { overwrite: put.overwrite });
          out.push({ put, acked: true, error: null });
          hooks.onAck?.(++acked);
        } catch (e) {
          out.push({ put, acked: false, error: isCairnError(e) ? e.code : (e as Error).message });
        }
        hooks.onSettled?.();
      }
      return out;
    }),
  );
  return perWriter.flat();
}

/** A file's whole content, or null when it does not exist. */
export async function readWhole(client: CairnClient, path: string): Promise<Buffer | null> {
  let stream: Readable;
  try {
    stream = (await client.open(path)).stream;
  } catch (e) {
    if (isCairnError(e, 'NotFound')) return null;
    throw e;
  }
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

export interface BatchCheck {
  /** One line per violation of the rules in the file comment; [] when the cluster is right. */
  problems: string[];
  /** What each path holds now (null: absent). */
  contents: Map<string, Buffer | null>;
  /** Paths with no acknowledged put that hold one of their attempts / that are absent. */
  unackedPresent: number;
  unackedAbsent: number;
}

/** Reads every path of `records` through `client` and holds it to the rules in the file comment. */
export async function checkSmallPuts(client: CairnClient, records: PutRecord[]): Promise<BatchCheck> {
  const byPath = new Map<string, PutRecord[]>();
  for (const r of records) {
    const list = byPath.get(r.put.path) ?? [];
    list.push(r);
    byPath.set(r.put.path, list);
  }
  const problems: string[] = [];
  const contents = new Map<string, Buffer | null>();
  let unackedPresent = 0;
  let unackedAbsent = 0;
  const paths = [...byPath.keys()];
  let next = 0;
  await Promise.all(
    Array.from({ length: CHECK_READS_INFLIGHT }, async () => {
      for (let i = next++; i < paths.length; i = next++) {
        const path = paths[i]!;
        const attempts = byPath.get(path)!;
        let lastAcked = -1;
        attempts.forEach((r, j) => {
          if (r.acked) lastAcked = j;
        });
        let got: Buffer | null;
        try {
          got = await readWhole(client, path);
        } catch (e) {
          problems.push(`${path}: unreadable (${isCairnError(e) ? e.code : ''} ${(e as Error).message})`);
          continue;
        }
        contents.set(path, got);
        const allowed = attempts.slice(Math.max(lastAcked, 0));
        if (lastAcked < 0) {
          if (got === null) unackedAbsent++;
          else unackedPresent++;
        }
        if (got === null) {
          if (lastAcked >= 0) problems.push(`${path}: acknowledged put #${lastAcked + 1} of ${attempts.length} (${attempts[lastAcked]!.put.data.length} bytes) is gone`);
          continue;
        }
        if (allowed.some((r) => r.put.data.equals(got))) continue;
        const older = attempts.findIndex((r) => r.put.data.equals(got));
        problems.push(
          older >= 0
            ? `${path}: holds put #${older + 1} of ${attempts.length}, older than the last acknowledged #${lastAcked + 1}`
            : `${path}: holds ${got.length} bytes matching none of its ${attempts.length} puts (sizes ${attempts.map((r) => `${r.put.data.length}${r.acked ? '' : '?'}`).join(',')})`,
        );
      }
    }),
  );
  return { problems: problems.sort(), contents, unackedPresent, unackedAbsent };
}

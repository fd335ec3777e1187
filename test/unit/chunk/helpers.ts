/** Shared helpers for chunk store / chunk server tests: temp dirs, deterministic bytes, stores. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SeededRng } from '../../../src/env/rng.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { ChunkStore, type ChunkStoreOptions } from '../../../src/storage/chunk-store.js';
import { silentLogger } from '../../../src/util/logger.js';

export const SEG = 64 * 1024;

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `cairn-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const rng = new SeededRng(seed);
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE(rng.nextU32(), i);
  for (; i < n; i++) b[i] = rng.nextU32() & 0xff;
  return b;
}

/** A chunk id derived from a number. */
export function cid(n: number): string {
  return n.toString(16).padStart(32, '0');
}

/** Yields `buf` in pieces of `piece` bytes (exercises segment boundaries inside and across buffers). */
export async function* pieces(buf: Buffer, piece = 10_000): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += piece) yield buf.subarray(i, Math.min(buf.length, i + piece));
}

export async function collect(r: Readable | AsyncIterable<unknown>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

export async function openStore(dir: string, opts: Partial<ChunkStoreOptions> = {}, onCorrupt?: (id: string) => void): Promise<ChunkStore> {
  return ChunkStore.open(
    { rng: new SeededRng(7), clock: systemClock, timers: systemTimers, logger: silentLogger, ...(onCorrupt ? { onCorrupt } : {}) },
    { dir, ...opts },
  );
}

/** Polls `cond` every 10 ms for at most `ms`; fails the test if it never holds. */
export async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!cond()) throw new Error(`condition not reached within ${ms} ms`);
}

/** The error `p` rejects with; fails the test if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/**
 * The ONLY module that touches real time, real timers and OS randomness (checked by
 * test/tidy.test.ts). Everything else receives a Clock, Timers or Rng.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Clock, Timers } from './clock.js';
import type { Rng } from './rng.js';

export const systemClock: Clock = {
  nowMs: () => performance.now(),
};

/** Wall-clock milliseconds since the epoch, for user-visible timestamps (mtime) only. */
export function wallClockMs(): number {
  return Date.now();
}

export const systemTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

/**
 * Run `fn` once the current event-loop turn's I/O callbacks are done (setImmediate): work that
 * arrives in one turn (frames read from many sockets) is gathered before `fn` acts on it.
 */
export function systemDefer(fn: () => void): void {
  setImmediate(fn);
}

export const systemRng: Rng = {
  // randomInt's range (max - min) must stay below 2^48: draw from [0, 2^48 - 1).
  next: () => randomInt(0, 2 ** 48 - 1) / 2 ** 48,
  int: (n: number) => randomInt(0, n),
};

export function secureRandomBytes(n: number): Buffer {
  return randomBytes(n);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

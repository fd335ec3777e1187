/** Monotonic milliseconds. Production: env/system.ts; simulation: a virtual clock. */
export interface Clock {
  nowMs(): number;
}

/** Timers, injected so simulations can drive time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): { cancel(): void };
  setInterval(fn: () => void, ms: number): { cancel(): void };
}

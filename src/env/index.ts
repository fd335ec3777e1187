/** Injected environment: time and randomness. Only system.ts is real. */
export type { Clock, Timers } from './clock.js';
export type { Rng } from './rng.js';
export { SeededRng } from './rng.js';

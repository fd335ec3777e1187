/**
 * Assertions detect programmer errors (broken invariants). They throw AssertionError, which
 * nothing should catch except a process's top level: crashing and recovering from durable state
 * beats continuing with corrupted memory. Operating errors (bad input, I/O) use typed errors
 * from ./errors.ts instead.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(cond: unknown, message = 'assertion failed'): asserts cond {
  if (!cond) throw new AssertionError(message);
}

export function unreachable(x: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${String(x)}`);
}

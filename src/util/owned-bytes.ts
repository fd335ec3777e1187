/**
 * Byte arrays handed from one layer to the next with nothing else holding their memory: the frame
 * decoder marks a payload it assembled into memory of its own (net/frame.ts), and a decoder that
 * would otherwise copy fields out of the payload, so as not to pin a larger buffer or alias one its
 * caller may reuse, can keep views into a marked one instead (proto/raft-codec.ts). An unmarked
 * array is treated as borrowed. Pure: the simulator and the in-memory transport mark nothing.
 */
const owned = new WeakSet<Uint8Array>();

/** Mark `b` as handed over whole: its memory is no one else's. */
export function markOwned<T extends Uint8Array>(b: T): T {
  owned.add(b);
  return b;
}

/** Whether `b` was handed over whole; the mark is used up (a second taker sees it borrowed). */
export function takeOwned(b: Uint8Array): boolean {
  return owned.delete(b);
}

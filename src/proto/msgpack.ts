/**
 * The one msgpackr configuration for plain values (maps, arrays, strings, numbers, bytes).
 * Records/structures are off so every encoded value decodes on its own, with no shared state.
 */
import { Packr } from 'msgpackr';

/**
 * Pack with `packr` into one reused scratch buffer, then copy the result into memory of exactly
 * its size. msgpackr on its own appends each value to an output buffer and, when the next does
 * not fit, allocates a new one four times the value's size: for a value of 64 KiB that is a
 * 256 KiB allocation every few packs, above glibc's mmap threshold, so it is freshly mapped memory
 * and every page of it faults as it is written (scratch measure: ~39 µs to pack a 64 KiB body that
 * way, ~6 µs to copy it into an exact-size allocation). The scratch stays mapped and warm; the
 * copy of a value under the mmap threshold comes from malloc's recycled arena. A value larger than
 * the scratch is left in msgpackr's own allocation, as before, without the copy.
 *
 * The result is the caller's to keep: nothing here writes over it later. msgpackr's output
 * buffer is shared by every Packr in the process, so after each pack the scratch is marked full:
 * a Packr used without this (a test's, say) starts a buffer of its own rather than writing into
 * the scratch behind ours.
 */
export function scratchPacker(packr: Packr, scratchBytes: number): (value: unknown) => Uint8Array {
  const scratch = Buffer.allocUnsafeSlow(scratchBytes);
  return (value) => {
    packr.useBuffer(scratch);
    const out = packr.pack(value);
    if (out.buffer !== scratch.buffer) return out;
    const copy = Buffer.allocUnsafe(out.length);
    copy.set(out);
    packr.position = scratch.length;
    return copy;
  };
}

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });
/** Enough for every frame and record but bulk listings; those fall back to msgpackr's own allocation. */
const SCRATCH_BYTES = 1 << 20;

/** Encode one value; the bytes are the caller's to keep (see scratchPacker). */
export const pack: (value: unknown) => Uint8Array = scratchPacker(packr, SCRATCH_BYTES);

/** Decode one value; throws on malformed input (callers validate the shape). */
export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * The one msgpackr configuration for plain values (maps, arrays, strings, numbers, bytes).
 * Records/structures are off so every encoded value decodes on its own, with no shared state.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decode one value; throws on malformed input (callers validate the shape). */
export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/**
 * xxHash32 (Yann Collet's XXH32, written from the published algorithm description): a fast,
 * well-mixed, non-cryptographic 32-bit hash. Used for consistent-hash placement
 * (src/placement), where every node and every client must compute the same value, so the
 * output is part of the protocol: never change this function or the UTF-8 encoding of
 * strings below without versioning the ring.
 *
 * Not for security: it is trivially invertible by an adversary choosing inputs.
 * Pure: no node:* imports (TextEncoder is a language-level global in Node and browsers).
 */

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  acc = (acc + Math.imul(lane, P2)) | 0;
  acc = rotl(acc, 13);
  return Math.imul(acc, P1);
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) | 0;
}

/**
 * XXH32 of bytes[0, length) with a 32-bit seed. Returns an unsigned 32-bit integer.
 * `length` defaults to bytes.length (lets callers hash a prefix of a reusable buffer).
 */
export function xxhash32(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  let i = 0;
  let h: number;
  if (length >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const limit = length - 16;
    while (i <= limit) {
      v1 = round(v1, readU32(bytes, i));
      v2 = round(v2, readU32(bytes, i + 4));
      v3 = round(v3, readU32(bytes, i + 8));
      v4 = round(v4, readU32(bytes, i + 12));
      i += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + length) | 0;
  while (i + 4 <= length) {
    h = (h + Math.imul(readU32(bytes, i), P3)) | 0;
    h = Math.imul(rotl(h, 17), P4);
    i += 4;
  }
  while (i < length) {
    h = (h + Math.imul(bytes[i]!, P5)) | 0;
    h = Math.imul(rotl(h, 11), P1);
    i++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();
/** Scratch buffer for string hashing; grown on demand. Safe because hashing is synchronous. */
let scratch = new Uint8Array(256);

/** XXH32 of the UTF-8 encoding of `s` (lone surrogates encode as U+FFFD, as TextEncoder does). */
export function hash32(s: string, seed = 0): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (s.length * 3 > scratch.length) scratch = new Uint8Array(Math.max(s.length * 3, scratch.length * 2));
  const { written } = encoder.encodeInto(s, scratch);
  return xxhash32(scratch, seed, written);
}

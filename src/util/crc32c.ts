/**
 * CRC-32C (Castagnoli), the checksum of chunk data: hardware-accelerated (SSE4.2 / ARMv8) through
 * @node-rs/crc32. Chainable: `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`, and the CRC of no bytes is 0,
 * so a running checksum starts at 0 and folds each buffer in as it streams past.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC-32C of `buf`, continuing from `initial` (the CRC of everything before it; 0 at the start). */
export function crc32c(buf: Uint8Array, initial = 0): number {
  return nativeCrc32c(buf, initial) >>> 0;
}

/** A CRC as the 8 lowercase hex digits used in headers and reports. */
export function crcToHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, '0');
}

/** Parses exactly 8 hex digits (either case); null for anything else. */
export function crcFromHex(s: string): number | null {
  return /^[0-9a-fA-F]{8}$/.test(s) ? Number.parseInt(s, 16) >>> 0 : null;
}

/*
 * Combining CRCs: the CRC of A‖B from crc(A), crc(B) and |B| alone, without reading A again —
 * so a writer that already checksums every segment gets the whole-chunk CRC for free. CRC-32C is
 * reflected (bit 31 holds the coefficient of x^0) with initial value and final xor 0xFFFFFFFF;
 * then crc(A‖B) = crc(A)·x^(8|B|) mod P  ⊕  crc(B), the pre- and post-conditioning cancelling
 * out (the method of zlib's crc32_combine, in GF(2)[x] modulo the Castagnoli polynomial).
 */
const POLY_REFLECTED = 0x82f63b78;
const X0 = 0x80000000; // the polynomial 1 (x^0), reflected

/** a(x)·b(x) mod P(x), both reflected. */
function multModP(a: number, b: number): number {
  let p = 0;
  for (let m = X0; m !== 0; m >>>= 1) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    b = b & 1 ? (b >>> 1) ^ POLY_REFLECTED : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P. */
const X2N: number[] = [X0 >>> 1];
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1]!, X2N[k - 1]!));

/** The operator of crc32cCombineWith for a second part of `bytes` bytes: x^(8·bytes) mod P. */
export function crc32cShift(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`bad length ${bytes}`);
  let p = X0;
  let k = 3; // 8·bytes = bytes·2^3
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multModP(X2N[k % 32]!, p);
  return p;
}

/** crc32c(A‖B) from crc32c(A), crc32c(B) and the shift of |B| (crc32cShift, computed once per length). */
export function crc32cCombineWith(shift: number, crcA: number, crcB: number): number {
  return (multModP(shift, crcA >>> 0) ^ crcB) >>> 0;
}

/** crc32c(A‖B) from crc32c(A), crc32c(B) and |B|. */
export function crc32cCombine(crcA: number, crcB: number, bytesB: number): number {
  return crc32cCombineWith(crc32cShift(bytesB), crcA, crcB);
}

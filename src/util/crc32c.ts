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

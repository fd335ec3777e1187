/**
 * A whole file's CRC-32C composed from its parts' CRCs, without reading a byte: what Google
 * Cloud Storage reports for composite objects and HDFS calls COMPOSITE_CRC. The result equals
 * crc32c(part1 ‖ part2 ‖ …), the CRC of the file's bytes (so `cairn checksum`, `stat --json` and
 * the gateway's X-Cairn-Crc32c match any CRC-32C tool run on a downloaded copy).
 *
 * Cost: one GF(2) multiplication per part (crc32c.ts crc32cCombineWith), plus one shift operator
 * per distinct part size (files are cut in equal chunks, so usually one or two).
 */
import { crc32cCombineWith, crc32cShift } from './crc32c.js';

export interface CrcPart {
  /** Bytes in the part, >= 0. */
  size: number;
  /** CRC-32C of the part's bytes. */
  crc: number;
}

/** crc32c of the parts' bytes concatenated in order (0 for no parts, as for no bytes). */
export function composeCrc32c(parts: Iterable<CrcPart>): number {
  const shifts = new Map<number, number>();
  let whole = 0;
  let first = true;
  for (const p of parts) {
    if (first) {
      whole = p.crc >>> 0;
      first = false;
      continue;
    }
    let shift = shifts.get(p.size);
    if (shift === undefined) {
      shift = crc32cShift(p.size);
      shifts.set(p.size, shift);
    }
    whole = crc32cCombineWith(shift, whole, p.crc);
  }
  return whole;
}

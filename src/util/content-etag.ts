/**
 * A file's etag, derived from its content and its cut into chunks alone: the same bytes stored
 * with the same chunk size get the same etag (on every upload, through every client and the
 * gateway), and an inline file (stored with its metadata) gets the etag the same bytes would get
 * as a one-chunk file. Chunk ids, times and paths play no part.
 */
import { createHash } from 'node:crypto';
import type { CrcPart } from './crc32c-combine.js';

/**
 * hex(SHA-256(size as u64 BE ‖ for each chunk: size as u64 BE ‖ crc32c as u32 BE))[0:32].
 * Strong in practice for honest writers (a 32-bit CRC per chunk plus the sizes, hashed), not
 * against someone crafting collisions: CRC-32C is not a cryptographic hash.
 */
export function contentEtag(size: number, chunks: Iterable<CrcPart>): string {
  const h = createHash('sha256');
  const head = Buffer.alloc(8);
  head.writeBigUInt64BE(BigInt(size));
  h.update(head);
  const part = Buffer.alloc(12);
  for (const c of chunks) {
    part.writeBigUInt64BE(BigInt(c.size), 0);
    part.writeUInt32BE(c.crc >>> 0, 8);
    h.update(part);
  }
  return h.digest('hex').slice(0, 32);
}

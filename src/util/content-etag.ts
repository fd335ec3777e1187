/**
 * A file's etag, derived from its content and its cut into chunks alone: the same bytes stored
 * with the same chunk size get the same etag (on every upload, through every client and the
 * gateway), and an inline file (stored with its metadata) gets the etag the same bytes would get
 * as a one-chunk file. Chunk ids, times and paths play no part.
 */
import { createHash, hash, type Hash } from 'node:crypto';
import type { CrcPart } from './crc32c-combine.js';

/** Chunks laid out per block of hashed bytes. */
const BLOCK_CHUNKS = 1024;
/** The block, reused by every call (contentEtag is synchronous). */
const block = Buffer.allocUnsafe(8 + 12 * BLOCK_CHUNKS);

/**
 * hex(SHA-256(size as u64 BE ‖ for each chunk: size as u64 BE ‖ crc32c as u32 BE))[0:32].
 * Strong in practice for honest writers (a 32-bit CRC per chunk plus the sizes, hashed), not
 * against someone crafting collisions: CRC-32C is not a cryptographic hash.
 * The bytes are laid out in a block of up to BLOCK_CHUNKS chunks. A file whose list fits is
 * hashed in one call (every small put makes one: a streaming hash object per etag was ~2 % of a
 * metadata leader's time under 4 KiB puts); a longer list is streamed block by block.
 */
export function contentEtag(size: number, chunks: Iterable<CrcPart>): string {
  writeU64(block, 0, size);
  let at = 8;
  let streamed: Hash | null = null;
  for (const c of chunks) {
    if (at + 12 > block.length) {
      (streamed ??= createHash('sha256')).update(block.subarray(0, at));
      at = 0;
    }
    writeU64(block, at, c.size);
    block.writeUInt32BE(c.crc >>> 0, at + 8);
    at += 12;
  }
  const last = block.subarray(0, at);
  return (streamed === null ? hash('sha256', last, 'hex') : streamed.update(last).digest('hex')).slice(0, 32);
}

/** A safe non-negative integer as 8 bytes, big-endian. */
function writeU64(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / 2 ** 32), at);
  buf.writeUInt32BE(n >>> 0, at + 4);
}

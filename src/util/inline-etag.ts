/**
 * The etag of a file stored inline with its metadata (fs.put): computed by the leader for what it
 * stores and by a client that must name the etag before the leader answers (a deferred commit).
 */
import { createHash } from 'node:crypto';

/**
 * hex(SHA-256(0x69 ‖ size as u64 BE ‖ bytes))[0:32]. Derived from the content, so strong (same
 * etag ⇒ same bytes) and the same for the same bytes; the leading 0x69 byte keeps it apart from
 * chunked etags (whose hashed input starts with a size < 2^53, so with a zero byte).
 */
export function inlineEtag(data: Uint8Array): string {
  const head = Buffer.alloc(9);
  head[0] = 0x69;
  head.writeBigUInt64BE(BigInt(data.length), 1);
  return createHash('sha256').update(head).update(data).digest('hex').slice(0, 32);
}

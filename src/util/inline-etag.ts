/**
 * The etag of a file stored inline with its metadata (fs.put): computed by the leader for what it
 * stores and by a client that must name the etag before the leader answers (a deferred commit).
 */
import { contentEtag } from './content-etag.js';
import { crc32c } from './crc32c.js';

/**
 * contentEtag of `data` as one chunk (none when empty): the etag the same bytes get when stored
 * as a one-chunk file, so where a file is kept does not change its etag.
 */
export function inlineEtag(data: Uint8Array): string {
  return inlineEtagOf(data.length, crc32c(data));
}

/** inlineEtag of `size` bytes whose CRC-32C is `crc` (already computed: no second pass over them). */
export function inlineEtagOf(size: number, crc: number): string {
  return contentEtag(size, size === 0 ? [] : [{ size, crc }]);
}

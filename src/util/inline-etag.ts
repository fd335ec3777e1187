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
  return contentEtag(data.length, data.length === 0 ? [] : [{ size: data.length, crc: crc32c(data) }]);
}

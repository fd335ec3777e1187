/**
 * Chunk ids: exactly 32 lowercase hex digits (128 random bits, chosen by the metadata leader).
 * The pattern is the whole defence against path traversal: a chunk id becomes a file name
 * (`chunks/<first 2 digits>/<id>`) and a URL segment, so nothing else may ever pass.
 */
export const CHUNK_ID_RE = /^[0-9a-f]{32}$/;

export function isChunkId(s: unknown): s is string {
  return typeof s === 'string' && CHUNK_ID_RE.test(s);
}

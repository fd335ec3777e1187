/**
 * Field shapes and bounds that the metadata RPC (meta-requests.ts) and the replicated commands
 * (meta/meta-command.ts) share: a client session header, a chunk reference, etag and chunk-list
 * limits. Defined here, on the wire side, so that `meta` imports `proto` and never the reverse.
 */

/** Exactly-once header a client attaches to a write: s = [client, seq, ackedBelow]. */
export interface SessionHeader {
  client: string;
  /** >= 1. */
  seq: number;
  /** Every seq below this has its answer at the client; 0 <= ackedBelow <= seq. */
  ackedBelow: number;
}

export const CLIENT_ID_BYTES_MAX = 128;
export const CLIENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** One chunk of a file as the namespace records it. */
export interface ChunkRef {
  /** Chunk id (32 lowercase hex digits). */
  id: string;
  /** Bytes in the chunk, >= 1. */
  size: number;
  /** CRC32C of the chunk's bytes, 0..2^32-1. */
  crc: number;
}

/** Chunks in one file's list (with 64 MiB chunks: 64 TiB). */
export const FILE_CHUNKS_MAX = 1_000_000;
/** An etag: 1..ETAG_BYTES_MAX printable ASCII characters. */
export const ETAG_BYTES_MAX = 128;
/**
 * Largest inline file the protocol carries (fs.put data, fs.open's inline bytes, the replicated
 * command): a bound on every server's --inline-bytes-max, so one inline record always fits in a
 * Raft entry, an RPC frame and a snapshot piece.
 */
export const INLINE_FILE_BYTES_MAX = 1024 * 1024;

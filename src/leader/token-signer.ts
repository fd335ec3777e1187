/** Signs the chunk tokens the leader hands out (proto/ChunkToken provides it): what a chunk server will accept. */
export interface TokenSigner {
  /** A token for one operation on one chunk. */
  signFor(op: 'read' | 'write' | 'delete' | 'copy', chunkId: string, ttlMs: number): string;
  /** A write grant for every chunk id starting with `prefix` (fs.view). */
  signGrantFor(prefix: string, ttlMs: number): string;
}

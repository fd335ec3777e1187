/** Signs the chunk tokens the leader hands out (chunk/ChunkToken provides it): what a chunk server will accept for one chunk. */
export interface TokenSigner {
  signFor(op: 'read' | 'write' | 'delete' | 'copy', chunkId: string, ttlMs: number): string;
}

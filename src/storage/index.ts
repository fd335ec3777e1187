/** The storage layer's public face: the only users of lmdb and node:fs, and their in-memory twins. */
export { LmdbRaftStorage, type LmdbRaftStorageOptions } from './lmdb-raft-storage.js';
export { LmdbStateStore, STATE_KEY_BYTES_MAX, type LmdbStateStoreOptions, type StateReadSnapshot, type StateTxn } from './lmdb-state-store.js';
export { MemoryKvStore, type KvTxnLike } from './memory-kv-store.js';
export { MemoryRaftStorage } from './memory-raft-storage.js';
export {
  CHUNK_BYTES_MAX_DEFAULT,
  CHUNK_FOOTER_BYTES,
  ChunkStore,
  SEGMENT_BYTES_DEFAULT,
  type ChunkMeta,
  type ChunkPutOptions,
  type ChunkPutResult,
  type ChunkRead,
  type ChunkReadOptions,
  type ChunkSpace,
  type ChunkStoreComponents,
  type ChunkStoreOptions,
  type ChunkVerifyOptions,
  type ChunkVerifyResult,
} from './chunk-store.js';

/** src/client: the client library (namespace calls, streaming put and get). */
export { CairnClient, CHUNK_SIZE_MAX } from './cairn-client.js';
export type {
  CairnClientComponents,
  CairnClientOptions,
  ChunkTransport,
  ClientCounters,
  ClusterStatus,
  EntryType,
  ListEntry,
  ListResult,
  MetaCaller,
  PathArg,
  RepairStatus,
  ScrubRoundStatus,
  StatResult,
} from './cairn-client.js';
export { parseMetaAddrs, resolveClientConfig } from './client-config.js';
export type { ClientConfig, ResolveClientConfigInput } from './client-config.js';
export { createCairnClient } from './create-cairn-client.js';
export type { CreateCairnClientOptions } from './create-cairn-client.js';
export type { OpenRange, OpenResult } from './file-reader.js';
export { FileWriter } from './file-writer.js';
export type { PutResult, WriteOptions } from './file-writer.js';
export { MetaSession } from './meta-session.js';

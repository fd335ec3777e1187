/** src/client: the client library (namespace calls, streaming put and get). */
export { CairnClient, CHUNK_SIZE_MAX } from './cairn-client.js';
export type { CairnClientOptions, ClientCounters, ClusterStatus, EntryType, ListEntry, ListResult, StatResult } from './cairn-client.js';
export { parseMetaAddrs, resolveClientConfig } from './client-config.js';
export type { ClientConfig, ResolveClientConfigInput } from './client-config.js';
export type { OpenRange, OpenResult } from './file-reader.js';
export { FileWriter } from './file-writer.js';
export type { PutResult, WriteOptions } from './file-writer.js';
export { MetaSession } from './meta-session.js';

/**
 * Cairn's public library entry point (`import … from 'cairn'`): the client library and the
 * error catalogue. A batch job:
 *   const client = createCairnClient(resolveClientConfig());
 *   await client.put('/out.txt', transformed(client.createReadStream('/in.txt')));
 * (`new CairnClient(components, options)` runs the client over transports of one's own: tests.)
 */
export { CairnClient, CHUNK_SIZE_MAX, createCairnClient, FileWriter, parseMetaAddrs, resolveClientConfig } from './client/index.js';
export type {
  CairnClientComponents,
  CairnClientOptions,
  ClientConfig,
  ClientCounters,
  ClusterStatus,
  CreateCairnClientOptions,
  EntryType,
  ListEntry,
  ListResult,
  OpenRange,
  OpenResult,
  PathArg,
  PutResult,
  RepairStatus,
  ResolveClientConfigInput,
  StatResult,
  WriteOptions,
} from './client/index.js';
export { RemotePath } from './proto/path.js';
export { CairnError, ERROR_CODES, isCairnError, isRetryable } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';

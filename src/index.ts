/**
 * Cairn's public library entry point (`import … from 'cairn'`): the client library and the
 * error catalogue. A batch job:
 *   const client = new CairnClient(resolveClientConfig());
 *   await client.put('/out.txt', transformed(client.createReadStream('/in.txt')));
 */
export { CairnClient, CHUNK_SIZE_MAX, FileWriter, parseMetaAddrs, resolveClientConfig } from './client/index.js';
export type {
  CairnClientOptions,
  ClientConfig,
  ClientCounters,
  ClusterStatus,
  EntryType,
  ListEntry,
  ListResult,
  OpenRange,
  OpenResult,
  PutResult,
  ResolveClientConfigInput,
  StatResult,
  WriteOptions,
} from './client/index.js';
export { CairnError, ERROR_CODES, isCairnError } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';

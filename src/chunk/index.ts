/** src/chunk: the chunk server's data plane (HTTP), its client, and chunk access tokens. */
export { ChunkToken, CHUNK_OPS, CHUNK_TOKEN_CHARS } from './chunk-token.js';
export type { ChunkOp, ChunkTokenComponents, ChunkTokenOptions } from './chunk-token.js';
export { ChunkClient, H_CRC, H_PIPELINE, H_SIZE, H_TOKEN, formatPipeline, parsePipeline } from './chunk-client.js';
export type { ChunkClientComponents, ChunkClientOptions, ChunkClientPutOptions, ChunkGetOptions, ChunkGetResult, ChunkPutOutcome, ChunkTarget, ChunkTargetResult } from './chunk-client.js';
export { ChunkHttpServer } from './chunk-http-server.js';
export type { ChunkHttpServerComponents, ChunkHttpServerOptions } from './chunk-http-server.js';

/** src/chunk: the chunk server's data plane (HTTP) and its client (tokens and wire format live in src/proto). */
export { ChunkClient, H_CRC, H_PIPELINE, H_SIZE, H_TOKEN, formatPipeline, parsePipeline } from './chunk-client.js';
export type { ChunkClientComponents, ChunkClientOptions, ChunkClientPutOptions, ChunkGetOptions, ChunkGetResult, ChunkPutOutcome, ChunkTarget, ChunkTargetResult } from './chunk-client.js';
export { ChunkHttpServer } from './chunk-http-server.js';
export type { ChunkHttpServerComponents, ChunkHttpServerOptions } from './chunk-http-server.js';

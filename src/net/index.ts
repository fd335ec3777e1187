/** src/net: framed TCP transport, authentication, peer links, client RPC, and the in-memory twin. */
export { DEFAULT_FRAME_BYTES_MAX, FRAME_HEADER_BYTES, FrameDecoder, encodeFrame, isOversizeFrameError } from './frame.js';
export { FramedSocket } from './framed-socket.js';
export type { FramedSocketHandlers } from './framed-socket.js';
export { HANDSHAKE_FRAME_BYTES_MAX, computeMac, dialAuthenticated, splitAddr } from './handshake.js';
export type { AuthRole, Credential } from './handshake.js';
export { NetServer } from './net-server.js';
export type { NetServerComponents, NetServerCounters, NetServerHandlers, NetServerInit, PeerFrameHandler, RpcContext, RpcHandler } from './net-server.js';
export { PeerTransport } from './peer-transport.js';
export type { PeerTransportComponents, PeerTransportInit } from './peer-transport.js';
export { RpcClient } from './rpc-client.js';
export type { CallOptions, RpcClientComponents, RpcClientCounters, RpcClientInit } from './rpc-client.js';
export { MemoryNetwork, MemoryTransport } from './memory-transport.js';
export type { MemoryFrameHandler, MemoryTransportInit } from './memory-transport.js';
export { DEFAULT_QUEUE_BYTES_MAX, DEFAULT_QUEUE_MSGS_MAX, FrameQueue } from './types.js';
export type { PeerQueueLimits, PeerTransportApi, PeerTransportCounters } from './types.js';
export { findFreePortRange, portIsFree } from './free-ports.js';
export { createListener, dialSocket } from './tls.js';
export type { TlsClientConfig, TlsServerConfig } from './tls.js';

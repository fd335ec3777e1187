/** The metadata leader: what a metadata server serves over its Raft group (see meta-leader.ts). */
export { MetaLeader } from './meta-leader.js';
export { LeaderForwarder } from './leader-forwarder.js';
export type { Caller, MetaLeaderComponents, MetaLeaderOptions } from './meta-leader.js';
export type { LeaderRaft, LeaderRaftStatus } from './leader-raft.js';
export type { NamespaceReader } from './namespace-reader.js';
export type { TokenSigner } from './token-signer.js';
export { RepairScheduler } from './repair-scheduler.js';
export type { RepairSchedulerOptions, RepairStats, RepairTask } from './repair-scheduler.js';
export { ChunkRegistry } from './chunk-registry.js';
export type { ChunkRegistryOptions, ServerLoad } from './chunk-registry.js';

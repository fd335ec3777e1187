/** Public face of the pure Raft core. */
export { RaftNode } from './raft-node.js';
export { applyConfChange, encodeConfChange, decodeConfChange } from './conf-change.js';
export * from './types.js';

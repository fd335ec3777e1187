/**
 * Public face of placement: a consistent-hash ring with virtual nodes (pure).
 *
 *   const ring = Ring.build({ version: 1, vnodesPerWeight: DEFAULT_VNODES_PER_WEIGHT, servers });
 *   place(ring, chunkId, 3)           → ['c4', 'c1', 'c7']  where new replicas go (up servers, distinct zones first)
 *   owners(ring, chunkId, 3)          → the same walk ignoring state (where data sat with everyone up)
 *   preferenceList(ring, chunkId)     → every up server in failover order (handoffs after the first R)
 *   readOrder(ring, chunkId, 3)       → place() then non-dead owners(): where to try a read
 *   writeTargets(ring, chunkId, 3, writable, exclude) → where a new chunk is written (leader and client alike)
 *   addServer / removeServer / setState / setWeight(ring, ...) → new Ring, version + 1
 *   encodeRingLayout / decodeRingLayout (msgpack, validated; ProtocolError on bad input)
 *   movePlan(oldRing, newRing, chunkIds, R), idealMoveFraction(oldRing, newRing),
 *   estimateMoveFraction(oldRing, newRing, R)   (sampled, for judging a change before committing it)
 *
 * Weights are relative (1 = one standard server); each server gets
 * max(1, round(weight × vnodesPerWeight)) vnodes, so a change touches only that server's vnodes.
 *
 * Zones win over weights (Swift's dispersion before balance): with at least R zones every chunk
 * has its replicas in R distinct zones, so a zone whose total weight is far below the others
 * still receives about 1/R of all replicas, and lookups walk further to find it. Keep zone
 * weights similar; with clearly more zones than R a zone's share follows its weight more
 * closely (still at most one replica of a chunk per zone).
 */
export {
  Ring,
  RING_LIMITS,
  DEFAULT_VNODES_PER_WEIGHT,
  SERVER_STATES,
  validateLayout,
  validateServer,
  validateReplicas,
  vnodeCountOf,
} from './ring.js';
export type { RingLayout, RingServer, ServerState } from './ring.js';
export { place, owners, preferenceList, readOrder, chunkPoint, CHUNK_ID_CHARS_MAX } from './place.js';
export { writeTargets } from './write-targets.js';
export { addServer, removeServer, setState, setWeight, emptyRing } from './ring-edit.js';
export { encodeRingLayout, decodeRingLayout, ringLayoutToValue, ringLayoutFromValue, RING_CODEC_VERSION } from './ring-codec.js';
export { movePlan, idealMoveFraction, idealShares, estimateMoveFraction } from './move-plan.js';
export type { ChunkMove, MovePlan } from './move-plan.js';

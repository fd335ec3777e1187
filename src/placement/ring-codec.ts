/**
 * Wire form of a RingLayout (Raft entries, RPC replies, client caches), msgpack-encoded as a
 * compact array:
 *
 *   [codecVersion=1, layoutVersion, vnodesPerWeight, [[id, zone, weight, stateTag], ...]]
 *   stateTag: 0 up, 1 draining, 2 dead
 *
 * ringLayoutFromValue / decodeRingLayout trust nothing: shape, types and every rule of
 * validateLayout are checked, and any violation throws CairnError('ProtocolError'). The
 * *Value forms let a caller embed a layout inside a larger msgpack message.
 */
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import { Ring, RING_LIMITS, validateLayout, type RingLayout, type RingServer, type ServerState } from './ring.js';

export const RING_CODEC_VERSION = 1;

const STATE_TAGS: readonly ServerState[] = ['up', 'draining', 'dead'];

function bad(message: string): never {
  throw new CairnError('ProtocolError', `ring layout: ${message}`);
}

/** Plain msgpack-able value of a layout (servers in id order, so equal layouts encode to equal bytes). */
export function ringLayoutToValue(layout: RingLayout | Ring): unknown[] {
  const l = layout instanceof Ring ? layout.layout() : layout;
  const servers = [...l.servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [RING_CODEC_VERSION, l.version, l.vnodesPerWeight, servers.map((s) => [s.id, s.zone, s.weight, STATE_TAGS.indexOf(s.state)])];
}

export function ringLayoutFromValue(v: unknown): RingLayout {
  if (!Array.isArray(v) || v.length !== 4) bad('expected a 4-element array');
  const [codec, version, vnodesPerWeight, rawServers] = v as unknown[];
  if (codec !== RING_CODEC_VERSION) bad(`unknown codec version ${String(codec)}`);
  if (typeof version !== 'number' || typeof vnodesPerWeight !== 'number') bad('version and vnodesPerWeight must be numbers');
  if (!Array.isArray(rawServers)) bad('servers must be an array');
  if (rawServers.length > RING_LIMITS.serversMax) bad(`more than ${RING_LIMITS.serversMax} servers`);
  const servers: RingServer[] = rawServers.map((raw: unknown) => {
    if (!Array.isArray(raw) || raw.length !== 4) bad('server must be a 4-element array');
    const [id, zone, weight, tag] = raw as unknown[];
    if (typeof id !== 'string' || typeof zone !== 'string' || typeof weight !== 'number') bad('server id, zone must be strings and weight a number');
    if (typeof tag !== 'number' || !Number.isInteger(tag) || STATE_TAGS[tag] === undefined) bad(`unknown server state tag ${String(tag)}`);
    return { id, zone, weight, state: STATE_TAGS[tag]! };
  });
  const layout: RingLayout = { version, vnodesPerWeight, servers };
  validateLayout(layout, 'ProtocolError');
  return layout;
}

export function encodeRingLayout(layout: RingLayout | Ring): Uint8Array {
  return pack(ringLayoutToValue(layout));
}

/** Decodes and validates; throws CairnError('ProtocolError') on anything malformed. */
export function decodeRingLayout(bytes: Uint8Array): RingLayout {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch (e) {
    bad(`undecodable msgpack (${(e as Error).message})`);
  }
  return ringLayoutFromValue(v);
}

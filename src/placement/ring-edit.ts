/**
 * Ring changes as pure functions: each takes a Ring and returns a new Ring with version + 1
 * (the input is not modified). The metadata leader proposes the resulting layout as one Raft
 * entry; replicas apply it by building the same ring.
 *
 * Errors: CairnError 'InvalidArgument' (bad id, zone, weight, state), 'AlreadyExists' (addServer
 * of a known id), 'NotFound' (an unknown id). Changing a server's vnode count (weight) moves
 * only replicas involving that server; setState moves nothing on the circle, it only changes
 * which servers place() may choose.
 */
import { CairnError } from '../util/errors.js';
import { Ring, SERVER_STATES, validateServer, type RingLayout, type RingServer, type ServerState } from './ring.js';

function next(ring: Ring, servers: RingServer[]): Ring {
  const layout: RingLayout = { version: ring.version + 1, vnodesPerWeight: ring.vnodesPerWeight, servers };
  return Ring.build(layout);
}

function existing(ring: Ring, id: string): RingServer {
  const s = ring.server(id);
  if (!s) throw new CairnError('NotFound', `no ring server ${String(id).slice(0, 80)}`);
  return s;
}

/** Adds a server (state defaults to 'up'). */
export function addServer(ring: Ring, server: Omit<RingServer, 'state'> & { state?: ServerState }): Ring {
  const s: RingServer = { id: server.id, zone: server.zone, weight: server.weight, state: server.state ?? 'up' };
  validateServer(s);
  if (ring.server(s.id)) throw new CairnError('AlreadyExists', `ring server ${s.id} already exists`);
  return next(ring, [...ring.servers, s]);
}

/** Removes a server and its vnodes. Prefer setState('draining') first so its data moves away while it still serves reads. */
export function removeServer(ring: Ring, id: string): Ring {
  existing(ring, id);
  return next(ring, ring.servers.filter((s) => s.id !== id));
}

/** Marks a server up, draining or dead. */
export function setState(ring: Ring, id: string, state: ServerState): Ring {
  if (!SERVER_STATES.includes(state)) throw new CairnError('InvalidArgument', `state must be one of ${SERVER_STATES.join(', ')}`);
  existing(ring, id);
  return next(ring, ring.servers.map((s) => (s.id === id ? { ...s, state } : s)));
}

/** Changes a server's capacity weight (and so its vnode count). */
export function setWeight(ring: Ring, id: string, weight: number): Ring {
  const old = existing(ring, id);
  validateServer({ ...old, weight });
  return next(ring, ring.servers.map((s) => (s.id === id ? { ...s, weight } : s)));
}

/** An empty ring at version 0 (the cluster map before any chunk server registered). */
export function emptyRing(vnodesPerWeight: number): Ring {
  return Ring.build({ version: 0, vnodesPerWeight, servers: [] });
}

/**
 * Every metadata RPC method → who may call it, its request decoder and its handler. Roles:
 * 'client' methods are open to every authenticated caller (client token or cluster secret);
 * 'service' methods only to cluster servers (cluster secret), whose id is the chunk server id.
 */
import { META_REQUEST_DECODERS as d, type MetaMethod, type MetaRequestDecoder, type MetaRequests } from '../proto/meta-requests.js';
import type { MetaAnswers } from '../proto/meta-answers.js';
import type { Allocator } from './allocator.js';
import type { BackupCalls } from './backup-calls.js';
import type { ChunkServers } from './chunk-servers.js';
import type { ClusterAdmin } from './cluster-admin.js';
import type { MetaMembership } from './meta-membership.js';
import type { NamespaceCalls } from './namespace-calls.js';
import type { ScrubCalls } from './scrub-calls.js';

/** Who is calling, as the dispatcher checked it. */
export interface RpcCall {
  /** The calling cluster server's id: always set for 'service' methods. */
  serverId: string;
  /** Aborted when the caller's connection closes. */
  signal: AbortSignal | undefined;
}

export interface Route<M extends MetaMethod> {
  role: 'client' | 'service';
  decode: MetaRequestDecoder<M>;
  /** Typed by the protocol's answer map: the leader cannot answer another shape than the client decodes. */
  handle(req: MetaRequests[M], call: RpcCall): MetaAnswers[M] | Promise<MetaAnswers[M]>;
}

export type DispatchTable = { readonly [M in MetaMethod]: Route<M> };

export interface LeaderParts {
  namespace: NamespaceCalls;
  allocator: Allocator;
  chunkServers: ChunkServers;
  admin: ClusterAdmin;
  scrub: ScrubCalls;
  backups: BackupCalls;
  members: MetaMembership;
}

export function dispatchTable(p: LeaderParts): DispatchTable {
  const ns = p.namespace;
  const cs = p.chunkServers;
  return {
    'fs.stat': { role: 'client', decode: d['fs.stat'], handle: (r) => ns.stat(r) },
    'fs.list': { role: 'client', decode: d['fs.list'], handle: (r) => ns.list(r, false) },
    'fs.walk': { role: 'client', decode: d['fs.walk'], handle: (r) => ns.list(r, true) },
    'fs.mkdir': { role: 'client', decode: d['fs.mkdir'], handle: (r) => ns.mkdir(r) },
    'fs.rm': { role: 'client', decode: d['fs.rm'], handle: (r) => ns.rm(r) },
    'fs.mv': { role: 'client', decode: d['fs.mv'], handle: (r) => ns.mv(r) },
    'fs.copy': { role: 'client', decode: d['fs.copy'], handle: (r) => ns.copy(r) },
    'fs.concat': { role: 'client', decode: d['fs.concat'], handle: (r) => ns.concat(r) },
    'fs.view': { role: 'client', decode: d['fs.view'], handle: () => p.allocator.view() },
    'fs.alloc': { role: 'client', decode: d['fs.alloc'], handle: (r) => p.allocator.alloc(r) },
    'fs.retarget': { role: 'client', decode: d['fs.retarget'], handle: (r) => p.allocator.retarget(r) },
    'fs.commit': { role: 'client', decode: d['fs.commit'], handle: (r) => ns.commit(r) },
    'fs.put': { role: 'client', decode: d['fs.put'], handle: (r) => ns.put(r) },
    'fs.open': { role: 'client', decode: d['fs.open'], handle: (r) => ns.open(r) },
    'fs.bad': { role: 'client', decode: d['fs.bad'], handle: (r, c) => ns.bad(r, c.signal) },
    'fs.statLocal': { role: 'client', decode: d['fs.statLocal'], handle: (r) => ns.statLocal(r) },
    'cs.register': { role: 'service', decode: d['cs.register'], handle: (r, c) => cs.register(c.serverId, r) },
    'cs.heartbeat': { role: 'service', decode: d['cs.heartbeat'], handle: (r, c) => cs.heartbeat(c.serverId, r) },
    'cs.reportBegin': { role: 'service', decode: d['cs.reportBegin'], handle: (r, c) => cs.reportBegin(c.serverId, r) },
    'cs.reportPage': { role: 'service', decode: d['cs.reportPage'], handle: (r, c) => cs.reportPage(c.serverId, r) },
    'cs.reportEnd': { role: 'service', decode: d['cs.reportEnd'], handle: (r, c) => cs.reportEnd(c.serverId, r) },
    'cs.update': { role: 'service', decode: d['cs.update'], handle: (r, c) => cs.update(c.serverId, r) },
    'cs.work': { role: 'service', decode: d['cs.work'], handle: (r, c) => cs.work(c.serverId, r, c.signal) },
    'cluster.status': { role: 'client', decode: d['cluster.status'], handle: () => p.admin.status() },
    'cluster.drain': { role: 'client', decode: d['cluster.drain'], handle: (r) => p.admin.drain(r) },
    'cluster.remove': { role: 'client', decode: d['cluster.remove'], handle: (r) => p.admin.remove(r) },
    // Inline files ride along with the repair counters: they are data no chunk server holds.
    // So do the scrub counters (the latest `cairn scrub` round).
    'cluster.repair': { role: 'client', decode: d['cluster.repair'], handle: () => withInline({ ...p.admin.repair(), ...p.scrub.counters() }, ns) },
    'raft.status': { role: 'client', decode: d['raft.status'], handle: () => p.admin.raftStatus() },
    'cluster.scrub': { role: 'client', decode: d['cluster.scrub'], handle: (r) => p.scrub.start(r) },
    'cluster.scrubStatus': { role: 'client', decode: d['cluster.scrubStatus'], handle: (r) => p.scrub.status(r) },
    'cs.scrubReport': { role: 'service', decode: d['cs.scrubReport'], handle: (r, c) => p.scrub.report(c.serverId, r) },
    'cluster.backupOpen': { role: 'client', decode: d['cluster.backupOpen'], handle: () => p.backups.begin() },
    'cluster.backupNext': { role: 'client', decode: d['cluster.backupNext'], handle: (r) => p.backups.next(r) },
    'cluster.backupClose': { role: 'client', decode: d['cluster.backupClose'], handle: (r) => p.backups.finish(r) },
    'meta.add': { role: 'client', decode: d['meta.add'], handle: (r) => p.members.add(r) },
    'meta.remove': { role: 'client', decode: d['meta.remove'], handle: (r) => p.members.remove(r) },
    'meta.transferLeader': { role: 'client', decode: d['meta.transferLeader'], handle: (r) => p.members.transferLeader(r) },
  };
}

/** The repair counters plus the cluster's inline files and bytes (committed state). */
function withInline(r: MetaAnswers['cluster.repair'], ns: NamespaceCalls): MetaAnswers['cluster.repair'] {
  const u = ns.inlineUsage();
  return { ...r, inlineFiles: u.files, inlineBytes: u.bytes };
}

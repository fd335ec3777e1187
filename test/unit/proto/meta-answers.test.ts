import { describe, expect, it } from 'vitest';
import {
  decodeView,
  decodeAlloc,
  decodeClusterStatus,
  decodeCommands,
  decodeCommit,
  decodeEmpty,
  decodeHeartbeat,
  decodeList,
  decodeOpen,
  decodeRaftStatus,
  decodeRegister,
  decodeRepairStatus,
  decodeReportEnd,
  decodeRetarget,
  decodeScrubReport,
  decodeScrubRound,
  decodeStat,
  decodeStatLocal,
} from '../../../src/proto/meta-answers.js';
import { CairnError } from '../../../src/util/errors.js';

// Answers shaped as the metadata service builds them (src/leader).
const ID = (n: number): string => n.toString(16).padStart(32, '0');

const stat = { path: '/a/b', type: 'file', size: 10, mtime: 1_700_000_000_000, etag: 'e1', chunks: [{ id: ID(1), size: 10, crc: 0xffffffff, replicas: ['c1', 'c2'] }] };
const list = { entries: [{ name: 'b', path: '/a/b', type: 'dir', size: 0, mtime: 5 }], cursor: null };
const alloc = { chunkSize: 8 << 20, chunks: [{ id: ID(2), targets: [{ id: 'c1', addr: '127.0.0.1:1', token: 't1' }] }] };
const openChunk = (i: number): Record<string, unknown> => ({ id: ID(i + 1), size: 4, crc: i, offset: 4 * i, replicas: [{ id: 'c1', addr: '127.0.0.1:1' }], token: `t${i}` });
const open = { size: 16, etag: 'e', mtime: 3, total: 4, chunks: [0, 1, 2, 3].map(openChunk) };
const status = {
  health: 'degraded',
  leader: 'm1',
  meta: [
    { id: 'm1', addr: '127.0.0.1:7001', role: 'leader' },
    { id: 'm2', addr: null, role: 'unreachable' },
  ],
  chunkServers: [{ id: 'c1', addr: '127.0.0.1:8001', state: 'draining', used: 1, capacity: 2, chunks: 3 }],
  chunks: { total: 3, underReplicated: 1, lost: 0 },
};
const repair = {
  chunks: 3,
  underReplicated: 0,
  lost: 0,
  copiesQueued: 1,
  deletesQueued: 0,
  copiesInFlight: 2,
  copiesScheduled: 2,
  copiesConfirmed: 0,
  copiesFailed: 0,
  copiesLost: 0,
  deletesScheduled: 0,
  garbageChunks: 0,
  copyBytes: 0,
  copyBytesPerSec: 1.5,
  ready: false,
  reportsPending: ['c2'],
};
const raft = {
  id: 'm1',
  term: 3,
  vote: 'm1',
  commit: 10,
  applied: 10,
  lastIndex: 11,
  role: 'leader',
  leader: 'm1',
  conf: { voters: ['m1', 'm2', 'm3'], learners: [] },
  progress: null,
  leadTransferee: null,
  addrs: { m1: '127.0.0.1:7001' },
};

function protocolError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    expect((e as CairnError).code).toBe('ProtocolError');
    return (e as CairnError).message;
  }
  throw new Error('expected a ProtocolError');
}

/** `v` with the value at `path` (keys and indexes) replaced by `x` (undefined: deleted). */
function withField(v: unknown, path: Array<string | number>, x: unknown): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (x === undefined) delete o[last];
  else o[last] = x;
  return copy;
}

describe('meta answer decoders', () => {
  it('accept what the server sends and keep the fields the client uses', () => {
    expect(decodeStat(stat)).toEqual(stat);
    expect(decodeList(list)).toEqual(list);
    expect(decodeList({ ...list, cursor: 'k' }, 'fs.walk').cursor).toBe('k');
    expect(decodeAlloc(alloc)).toEqual(alloc);
    expect(decodeRetarget({ targets: alloc.chunks[0]!.targets })).toEqual({ targets: alloc.chunks[0]!.targets });
    expect(decodeCommit({ path: '/x', size: 1, etag: 'e', mtime: 2 })).toEqual({ path: '/x', size: 1, etag: 'e', mtime: 2 });
    expect(decodeOpen(open)).toEqual(open);
    expect(decodeClusterStatus(status)).toEqual(status);
    expect(decodeRepairStatus(repair)).toEqual(repair);
    expect(decodeRaftStatus(raft)).toEqual({ id: 'm1', term: 3, role: 'leader', leader: 'm1', commit: 10, applied: 10, lastIndex: 11, conf: raft.conf, addrs: raft.addrs, leaderContactMs: null, progress: null });
    expect(decodeRaftStatus({ ...raft, leaderContactMs: 0, progress: { m2: { match: 9, recentActive: true } } })).toMatchObject({ leaderContactMs: 0, progress: { m2: { match: 9 } } });
    // An older leader sends no verdict: one that answered has a quorum, so the verdict is judged from the rest.
    const { health: _h, ...older } = status;
    expect(decodeClusterStatus(older).health).toBe('degraded');
    const detail = {
      raft: { term: 2, commit: 5, applied: 5 },
      metaDetail: { m1: { term: 2, commit: 5, applied: 5, lag: 0, lastContactMs: 0 }, m2: { term: null, commit: null, applied: null, lag: 3, lastContactMs: null } },
      chunkServerDetail: { c1: { heartbeatAgeMs: 120, free: 9, disk: '64768' } },
      totals: { files: 1, dirs: 2, bytes: 3, rawBytes: 9, capacity: 20, free: 9 },
      repair: { copiesQueued: 1, copiesInFlight: 0, copyBytesPerSec: 0, etaSeconds: null },
    };
    expect(decodeClusterStatus({ ...status, ...detail })).toEqual({ ...status, ...detail });
    expect(decodeStatLocal({ applied: 4, types: ['file', null, 'dir'] })).toEqual({ applied: 4, types: ['file', null, 'dir'] });
    expect(() => decodeEmpty({}, 'fs.mkdir')).not.toThrow();
  });

  it('copy only the known fields (nothing unchecked passes through)', () => {
    const st = decodeStat({ ...stat, extra: { big: true }, chunks: [{ ...stat.chunks[0], evil: 1 }] });
    expect(st).toEqual(stat);
    expect(decodeClusterStatus({ ...status, more: 1 })).toEqual(status);
  });

  it('a null etag and a missing cursor read as null', () => {
    expect(decodeStat({ ...stat, type: 'dir', etag: null, chunks: [] }).etag).toBeNull();
    expect(decodeOpen({ ...open, etag: null }).etag).toBeNull();
    expect(decodeList({ entries: [] }).cursor).toBeNull();
  });

  it('name the method and the field of a malformed answer', () => {
    expect(protocolError(() => decodeOpen(withField(open, ['chunks', 3, 'size'], -1)))).toBe('fs.open answer: chunks[3].size must be a non-negative integer');
    expect(protocolError(() => decodeOpen(withField(open, ['chunks', 1, 'replicas', 0, 'addr'], 7)))).toBe('fs.open answer: chunks[1].replicas[0].addr must be a string');
    expect(protocolError(() => decodeOpen(withField(open, ['chunks', 2], 'x')))).toBe('fs.open answer: chunks[2] must be a map');
    expect(protocolError(() => decodeOpen(withField(open, ['chunks', 0, 'crc'], 2 ** 32)))).toMatch(/^fs\.open answer: chunks\[0\]\.crc must be a CRC-32C/);
    expect(protocolError(() => decodeOpen(withField(open, ['chunks', 0, 'id'], '../../etc/passwd')))).toMatch(/^fs\.open answer: chunks\[0\]\.id must be a chunk id/);
    expect(protocolError(() => decodeOpen(withField(open, ['total'], 1.5)))).toBe('fs.open answer: total must be a non-negative integer');
    expect(protocolError(() => decodeOpen(null))).toBe('fs.open answer must be a map');
    expect(protocolError(() => decodeOpen([open]))).toBe('fs.open answer must be a map');
    expect(protocolError(() => decodeStat(withField(stat, ['type'], 'link')))).toBe("fs.stat answer: type must be one of 'file', 'dir'");
    expect(protocolError(() => decodeStat(withField(stat, ['chunks', 0, 'replicas', 1], 3)))).toBe('fs.stat answer: chunks[0].replicas[1] must be a string');
    expect(protocolError(() => decodeStat(withField(stat, ['etag'], 5)))).toBe('fs.stat answer: etag must be a string or null');
    expect(protocolError(() => decodeList(withField(list, ['entries'], undefined), 'fs.walk'))).toBe('fs.walk answer: entries must be an array');
    expect(protocolError(() => decodeList(withField(list, ['entries', 0, 'mtime'], '5')))).toBe('fs.list answer: entries[0].mtime must be a non-negative integer');
    expect(protocolError(() => decodeAlloc(withField(alloc, ['chunks'], [])))).toBe('fs.alloc answer: chunks must be a non-empty array');
    expect(protocolError(() => decodeAlloc(withField(alloc, ['chunkSize'], 0)))).toBe('fs.alloc answer: chunkSize must be a positive integer');
    expect(protocolError(() => decodeAlloc(withField(alloc, ['chunks', 0, 'targets', 0, 'token'], undefined)))).toBe('fs.alloc answer: chunks[0].targets[0].token must be a string');
    expect(protocolError(() => decodeRetarget({ targets: [{ id: 'c1', addr: 'a' }] }))).toBe('fs.retarget answer: targets[0].token must be a string');
    expect(protocolError(() => decodeCommit({ path: '/x', size: 1, etag: 'e' }))).toBe('fs.commit answer: mtime must be a non-negative integer');
    expect(protocolError(() => decodeEmpty('ok', 'cluster.drain'))).toBe('cluster.drain answer must be a map');
  });

  it('check cluster.status, cluster.repair and raft.status down to nested fields', () => {
    expect(protocolError(() => decodeClusterStatus(withField(status, ['chunks', 'lost'], null)))).toBe('cluster.status answer: chunks.lost must be a non-negative integer');
    expect(protocolError(() => decodeClusterStatus(withField(status, ['chunks'], 3)))).toBe('cluster.status answer: chunks must be a map');
    expect(protocolError(() => decodeClusterStatus(withField(status, ['meta', 1, 'role'], 'boss')))).toMatch(/^cluster\.status answer: meta\[1\]\.role must be one of 'leader'/);
    expect(protocolError(() => decodeClusterStatus(withField(status, ['chunkServers', 0, 'state'], 'up')))).toMatch(/^cluster\.status answer: chunkServers\[0\]\.state must be one of/);
    expect(protocolError(() => decodeRepairStatus(withField(repair, ['copiesQueued'], undefined)))).toBe('cluster.repair answer: copiesQueued must be a non-negative number');
    expect(protocolError(() => decodeRepairStatus(withField(repair, ['copiesLost'], 'x')))).toBe('cluster.repair answer: copiesLost must be a non-negative number');
    expect(protocolError(() => decodeRepairStatus(withField(repair, ['ready'], 1)))).toBe('cluster.repair answer: ready must be a boolean');
    expect(protocolError(() => decodeRepairStatus(withField(repair, ['reportsPending', 0], 2)))).toBe('cluster.repair answer: reportsPending[0] must be a string');
    expect(protocolError(() => decodeClusterStatus(withField(status, ['health'], 'fine')))).toMatch(/^cluster\.status answer: health must be one of 'healthy'/);
    expect(protocolError(() => decodeClusterStatus({ ...status, totals: { files: 1 } }))).toBe('cluster.status answer: totals.dirs must be a non-negative number');
    expect(protocolError(() => decodeClusterStatus({ ...status, chunkServerDetail: { c1: { free: 1, disk: 3 } } }))).toBe('cluster.status answer: chunkServerDetail.c1.disk must be a string or null');
    expect(protocolError(() => decodeRaftStatus(withField(raft, ['leaderContactMs'], -1)))).toBe('raft.status answer: leaderContactMs must be a non-negative integer');
    expect(protocolError(() => decodeRaftStatus(withField(raft, ['conf', 'voters'], 'm1')))).toBe('raft.status answer: conf.voters must be an array of strings');
    expect(protocolError(() => decodeRaftStatus(withField(raft, ['addrs', 'm1'], 1)))).toBe('raft.status answer: addrs.m1 must be a string');
    expect(protocolError(() => decodeStatLocal({ applied: 1, types: ['file', 'pipe'] }))).toBe("fs.statLocal answer: types[1] must be 'file', 'dir' or null");
  });

  it('check cluster.scrub / cluster.scrubStatus rounds down to each server, and cs.scrubReport', () => {
    const round = {
      round: '3-1',
      state: 'running',
      error: null,
      checked: 5,
      corrupt: 1,
      missing: 0,
      repaired: 0,
      unrepairable: 0,
      servers: [{ id: 'c1', state: 'scrubbing', checked: 5, corrupt: 1, missing: 0, expected: 9 }],
      extra: 'ignored',
    };
    const { extra: _extra, ...want } = round;
    expect(decodeScrubRound(round)).toEqual(want);
    expect(decodeScrubRound({ ...round, state: 'failed', error: 'c1 died' }, 'cluster.scrub').error).toBe('c1 died');
    expect(protocolError(() => decodeScrubRound(withField(round, ['state'], 'paused')))).toMatch(/^cluster\.scrubStatus answer: state must be one of 'running'/);
    expect(protocolError(() => decodeScrubRound(withField(round, ['repaired'], -1), 'cluster.scrub'))).toBe('cluster.scrub answer: repaired must be a non-negative integer');
    expect(protocolError(() => decodeScrubRound(withField(round, ['servers', 0, 'expected'], 'x')))).toBe('cluster.scrubStatus answer: servers[0].expected must be a non-negative integer');
    expect(protocolError(() => decodeScrubRound(withField(round, ['servers', 0, 'state'], 'idle')))).toMatch(/^cluster\.scrubStatus answer: servers\[0\]\.state must be one of 'waiting'/);
    expect(decodeScrubReport({ active: false })).toEqual({ active: false });
    expect(protocolError(() => decodeScrubReport({ active: 'no' }))).toBe('cs.scrubReport answer: active must be a boolean');
  });

  it('fs.view: the ring as an array (placement validates it), servers, R, chunk size and the grant, each field checked', () => {
    const view = {
      ringVersion: 4,
      ring: [1, 4, 1024, [['c1', 'z1', 1, 0]]],
      servers: [{ id: 'c1', addr: 'h:1', writable: true, extra: 1 }],
      replicas: 3,
      chunkSize: 4096,
      grant: { prefix: '0123456789abcdef', token: 'tok', ttlMs: 60_000 },
    };
    expect(decodeView(view)).toEqual({ ...view, servers: [{ id: 'c1', addr: 'h:1', writable: true }] });
    expect(protocolError(() => decodeView(withField(view, ['ring'], 'x')))).toBe('fs.view answer: ring must be an array');
    expect(protocolError(() => decodeView(withField(view, ['servers', 0, 'writable'], 'yes')))).toBe('fs.view answer: servers[0].writable must be a boolean');
    expect(protocolError(() => decodeView(withField(view, ['replicas'], 0)))).toBe('fs.view answer: replicas must be a positive integer');
    expect(protocolError(() => decodeView(withField(view, ['chunkSize'], 0)))).toBe('fs.view answer: chunkSize must be a positive integer');
    expect(protocolError(() => decodeView(withField(view, ['grant', 'prefix'], '0123456789ABCDEF')))).toBe('fs.view answer: grant.prefix must be 16 lowercase hex digits');
    expect(protocolError(() => decodeView(withField(view, ['grant', 'ttlMs'], 0)))).toBe('fs.view answer: grant.ttlMs must be a positive integer');
    expect(protocolError(() => decodeView(withField(view, ['grant', 'token'], 5)))).toBe('fs.view answer: grant.token must be a string');
    expect(protocolError(() => decodeView(withField(view, ['ringVersion'], -1)))).toBe('fs.view answer: ringVersion must be a non-negative integer');
  });

  it('fs.open of an inline file carries exactly its bytes and CRC, and no chunks; fs.put answers as fs.commit', () => {
    const data = Uint8Array.of(1, 2, 3);
    const inline = { size: 3, etag: 'e', mtime: 3, total: 0, chunks: [], inline: { data, crc: 9 } };
    expect(decodeOpen(inline)).toEqual(inline);
    expect(decodeOpen({ ...inline, inline: null }).inline).toBeUndefined();
    expect(protocolError(() => decodeOpen({ ...inline, size: 4 }))).toBe("fs.open answer: inline.data must be bytes, exactly the file's 4");
    expect(protocolError(() => decodeOpen(withField(inline, ['inline', 'data'], 'abc')))).toBe("fs.open answer: inline.data must be bytes, exactly the file's 3");
    expect(protocolError(() => decodeOpen(withField(inline, ['inline', 'crc'], -1)))).toMatch(/^fs\.open answer: inline\.crc must be a CRC-32C/);
    expect(protocolError(() => decodeOpen(withField(inline, ['inline'], 5)))).toBe('fs.open answer: inline must be a map');
    expect(protocolError(() => decodeOpen({ ...inline, total: 1 }))).toBe('fs.open answer: total must be 0 for an inline file');
    expect(decodeCommit({ path: '/x', size: 1, etag: 'e', mtime: 2 }, 'fs.put')).toEqual({ path: '/x', size: 1, etag: 'e', mtime: 2 });
    expect(protocolError(() => decodeCommit({ path: '/x', size: 1, mtime: 2 }, 'fs.put'))).toBe('fs.put answer: etag must be a string');
  });

  it('check the chunk-server answers (repair commands are left to the replicator, item by item)', () => {
    const copy = { op: 'copy', id: ID(1), sources: [{ id: 'c2', addr: 'a' }], token: 't' };
    expect(decodeHeartbeat({ needReport: true, registered: false, commands: [copy, { op: 'new' }] })).toEqual({ needReport: true, registered: false, commands: [copy, { op: 'new' }] });
    expect(decodeCommands({ commands: [] }, 'cs.work')).toEqual({ commands: [] });
    expect(decodeRegister({ ringVersion: 4 })).toEqual({ ringVersion: 4 });
    expect(decodeReportEnd({ dropped: 0 })).toEqual({ dropped: 0 });
    expect(protocolError(() => decodeHeartbeat({ needReport: 'yes', registered: true, commands: [] }))).toBe('cs.heartbeat answer: needReport must be a boolean');
    expect(protocolError(() => decodeHeartbeat({ needReport: true, registered: true }))).toBe('cs.heartbeat answer: commands must be an array');
    expect(protocolError(() => decodeCommands({ commands: {} }, 'cs.update'))).toBe('cs.update answer: commands must be an array');
    expect(protocolError(() => decodeRegister({}))).toBe('cs.register answer: ringVersion must be a non-negative integer');
    expect(protocolError(() => decodeReportEnd({ dropped: -2 }))).toBe('cs.reportEnd answer: dropped must be a non-negative integer');
  });
});

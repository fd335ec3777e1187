/** Meta RPC request decoders: every method has one; wrong types and out-of-range values are refused naming the field. */
import { describe, expect, it } from 'vitest';
import {
  META_METHODS,
  META_REQUEST_DECODERS,
  WORK_WAIT_MS_MAX,
  isMetaMethod,
  type MetaMethod,
} from '../../../src/proto/meta-requests.js';
import { INLINE_FILE_BYTES_MAX } from '../../../src/proto/meta-fields.js';
import { isCairnError } from '../../../src/util/errors.js';

const ID = 'ab'.repeat(16);
const S = ['client-1', 2, 1];

/** A valid body per method, and bad values per field (each must be refused naming that field). */
const cases: { [M in MetaMethod]: { ok: Record<string, unknown>; bad: Array<[string, unknown, string?]> } } = {
  'fs.stat': { ok: { path: '/a' }, bad: [['path', 5, 'InvalidPath'], ['path', '', 'InvalidPath'], ['path', 'x'.repeat(4097), 'InvalidPath']] },
  'fs.list': { ok: { path: '/a', limit: 10, cursor: 'b' }, bad: [['path', null, 'InvalidPath'], ['limit', 0], ['limit', 10_001], ['limit', 1.5], ['cursor', 7], ['cursor', '']] },
  'fs.walk': { ok: { path: '/a' }, bad: [['path', ['/a'], 'InvalidPath'], ['limit', '10']] },
  'fs.mkdir': { ok: { path: '/a', parents: true, s: S }, bad: [['parents', 'yes'], ['s', undefined], ['s', ['c', 1]], ['s', ['bad id!', 1, 0]], ['s', ['c', 0, 0]], ['s', ['c', 2, 3]], ['s', ['c', 2, -1]]] },
  'fs.rm': { ok: { path: '/a', recursive: false, s: S }, bad: [['recursive', 1], ['path', undefined, 'InvalidPath'], ['s', 'c']] },
  'fs.mv': { ok: { from: '/a', to: '/b', s: S }, bad: [['from', 3, 'InvalidPath'], ['to', undefined, 'InvalidPath'], ['s', null]] },
  'fs.concat': {
    ok: { dir: '/u', names: ['p1', 'p2'], to: '/b/k', overwrite: true, parents: false, attrs: { 'content-type': 'x/y' }, s: S },
    bad: [['dir', 3, 'InvalidPath'], ['to', '', 'InvalidPath'], ['names', []], ['names', ['p1', 'p1']], ['names', ['a/b']], ['names', ['..']], ['names', new Array(10_001).fill('p')], ['overwrite', 'yes'], ['parents', 1], ['s', undefined]],
  },
  'fs.copy': { ok: { from: '/a', to: '/b', overwrite: true, parents: false, s: S }, bad: [['from', 3, 'InvalidPath'], ['to', '', 'InvalidPath'], ['overwrite', 'yes'], ['parents', 1], ['s', undefined]] },
  'fs.view': { ok: {}, bad: [] },
  'fs.alloc': { ok: { count: 2, exclude: ['c1'] }, bad: [['count', 0], ['count', 65], ['count', '2'], ['exclude', 'c1'], ['exclude', ['x'.repeat(65)]], ['exclude', [5]], ['exclude', new Array(257).fill('c')]] },
  'fs.retarget': { ok: { id: ID, exclude: [] }, bad: [['id', 'AB'.repeat(16)], ['id', ID + '0'], ['exclude', {}]] },
  'fs.commit': {
    ok: { path: '/f', size: 3, etag: 'e', chunks: [[ID, 3, 7]], s: S, ringVersion: 4 },
    bad: [
      ['ringVersion', -1],
      ['ringVersion', '4'],
      ['size', -1],
      ['size', 2 ** 53],
      ['etag', ''],
      ['etag', 'e'.repeat(129)],
      ['chunks', undefined],
      ['chunks', {}],
      ['chunks', [[ID, 3]]],
      ['chunks', [['x', 3, 7]]],
      ['chunks', [[ID, -1, 7]]],
      ['chunks', [[ID, 3, 2 ** 32]]],
      ['overwrite', 'no'],
      ['parents', 0],
      ['s', [1, 1, 0]],
    ],
  },
  'fs.put': {
    ok: { path: '/f', data: new Uint8Array(3), crc: 7, overwrite: true, parents: false, s: S },
    bad: [
      ['path', 1, 'InvalidPath'],
      ['data', 'abc'],
      ['data', [1, 2]],
      ['data', undefined],
      ['data', new Uint8Array(INLINE_FILE_BYTES_MAX + 1)],
      ['crc', -1],
      ['crc', 2 ** 32],
      ['crc', undefined],
      ['overwrite', 'no'],
      ['parents', 0],
      ['s', undefined],
    ],
  },
  'fs.open': { ok: { path: '/f', first: 2, count: 5 }, bad: [['first', -1], ['count', 0], ['count', 10_001], ['path', true, 'InvalidPath']] },
  'fs.bad': { ok: { id: ID, server: 'c1' }, bad: [['id', 'nope'], ['server', ''], ['server', 'x'.repeat(65)]] },
  'cluster.status': { ok: {}, bad: [] },
  'fs.statLocal': { ok: { paths: ['/a', '/b'] }, bad: [['paths', '/a'], ['paths', ['']], ['paths', new Array(10_001).fill('/a')]] },
  'cs.register': {
    ok: { addr: 'h:1', zone: 'z-1', capacityBytes: 100 },
    bad: [['addr', ''], ['addr', 'a'.repeat(301)], ['zone', 'bad zone'], ['zone', 3], ['capacityBytes', -1], ['capacityBytes', 2 ** 53]],
  },
  'cs.heartbeat': {
    ok: { usedBytes: 1, capacityBytes: 2, freeBytes: 1, chunks: 0, full: false, copyFailed: [ID], copiedBytes: 9, repairIdle: true },
    bad: [['usedBytes', -1], ['capacityBytes', 'x'], ['freeBytes', undefined], ['chunks', 0.5], ['full', 'no'], ['copyFailed', ['zz']], ['copyFailed', new Array(1001).fill(ID)], ['copiedBytes', null], ['repairIdle', 1]],
  },
  'cs.reportBegin': { ok: { report: 1 }, bad: [['report', -1], ['report', '1']] },
  'cs.reportPage': { ok: { report: 1, ids: [ID] }, bad: [['report', undefined], ['ids', ['x']], ['ids', new Array(10_001).fill(ID)]] },
  'cs.reportEnd': { ok: { report: 1 }, bad: [['report', null]] },
  'cs.update': { ok: { added: [ID], removed: [] }, bad: [['added', [ID.toUpperCase()]], ['removed', 'x']] },
  'cs.work': { ok: { waitMs: 100 }, bad: [['waitMs', -1], ['waitMs', WORK_WAIT_MS_MAX + 1], ['waitMs', undefined]] },
  'raft.status': { ok: {}, bad: [] },
  'cluster.drain': { ok: { id: 'c1' }, bad: [['id', ''], ['id', 1]] },
  'cluster.remove': { ok: { id: 'c1', force: true }, bad: [['id', undefined], ['force', 'yes']] },
  'cluster.repair': { ok: {}, bad: [] },
  'cluster.scrub': { ok: { server: 'c1', bytesPerSecMax: 1024, timeoutMs: 60_000 }, bad: [['server', ''], ['server', 'x'.repeat(65)], ['bytesPerSecMax', -1], ['bytesPerSecMax', 1.5], ['timeoutMs', 0], ['timeoutMs', 8 * 24 * 3_600_000]] },
  'cluster.scrubStatus': { ok: { round: '3-1' }, bad: [['round', ''], ['round', 7], ['round', 'x'.repeat(65)]] },
  'cs.scrubReport': { ok: { round: '3-1', page: 2, verified: [ID], corrupt: [], done: true }, bad: [['round', undefined], ['page', 0], ['page', undefined], ['verified', [ID.toUpperCase()]], ['corrupt', 'x'], ['done', 'yes']] },
  'cluster.backupOpen': { ok: {}, bad: [] },
  'cluster.backupNext': { ok: { cursor: 'ab12', seq: 1 }, bad: [['cursor', undefined], ['cursor', 'x'.repeat(65)], ['seq', 0], ['seq', '1']] },
  'cluster.backupClose': { ok: { cursor: 'ab12' }, bad: [['cursor', 3], ['cursor', '']] },
  'meta.add': { ok: { id: 'm4', addr: '127.0.0.1:7004' }, bad: [['id', undefined], ['id', 'm 4'], ['id', 'x'.repeat(33)], ['addr', undefined], ['addr', '127.0.0.1'], ['addr', 'h:70000'], ['addr', 5]] },
  'meta.remove': { ok: { id: 'm2' }, bad: [['id', undefined], ['id', ''], ['id', 'a/b']] },
  'meta.transferLeader': { ok: { id: 'm2' }, bad: [['id', 3], ['id', 'm?']] },
};

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

describe('meta request decoders', () => {
  it('cover exactly the method list', () => {
    expect(Object.keys(META_REQUEST_DECODERS).sort()).toEqual([...META_METHODS].sort());
    expect(new Set(META_METHODS).size).toBe(37);
    expect(isMetaMethod('fs.stat')).toBe(true);
    expect(isMetaMethod('toString')).toBe(false);
    expect(isMetaMethod('fs.nope')).toBe(false);
  });

  it.each(META_METHODS)('%s accepts a good body and refuses a non-map body', (m) => {
    expect(() => META_REQUEST_DECODERS[m](cases[m].ok)).not.toThrow();
    for (const raw of ['str', 5, [1], new Uint8Array(1)]) expect(refusal(() => META_REQUEST_DECODERS[m](raw)).code).toBe('InvalidArgument');
  });

  it.each(META_METHODS.filter((m) => cases[m].bad.length > 0))('%s refuses each bad field, naming it', (m) => {
    for (const [field, value, code] of cases[m].bad) {
      const r = refusal(() => META_REQUEST_DECODERS[m]({ ...cases[m].ok, [field]: value }));
      expect(r.code, `${m} ${field}=${JSON.stringify(value)}`).toBe(code ?? 'InvalidArgument');
      expect(r.message, `${m} ${field}`).toMatch(new RegExp(`^${field}[ [(]`));
    }
  });

  it('fills the defaults of absent optional fields', () => {
    expect(META_REQUEST_DECODERS['fs.open']({ path: '/f' })).toEqual({ path: '/f', first: 0, count: 10_000 });
    expect(META_REQUEST_DECODERS['fs.list']({ path: '/d' })).toEqual({ path: '/d' });
    expect(META_REQUEST_DECODERS['fs.alloc']({ count: 1 })).toEqual({ count: 1, exclude: [] });
    expect(META_REQUEST_DECODERS['cluster.remove']({ id: 'c1' })).toEqual({ id: 'c1', force: false });
    expect(META_REQUEST_DECODERS['cs.update'](null)).toEqual({ added: [], removed: [] });
    expect(META_REQUEST_DECODERS['cluster.status'](undefined)).toEqual({});
    expect(META_REQUEST_DECODERS['cluster.scrub'](null)).toEqual({ bytesPerSecMax: 0 });
    expect(META_REQUEST_DECODERS['cluster.scrubStatus'](null)).toEqual({});
    expect(META_REQUEST_DECODERS['cs.scrubReport']({ round: 'r', page: 1 })).toEqual({ round: 'r', page: 1, verified: [], corrupt: [], done: false });
    const c = META_REQUEST_DECODERS['fs.commit']({ path: '/f', size: 3, etag: 'e', chunks: [[ID, 3, 7]], s: S });
    expect(c).toEqual({ path: '/f', size: 3, etag: 'e', chunks: [{ id: ID, size: 3, crc: 7 }], overwrite: false, parents: true, s: { client: 'client-1', seq: 2, ackedBelow: 1 } });
    const data = Uint8Array.of(1, 2, 3);
    expect(META_REQUEST_DECODERS['fs.put']({ path: '/f', data, crc: 9, s: S })).toEqual({ path: '/f', data, crc: 9, overwrite: false, parents: true, s: { client: 'client-1', seq: 2, ackedBelow: 1 } });
    expect(META_REQUEST_DECODERS['fs.put']({ path: '/f', data: new Uint8Array(INLINE_FILE_BYTES_MAX), crc: 0, s: S }).data.length).toBe(INLINE_FILE_BYTES_MAX);
    const h = META_REQUEST_DECODERS['cs.heartbeat']({ usedBytes: 1, capacityBytes: 2, freeBytes: 1, chunks: 0, full: true });
    expect(h).toEqual({ usedBytes: 1, capacityBytes: 2, freeBytes: 1, chunks: 0, full: true, repairIdle: false });
  });
});

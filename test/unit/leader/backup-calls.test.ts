/**
 * The leader's backup calls (leader/backup-calls.ts): a backup reads one consistent image after
 * a ReadIndex round, piece by piece; a repeated piece request gets the same piece, a skipped one
 * is refused; cursors expire when idle, are closed at the end, and are bounded in number;
 * followers answer NotLeader. Also through MetaLeader's dispatch (cluster.backup* methods).
 */
import { describe, expect, it } from 'vitest';
import { BackupCalls, type BackupSource } from '../../../src/leader/backup-calls.js';
import { pairSnapshotReader } from '../../../src/consensus/kv-snapshot.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { unpack } from '../../../src/proto/msgpack.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';
import { ManualTime } from '../../support/manual-time.js';
import { harness } from './helpers.js';

async function store(n: number): Promise<MemoryKvStore> {
  const s = new MemoryKvStore();
  await s.applyBatch(5, (txn) => {
    for (let i = 0; i < n; i++) txn.put(`k${String(i).padStart(4, '0')}`, new Uint8Array(100).fill(i & 0xff));
  });
  return s;
}

function setup(s: MemoryKvStore, o: { openMax?: number; idleMs?: number } = {}) {
  const time = new ManualTime();
  let leader = true;
  let reads = 0;
  const closed: number[] = [];
  const source: BackupSource = {
    async open() {
      const r = pairSnapshotReader(await s.readSnapshot());
      return { reader: { index: r.index, next: (b) => r.next(b), close: () => (closed.push(r.index), r.close()) }, info: { clusterId: 'cid', index: r.index, term: 3, members: ['m1'] } };
    },
  };
  let n = 0;
  const calls = new BackupCalls(
    {
      raft: {
        isLeader: () => leader,
        notLeader: () => new CairnError('NotLeader', 'not the leader'),
        linearizableRead: async () => void reads++,
      },
      source,
      timers: time,
      randomBytes: (len) => new Uint8Array(len).fill(++n),
      logger: silentLogger,
    },
    { pieceBytesMax: 1000, ...o },
  );
  return { calls, time, closed, reads: () => reads, stepDown: () => (leader = false) };
}

async function code(p: unknown): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return err.code;
    throw err;
  }
  return 'ok';
}

describe('BackupCalls', () => {
  it('hands out the image in order after a ReadIndex round; a repeated seq gets the same piece, a skipped one is refused', async () => {
    const s = await store(50);
    const t = setup(s);
    const open = await t.calls.begin();
    expect(t.reads()).toBe(1);
    expect(open).toMatchObject({ clusterId: 'cid', index: 5, term: 3, members: ['m1'] });
    // The image is the state at open: a later write is not in it.
    await s.applyBatch(6, (txn) => txn.put('k9999', Uint8Array.of(1)));
    const keys: string[] = [];
    let seq = 1;
    for (;; seq++) {
      const { piece } = await t.calls.next({ cursor: open.cursor, seq });
      const again = await t.calls.next({ cursor: open.cursor, seq });
      expect(again.piece).toEqual(piece);
      if (piece === null) break;
      for (const [k] of unpack(piece) as Array<[string, Uint8Array]>) keys.push(k);
    }
    expect(seq).toBeGreaterThan(3);
    expect(keys).toEqual(Array.from({ length: 50 }, (_, i) => `k${String(i).padStart(4, '0')}`));
    expect(await code(t.calls.next({ cursor: open.cursor, seq: seq + 2 }))).toBe('InvalidArgument');
    t.calls.finish({ cursor: open.cursor });
    await Promise.resolve();
    expect(t.closed).toEqual([5]);
    expect(await code(t.calls.next({ cursor: open.cursor, seq: 1 }))).toBe('NotFound');
  });

  it('closes a backup whose client went silent, bounds how many are open, and refuses on a follower', async () => {
    const t = setup(await store(3), { openMax: 2, idleMs: 1000 });
    const a = await t.calls.begin();
    await t.calls.begin();
    expect(await code(t.calls.begin())).toBe('Unavailable');
    t.time.advance(600);
    await t.calls.next({ cursor: a.cursor, seq: 1 });
    t.time.advance(600);
    await Promise.resolve();
    expect(t.closed.length).toBe(1);
    expect(await code(t.calls.next({ cursor: a.cursor, seq: 2 }))).toBe('ok');
    t.time.advance(1001);
    await Promise.resolve();
    expect(await code(t.calls.next({ cursor: a.cursor, seq: 3 }))).toBe('NotFound');
    expect(t.closed.length).toBe(2);
    t.stepDown();
    expect(await code(t.calls.begin())).toBe('NotLeader');
  });

  it('is reachable through the dispatch table; a server without a source refuses', async () => {
    const h = harness();
    expect((await h.refusal('cluster.backupOpen')).code).toBe('Unavailable');
    expect((await h.refusal('cluster.backupNext', { cursor: 'x', seq: 1 })).code).toBe('NotFound');
    expect((await h.refusal('cluster.backupNext', { cursor: 'x', seq: 0 })).code).toBe('InvalidArgument');
    expect(await h.call('cluster.backupClose', { cursor: 'x' })).toEqual({});
  });
});

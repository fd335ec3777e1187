/** MetaStateMachine: batches of Raft entries, non-command entries, undecodable entries, snapshots between stores. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetaStateMachine } from '../../../src/consensus/meta-state-machine.js';
import { encodeMetaCommand, type MetaCommand } from '../../../src/meta/meta-command.js';
import { pack } from '../../../src/proto/msgpack.js';
import { EntryType, type Entry } from '../../../src/raft/types.js';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-meta-sm-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
const s = () => ({ client: 't', seq: ++seq, ackedBelow: seq });
const entry = (index: number, cmd: MetaCommand | Uint8Array, type = EntryType.Normal): Entry => ({
  term: 1,
  index,
  type,
  data: cmd instanceof Uint8Array ? cmd : encodeMetaCommand(cmd),
});

describe('MetaStateMachine', () => {
  it('applies a batch in one transaction; no-ops and ConfChanges advance the index with no result', async () => {
    const store = new MemoryKvStore();
    const sm = new MetaStateMachine(store);
    const res = await sm.apply([
      entry(1, new Uint8Array(0)),
      entry(2, { op: 'mkdir', session: s(), nowMs: 5, path: '/a/b', parents: true }),
      entry(3, Uint8Array.from([1, 2, 3]), EntryType.ConfChange),
      entry(4, { op: 'commitFile', session: s(), nowMs: 6, path: '/a/b/f', file: { size: 0, etag: 'e', chunks: [] }, overwrite: false, createParents: false }),
      entry(5, { op: 'rename', session: s(), nowMs: 7, from: '/a/b', to: '/c' }),
      entry(6, { op: 'delete', session: s(), nowMs: 8, path: '/a', recursive: false }),
    ]);
    expect(res).toEqual([undefined, { ok: true }, undefined, { ok: true }, { ok: true }, { ok: true }]);
    expect(sm.appliedIndex()).toBe(6);
    expect(store.batches).toBe(1);
    const st = sm.stat('/c/f');
    expect(st.ok && st.stat).toEqual({ type: 'file', size: 0, mtime: 6, etag: 'e', chunks: [] });
    const ls = sm.list('/');
    expect(ls.ok && ls.entries).toEqual([{ name: 'c', type: 'dir', size: 0, mtime: 6 }]); // touched by the commit into it, not by its move
    expect(sm.list('/c/f')).toEqual({ ok: true, entries: [{ name: 'f', type: 'file', size: 0, mtime: 6 }], cursor: null });
    expect(sm.stat('/nope')).toMatchObject({ ok: false, code: 'NotFound' });
    expect(sm.stat('relative')).toMatchObject({ ok: false, code: 'InvalidPath' });
    expect(sm.list('/', { limit: 0 })).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(sm.list('/', { cursor: 'a/b' })).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(sm.walk('/', { cursor: '../x' })).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(sm.list('/c/f/x')).toMatchObject({ ok: false, code: 'NotADirectory' });
  });

  it('applies an undecodable entry as a no-op with an error outcome, and the rest of the batch normally', async () => {
    const sm = new MetaStateMachine(new MemoryKvStore());
    const res = (await sm.apply([
      entry(1, pack([1, 99, 'c', 1, 0, 0])),
      entry(2, pack([1, 1, 'c', 1, 0, 0, '/a/../b', false])),
      entry(3, { op: 'mkdir', session: s(), nowMs: 1, path: '/ok', parents: false }),
    ])) as Array<{ ok: boolean; code?: string }>;
    expect(res.map((r) => r.ok || r.code)).toEqual(['InvalidArgument', 'InvalidPath', true]);
    expect(sm.stat('/ok').ok).toBe(true);
  });

  it('a snapshot of one LMDB replica installs on another, which then agrees', async () => {
    const a = await LmdbStateStore.open(join(root, 'a'));
    const b = await LmdbStateStore.open(join(root, 'b'));
    try {
      const sa = new MetaStateMachine(a);
      const sb = new MetaStateMachine(b);
      const cmds: Entry[] = [];
      for (let i = 0; i < 300; i++) {
        cmds.push(entry(i + 1, { op: 'mkdir', session: s(), nowMs: i, path: `/d${i % 10}/e${i}`, parents: true }));
      }
      await sa.apply(cmds.slice(0, 150));
      await sa.apply(cmds.slice(150));
      await sb.apply([entry(1, { op: 'mkdir', session: s(), nowMs: 1, path: '/stale', parents: false })]);
      const reader = await sa.openSnapshot();
      const writer = sb.beginSnapshotWrite();
      try {
        for (let n = 0; n < 10_000; n++) {
          const piece = await reader.next(4096);
          if (!piece) break;
          await writer.write(piece);
        }
        await writer.finish(reader.index);
      } finally {
        reader.close();
      }
      expect(sb.stagedSnapshotIndex()).toBe(300);
      await sb.installSnapshot(300);
      expect(sb.appliedIndex()).toBe(300);
      expect(sb.stat('/stale')).toMatchObject({ ok: false, code: 'NotFound' });
      expect(sb.walk('/', { limit: 10_000 })).toEqual(sa.walk('/', { limit: 10_000 }));
      // Both continue identically, sessions included (a retry is recognised on the new replica).
      const del: MetaCommand = { op: 'delete', session: { client: 't', seq: ++seq, ackedBelow: seq - 1 }, nowMs: 400, path: '/d1', recursive: true };
      expect(await sb.apply([entry(301, del)])).toEqual([{ ok: true }]);
      expect(await sa.apply([entry(301, del)])).toEqual([{ ok: true }]);
      // A retry (as after a leader change) gets the first outcome, not NotFound, on both.
      expect(await sb.apply([entry(302, del)])).toEqual([{ ok: true }]);
      expect(await sa.apply([entry(302, del)])).toEqual([{ ok: true }]);
      expect(await sb.apply([entry(303, cmds[0]!.data)])).toMatchObject([{ ok: false, code: 'StaleRequest' }]);
      expect(sb.walk('/', { limit: 10_000 })).toEqual(sa.walk('/', { limit: 10_000 }));
    } finally {
      await a.close();
      await b.close();
    }
  });
});

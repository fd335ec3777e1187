import { describe, expect, it } from 'vitest';
import {
  applyClusterCommand,
  clusterCommandFromValue,
  clusterCommandToValue,
  listServers,
  readRing,
  readServer,
  type ClusterCommand,
  type ClusterResult,
} from '../../../src/meta/cluster-map.js';
import { decodeMetaCommand, encodeMetaCommand } from '../../../src/meta/meta-command.js';
import { applyMetaCommand } from '../../../src/meta/namespace-machine.js';
import { place } from '../../../src/placement/index.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

const TiB = 2 ** 40;

async function run(store: MemoryKvStore, cmd: ClusterCommand): Promise<ClusterResult> {
  return store.applyBatch(store.appliedIndex() + 1, (txn) => applyClusterCommand(txn, cmd));
}

const reg = (id: string, zone = 'z1', capacityBytes = TiB, addr = `127.0.0.1:71${id.slice(1).padStart(2, '0')}`): ClusterCommand => ({
  op: 'register',
  id,
  addr,
  zone,
  capacityBytes,
  nowMs: 1000,
});

describe('cluster map', () => {
  it('registers servers into the ring with a version per change, idempotently', async () => {
    const st = new MemoryKvStore();
    expect(readRing(st).version).toBe(0);
    expect(await run(st, reg('c1'))).toEqual({ ok: true, version: 1, changed: true });
    expect(await run(st, reg('c2', 'z2'))).toEqual({ ok: true, version: 2, changed: true });
    // Same registration again (a restart): nothing changes.
    expect(await run(st, reg('c1'))).toEqual({ ok: true, version: 2, changed: false });
    // A new address is recorded without touching the ring.
    expect(await run(st, reg('c1', 'z1', TiB, '127.0.0.1:9999'))).toEqual({ ok: true, version: 2, changed: false });
    expect(readServer(st, 'c1')).toMatchObject({ addr: '127.0.0.1:9999', registeredMs: 1000 });
    expect(listServers(st).map((s) => s.id)).toEqual(['c1', 'c2']);
    const ring = readRing(st);
    expect(ring.servers.map((s) => [s.id, s.zone, s.state])).toEqual([
      ['c1', 'z1', 'up'],
      ['c2', 'z2', 'up'],
    ]);
  });

  it('marks dead and back up; a stale conditional verdict is refused; moving zones is refused', async () => {
    const st = new MemoryKvStore();
    for (const id of ['c1', 'c2', 'c3', 'c4']) await run(st, reg(id, `z${id}`));
    const v = readRing(st).version;
    expect(await run(st, { op: 'set-state', id: 'c2', state: 'dead', ifVersion: v })).toEqual({ ok: true, version: v + 1, changed: true });
    expect(place(readRing(st), 'chunk-1', 3)).not.toContain('c2');
    expect(await run(st, { op: 'set-state', id: 'c3', state: 'dead', ifVersion: v })).toMatchObject({ ok: false, code: 'PreconditionFailed' });
    // Registering again brings a dead server back up.
    expect(await run(st, reg('c2', 'zc2'))).toMatchObject({ ok: true, changed: true });
    expect(readRing(st).server('c2')?.state).toBe('up');
    expect(await run(st, reg('c2', 'elsewhere'))).toMatchObject({ ok: false, code: 'InvalidArgument' });
    expect(await run(st, { op: 'set-state', id: 'nope', state: 'draining' })).toMatchObject({ ok: false, code: 'NotFound' });
  });

  it('drains, reweights and removes', async () => {
    const st = new MemoryKvStore();
    for (const id of ['c1', 'c2', 'c3']) await run(st, reg(id));
    await run(st, { op: 'set-state', id: 'c1', state: 'draining' });
    expect(readRing(st).server('c1')?.state).toBe('draining');
    await run(st, { op: 'set-weight', id: 'c2', weight: 2 });
    expect(readRing(st).server('c2')?.weight).toBe(2);
    expect(await run(st, { op: 'remove', id: 'c1' })).toMatchObject({ ok: true, changed: true });
    expect(readServer(st, 'c1')).toBeNull();
    expect(readRing(st).server('c1')).toBeUndefined();
    expect(await run(st, { op: 'remove', id: 'c1' })).toMatchObject({ ok: false, code: 'NotFound' });
  });

  it('codec round-trips and rejects malformed commands', () => {
    const cmds: ClusterCommand[] = [reg('c1'), { op: 'set-state', id: 'c1', state: 'dead', ifVersion: 4 }, { op: 'set-state', id: 'c1', state: 'up' }, { op: 'set-weight', id: 'c1', weight: 0.5 }, { op: 'remove', id: 'c1' }];
    for (const c of cmds) expect(clusterCommandFromValue(clusterCommandToValue(c))).toEqual(c);
    const bad: unknown[] = [
      null,
      [1],
      [1, 'c1', '', 'z', 1, 1],
      [1, 'c/1', 'a:1', 'z', 1, 1],
      [1, 'c1', 'a:1', 'z z', 1, 1],
      [1, 'c1', 'a:1', 'z', -1, 1],
      [1, 'c1', 'a:1', 'z', 1.5, 1],
      [2, 'c1', 'zombie', null],
      [2, 'c1', 'dead', -1],
      [3, 'c1', 0],
      [3, 'c1', Infinity],
      [4, '../x'],
      [9, 'c1'],
    ];
    for (const b of bad) expect(() => clusterCommandFromValue(b), JSON.stringify(b)).toThrow(/cluster command/);
  });

  it('travels in meta commands (tag 16, no session) and the meta machine dispatches it', async () => {
    const st = new MemoryKvStore();
    const bytes = encodeMetaCommand({ op: 'cluster', cluster: reg('c9'), nowMs: 5 });
    const cmd = decodeMetaCommand(bytes);
    expect(cmd).toEqual({ op: 'cluster', cluster: reg('c9'), nowMs: 5 });
    const r = await st.applyBatch(1, (txn) => applyMetaCommand(txn, cmd));
    expect(r).toEqual({ ok: true, version: 1, changed: true });
    expect(readRing(st).server('c9')?.weight).toBe(1);
  });
});

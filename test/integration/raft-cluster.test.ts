/**
 * Three metadata servers as real OS processes on loopback under a steady write load:
 * kill -9 the leader, a new leader serves within seconds, and after the old leader restarts
 * every acknowledged write is present on every node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { LocalMetaCluster } from '../support/local-meta-cluster.js';

describe('raft cluster of real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-raft-cluster-'));
  let cluster: LocalMetaCluster | null = null;
  afterAll(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no acknowledged write when the leader is killed with SIGKILL', async () => {
    const basePort = await findFreePortRange(3, (n) => systemRng.int(n));
    cluster = new LocalMetaCluster({ dir, basePort, tickMs: 50, electionTicks: 10, snapshotEntries: 2000 });
    const c = cluster;
    c.startAll();
    const leader = await c.waitForLeader(20_000);

    const acked: string[] = [];
    let stop = false;
    let killedAt = Infinity;
    let firstAckAfterKill = Infinity;
    const writers = Array.from({ length: 8 }, async (_, w) => {
      const session = c.session({ callTimeoutMs: 2000, retryDeadlineMs: 15_000 });
      const client = `w${w}-${systemRng.int(1e9)}`;
      try {
        for (let seq = 1; !stop; seq++) {
          // Each write creates a directory (parents included): one namespace command through Raft.
          const key = `/${client}/${seq}`;
          await session.call('fs.mkdir', { path: key, parents: true, s: [client, seq, seq - 1] }, { idempotent: true });
          acked.push(key);
          const now = systemClock.nowMs();
          if (now > killedAt && now < firstAckAfterKill) firstAckAfterKill = now;
        }
      } finally {
        session.close();
      }
    });

    await sleep(1500);
    const ackedBeforeKill = acked.length;
    expect(ackedBeforeKill).toBeGreaterThan(50);
    killedAt = systemClock.nowMs();
    await c.proc(leader).kill('SIGKILL');
    const newLeader = await c.waitForLeader(10_000, [leader]);
    expect(newLeader).not.toBe(leader);
    await sleep(1500);
    stop = true;
    await Promise.all(writers);
    // A new leader served writes within seconds of the crash.
    expect(firstAckAfterKill - killedAt).toBeLessThan(5000);
    expect(acked.length).toBeGreaterThan(ackedBeforeKill);

    // The old leader comes back on its own data and catches up.
    c.proc(leader).start();
    const target = (await c.status(newLeader))!.commit;
    const deadline = systemClock.nowMs() + 20_000;
    for (const id of c.ids) {
      while (true) {
        const s = await c.status(id);
        if (s && s.applied >= target) break;
        if (systemClock.nowMs() > deadline) throw new Error(`${id} did not catch up to ${target}: ${JSON.stringify(s)}`);
        await sleep(100);
      }
    }
    expect((await c.status(leader))!.role).toBe('follower');

    // Every acknowledged write is on every node.
    for (const id of c.ids) {
      for (let i = 0; i < acked.length; i += 2000) {
        const paths = acked.slice(i, i + 2000);
        const r = (await c.client(id).call('fs.statLocal', { paths })) as { types: Array<string | null> };
        const missing = paths.filter((p, j) => r.types[j] !== 'dir');
        expect(missing, `node ${id}`).toEqual([]);
      }
    }
    // And a linearizable read through the leader agrees.
    const s = c.session();
    const last = acked[acked.length - 1]!;
    const got = (await s.call('fs.stat', { path: last }, { idempotent: true })) as { type: string };
    expect(got.type).toBe('dir');
    s.close();
  }, 90_000);
});

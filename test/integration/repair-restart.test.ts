/**
 * A chunk server whose process dies with repair work in hand and comes back before it is declared
 * dead: the leader forgets the copies it had handed to the old process (they died with it) when
 * the new one registers, and hands them out again, instead of holding them as in flight until
 * the copy timeout (60 s). Copies are throttled to a crawl here so that they are surely in
 * progress when the servers are killed; dead-after is long, so only the re-registration can
 * release them. And a server that says it has no repair work although it was handed some (the
 * answer was lost, or its queue dropped it) gets that work again after a short grace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt } from './cli-harness.js';
import { drainedAndWhole, until } from './wait.js';

const CHUNK = 64 * 1024;

describe('repair work of a chunk server that restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-repair-restart-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    // 32 KiB/s per receiving server: one 64 KiB copy takes about 2 s.
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, heartbeatMs: 500, deadAfterSec: 120, gateway: false, repairBytesPerSec: 32 * 1024 });
    cluster.start();
    await cluster.waitReady(60_000);
    client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is handed out again when the new process registers, not after the copy timeout', async () => {
    await client.put('/r/f', [Buffer.alloc(6 * CHUNK, 3)]);
    await until('every chunk at 3 replicas', 20_000, async () => {
      const st = await client.status();
      return st.chunks.total === 6 && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    });
    const st0 = await client.status();
    const victim = [...st0.chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    await client.drain(victim.id);
    await until('copies in flight', 10_000, async () => Number((await client.repairStatus()).copiesInFlight) > 0);
    // Every server that may be receiving a copy dies mid-copy and comes straight back.
    const others = st0.chunkServers.filter((c) => c.id !== victim.id).map((c) => c.id);
    for (const id of others) await cluster.member(id).proc.kill('SIGKILL');
    for (const id of others) cluster.member(id).proc.start();
    // Each receiver has at most 6 copies of ~2 s to make (throttled): well inside the bound,
    // and the 60 s copy timeout is far outside it.
    await until('drained server empty, every chunk at 3 replicas elsewhere', 40_000, () => drainedAndWhole(client, victim.id));
    const r = await client.repairStatus();
    expect(r.copiesInFlight).toBe(0);
  }, 60_000);

  it('hands work out again to a server that says it has none, after the grace, not after the copy timeout', async () => {
    // A server of its own making: it registers, reports that it holds nothing, takes the copies
    // the ring now sends it (it joined), and never makes them.
    const probe = cluster.session({ serviceId: 'probe', callTimeoutMs: 15_000, retryDeadlineMs: 20_000 });
    const load = { usedBytes: 0, capacityBytes: 2 ** 40, freeBytes: 2 ** 40, chunks: 0, full: false };
    const copies = (answer: unknown): string[] =>
      ((answer as { commands?: Array<{ op: string; id: string }> }).commands ?? []).filter((c) => c.op === 'copy').map((c) => c.id).sort();
    try {
      await probe.call('cs.register', { addr: '127.0.0.1:9', zone: 'zp', capacityBytes: 2 ** 40 }, { idempotent: true });
      await probe.call('cs.heartbeat', load, { idempotent: true });
      await probe.call('cs.reportBegin', { report: 1 }, { idempotent: true });
      await probe.call('cs.reportEnd', { report: 1 }, { idempotent: true });
      let handed: string[] = [];
      await until('copies handed to the new server', 10_000, async () => {
        handed = copies(await probe.call('cs.work', { waitMs: 2000 }, { idempotent: true, timeoutMs: 10_000 }));
        return handed.length > 0;
      });
      const lostBefore = Number((await client.repairStatus()).copiesLost);
      // Idle at once: the work may still be on its way, so it stays in flight.
      await probe.call('cs.heartbeat', { ...load, repairIdle: true }, { idempotent: true });
      expect(Number((await client.repairStatus()).copiesLost)).toBe(lostBefore);
      await sleep(5500); // the leader's grace for work in transit (5 s)
      const again = copies(await probe.call('cs.heartbeat', { ...load, repairIdle: true }, { idempotent: true }));
      const polled = copies(await probe.call('cs.work', { waitMs: 5000 }, { idempotent: true, timeoutMs: 15_000 }));
      expect([...again, ...polled].sort()).toEqual(handed);
      expect(Number((await client.repairStatus()).copiesLost) - lostBefore).toBe(handed.length);
    } finally {
      probe.close();
    }
  }, 60_000);
});

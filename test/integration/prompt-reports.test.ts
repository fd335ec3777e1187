/**
 * Chunk servers and the metadata leader do not wait for heartbeats: a server tells the leader
 * about new and removed replicas at once, and the leader hands out repair work through the
 * server's held work poll as soon as it plans it. The servers here heartbeat every 30 s, so only
 * the prompt reports can make the leader learn within the test's bounds that a committed file's
 * chunks are on all three servers (status counts none lost or under-replicated), and only the
 * work poll can deliver the copies and deletions that empty a drained server in time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { isCairnError } from '../../src/util/errors.js';
import { assertBuilt, runCli } from './cli-harness.js';
import { drainedAndWhole, until } from './wait.js';

const CHUNK = 64 * 1024;

async function collect(client: CairnClient, path: string): Promise<Buffer[]> {
  const o = await client.open(path);
  const out: Buffer[] = [];
  for await (const b of o.stream as AsyncIterable<Buffer>) out.push(b);
  return out;
}

describe('prompt replica reports and work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-reports-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, heartbeatMs: 30_000, deadAfterSec: 120, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('locates a new file on all its replicas well before the next heartbeat', async () => {
    const body = Buffer.alloc(3 * CHUNK + 100, 5);
    await client.put('/r/a', [body]);
    await until('every chunk located three times', 10_000, async () => {
      const st = await client.status();
      return st.chunks.total === 4 && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    });
    for (const c of (await client.stat('/r/a')).chunks) expect(c.replicas).toHaveLength(3);
    const st = await client.status();
    expect(st.chunkServers.reduce((a, s) => a + s.chunks, 0)).toBe(12);
  }, 30_000);

  it('hands repair work to the servers when it is planned, not with their next heartbeat', async () => {
    const before = await client.status();
    const victim = [...before.chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    expect(victim.chunks).toBeGreaterThan(0);
    await client.drain(victim.id);
    // Copies off the drained server, their reports, then the drained replicas' deletions: two
    // rounds of work, each needing a heartbeat (30 s) without the work poll.
    await until('drained server empty, every chunk at 3 replicas elsewhere', 12_000, () => drainedAndWhole(client, victim.id));
    const st = await client.status();
    expect(st.chunkServers.filter((c) => c.id !== victim.id).reduce((a, s) => a + s.chunks, 0)).toBe(3 * st.chunks.total);
    expect(Buffer.concat(await collect(client, '/r/a')).equals(Buffer.alloc(3 * CHUNK + 100, 5))).toBe(true);
  }, 30_000);

  it('holds a work poll for its wait, answers a superseded one at once, and refuses a wait beyond the bound', async () => {
    // A service caller the leader has no work for (not a registered chunk server).
    const probe = cluster.session({ serviceId: 'probe', callTimeoutMs: 5000, retryDeadlineMs: 10_000 });
    try {
      const bad = await probe.call('cs.work', { waitMs: 30_001 }, { idempotent: true }).catch((e: unknown) => e);
      expect(isCairnError(bad) && bad.code).toBe('InvalidArgument');
      const bad2 = await probe.call('cs.work', { waitMs: -1 }, { idempotent: true }).catch((e: unknown) => e);
      expect(isCairnError(bad2) && bad2.code).toBe('InvalidArgument');
      expect(await probe.call('cs.work', { waitMs: 0 }, { idempotent: true })).toEqual({ commands: [] });

      let t0 = systemClock.nowMs();
      expect(await probe.call('cs.work', { waitMs: 600 }, { idempotent: true })).toEqual({ commands: [] });
      expect(systemClock.nowMs() - t0).toBeGreaterThanOrEqual(550);

      // A second poll from the same server replaces the first, which is answered with no work.
      t0 = systemClock.nowMs();
      let firstAt = 0;
      const first = probe.call('cs.work', { waitMs: 4000 }, { idempotent: true }).then((r) => ((firstAt = systemClock.nowMs()), r));
      await sleep(200);
      const second = probe.call('cs.work', { waitMs: 500 }, { idempotent: true });
      expect(await first).toEqual({ commands: [] });
      expect(firstAt - t0).toBeLessThan(2000);
      expect(await second).toEqual({ commands: [] });
    } finally {
      probe.close();
    }
  }, 30_000);

  // Last: it kills the metadata leader.
  it('a new metadata leader says which full reports it still lacks, and status calls its counts provisional', async () => {
    const old = (await client.status()).leader!;
    await cluster.member(old).proc.kill('SIGKILL');
    // The servers learn that the new leader wants their full reports from a heartbeat answer,
    // 30 s apart here: right after the election it has heard from (almost) none of them.
    await until('a new leader', 20_000, async () => {
      const st = await client.status().catch(() => null);
      return st !== null && st.leader !== null && st.leader !== old;
    });
    const r = await client.repairStatus();
    expect(Array.isArray(r.reportsPending)).toBe(true);
    const pending = r.reportsPending as string[];
    expect(pending.length).toBeGreaterThan(0);
    expect(r.ready).toBe(false);
    const human = await runCli(['status', '--meta', cluster.metaAddrs.join(','), '--token', cluster.token]);
    expect(human.stdout.toString()).toMatch(/^Chunk reports pending from c\d(, c\d)*: the lost and under-replicated counts are provisional$/m);
    const json = await runCli(['status', '--json', '--meta', cluster.metaAddrs.join(','), '--token', cluster.token]);
    // CONTRACT's keys and the detail keys (docs/operations.md), nothing else.
    expect(Object.keys(JSON.parse(json.stdout.toString()) as object).sort()).toEqual(['chunkServerDetail', 'chunkServers', 'chunks', 'health', 'leader', 'meta', 'metaDetail', 'raft', 'repair', 'totals']);
  }, 60_000);
});

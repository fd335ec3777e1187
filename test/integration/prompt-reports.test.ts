/**
 * Chunk servers tell the metadata leader about new and removed replicas at once, not with their
 * next heartbeat. The servers here heartbeat every 30 s, so only the prompt reports can make the
 * leader learn within the test's bounds that a committed file's chunks are on all three servers
 * (status counts none lost or under-replicated).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '../../src/client/index.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt } from './cli-harness.js';

const CHUNK = 64 * 1024;

async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = systemClock.nowMs() + timeoutMs;
  while (systemClock.nowMs() < deadline) {
    if (await cond()) return;
    await sleep(100);
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

describe('prompt replica reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-reports-'));
  let cluster: DevCluster;
  let client: CairnClient;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, heartbeatMs: 30_000, deadAfterSec: 120, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    client = new CairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
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
});

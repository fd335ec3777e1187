/**
 * Security probe 1 (issue 17): a stranger floods the metadata leader's address with raw TCP
 * connections that never authenticate (more than the server's 1,024 connection slots, each
 * reopened 50 ms after it is closed). Meanwhile a client makes 200 calls, each on a fresh
 * connection with its own handshake: every call succeeds on its first attempt and the leader
 * does not change. The flood runs in its own process for as long as the calls take (seconds).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, systemRng, systemTimers } from '../../src/env/system.js';
import { RpcClient, findFreePortRange, splitAddr } from '../../src/net/index.js';
import { LocalMetaCluster } from '../support/local-meta-cluster.js';

const FLOOD_CONNECTIONS = 1100;
/** The flood stops when the calls are done, or after this at the latest. */
const FLOOD_MS_MAX = 20_000;
const CALLS = 200;
const CALL_WORKERS = 8;

describe('a pre-auth connection flood against the metadata leader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sec-flood-'));
  let cluster: LocalMetaCluster;

  beforeAll(async () => {
    const basePort = await findFreePortRange(10, (n) => systemRng.int(n));
    cluster = new LocalMetaCluster({ dir, basePort, tickMs: 50, electionTicks: 10 });
    cluster.startAll();
    await cluster.waitForLeader(20_000);
  }, 40_000);

  afterAll(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves fresh authenticated clients working and the leader in place', async () => {
    const leader = await cluster.waitForLeader();
    const term = (await cluster.status(leader))!.term;
    const { host, port } = splitAddr(cluster.addrs.get(leader)!);

    const flood = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'connection-flood.mjs'), host, String(port), String(FLOOD_CONNECTIONS), String(FLOOD_MS_MAX)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    flood.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const floodExit = new Promise<void>((resolve) => flood.on('exit', () => resolve()));
    const deadline = systemClock.nowMs() + 5000;
    while (!out.includes('ready') && systemClock.nowMs() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out, 'the flood opened every connection').toContain('ready');

    const failures: string[] = [];
    let done = 0;
    const started = systemClock.nowMs();
    const worker = async (): Promise<void> => {
      while (done < CALLS) {
        done++;
        // A fresh connection per call: every call goes through a handshake during the flood.
        const c = new RpcClient({ timers: systemTimers }, { addr: cluster.addrs.get(leader)!, clientToken: cluster.token, connectTimeoutMs: 3000, callTimeoutMs: 5000 });
        try {
          await c.call('fs.stat', { path: '/' });
        } catch (err) {
          failures.push((err as Error).message);
        } finally {
          c.close();
        }
      }
    };
    await Promise.all(Array.from({ length: CALL_WORKERS }, worker));
    const callsMs = systemClock.nowMs() - started;
    const stillFlooding = flood.exitCode === null;
    flood.kill('SIGTERM');
    await floodExit;
    const stats = JSON.parse(out.trim().split('\n').pop()!) as { connects: number; closes: number };
    console.log(`sec-connection-flood: ${CALLS} calls in ${callsMs} ms under a flood of ${stats.connects} connects, ${stats.closes} closed by the server`);

    expect(failures).toEqual([]);
    expect(stillFlooding, 'the calls finished while the flood ran').toBe(true);
    expect(stats.connects).toBeGreaterThanOrEqual(FLOOD_CONNECTIONS);
    const after = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
    expect(after.map((s) => s?.leader)).toEqual(cluster.ids.map(() => leader));
    expect(after.map((s) => s?.term)).toEqual(cluster.ids.map(() => term));
  }, 60_000);
});

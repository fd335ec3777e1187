/**
 * Rolling restart under load, with real processes (`cairn dev`-style: 3 metadata servers, 4 chunk
 * servers, R = 3, a gateway): while clients run a mixed load through the client library (puts
 * of files inline, one chunk and several chunks, whole reads checked against what was written,
 * mkdir, ls, rm), every process is restarted one at a time — SIGTERM, which must end it with exit
 * code 0 (a metadata leader hands leadership over first), then the same argv again on the same
 * data, then a wait until it is healthy again. The load must see 0 failed operations (clients
 * retry), and at the end every acknowledged file reads back byte-exact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { sleep, systemRng, systemTimers } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { RpcClient } from '../../src/net/rpc-client.js';
import { decodeRaftStatus } from '../../src/proto/meta-answers.js';
import { DevCluster, PORT_SPAN } from '../../src/server/dev-cluster.js';
import { readWhole } from '../support/small-file-batch.js';
import { assertBuilt, patternBytes } from './cli-harness.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;
const WORKERS = 3;

describe('rolling restart under a mixed client load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-rolling-'));
  let cluster: DevCluster;
  let client: CairnClient;
  /** Every acknowledged file's bytes (removed when its rm was acknowledged). */
  const files = new Map<string, Buffer>();
  const failures: string[] = [];
  const ops = new Map<string, number>();
  let stopLoad = false;
  const newClient = (): CairnClient => createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }, { callTimeoutMs: 3000, retryDeadlineMs: 30_000 });

  /** One worker's loop: a mix of operations on its own directory, each one counted and checked. */
  const worker = async (k: number): Promise<void> => {
    const c = newClient();
    const mine: string[] = [];
    let seq = 0;
    const op = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
        ops.set(name, (ops.get(name) ?? 0) + 1);
      } catch (err) {
        failures.push(`w${k} ${name}: ${(err as Error).message}`);
      }
    };
    try {
      await op('mkdir', () => c.mkdir(`/load/w${k}`, { parents: true }));
      while (!stopLoad) {
        const n = seq++;
        const path = `/load/w${k}/d${n % 5}/f${n}`;
        const size = [0, 700, 20_000, CHUNK, 3 * CHUNK + 123][n % 5]!;
        const data = patternBytes(size, k * 100_000 + n);
        await op('put', async () => {
          await c.put(path, [data]);
          files.set(path, data);
          mine.push(path);
        });
        if (mine.length > 0) {
          const p = mine[systemRng.int(mine.length)]!;
          await op('get', async () => {
            const got = await readWhole(c, p);
            if (got === null) throw new Error(`${p} is missing`);
            if (!got.equals(files.get(p)!)) throw new Error(`${p}: ${got.length} bytes differ from the ${files.get(p)!.length} written`);
          });
        }
        if (n % 4 === 1) await op('mkdir', () => c.mkdir(`/load/w${k}/e${n}/x`, { parents: true }));
        if (n % 3 === 2) {
          await op('ls', async () => {
            const names = new Set((await c.list(`/load/w${k}/d${n % 5}`)).entries.map((e) => e.name));
            for (const p of mine) if (p.startsWith(`/load/w${k}/d${n % 5}/`) && !names.has(p.slice(p.lastIndexOf('/') + 1))) throw new Error(`ls misses ${p}`);
          });
        }
        if (n % 5 === 3 && mine.length > 4) {
          const p = mine.shift()!;
          await op('rm', async () => {
            await c.rm(p);
            files.delete(p);
          });
        }
      }
    } finally {
      c.close();
    }
  };

  /** The member at `addr` answers raft.status, knows a leader and has applied what that leader had committed. */
  const metaHealthy = async (addr: string): Promise<boolean> => {
    const ask = async (at: string): Promise<ReturnType<typeof decodeRaftStatus>> => {
      const rpc = new RpcClient({ timers: systemTimers }, { addr: at, clientToken: cluster.token, connectTimeoutMs: 1000 });
      try {
        return decodeRaftStatus(await rpc.call('raft.status', {}, { timeoutMs: 1000 }));
      } finally {
        rpc.close();
      }
    };
    try {
      const own = await ask(addr);
      if (own.leader === null) return false;
      const leader = own.role === 'leader' ? own : await ask(own.addrs[own.leader]!);
      return own.applied >= leader.commit - 5;
    } catch {
      return false;
    }
  };

  const listening = (addr: string): Promise<boolean> =>
    new Promise((resolve) => {
      const i = addr.lastIndexOf(':');
      const sock = connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(PORT_SPAN, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, heartbeatMs: 200, deadAfterSec: 10, inlineBytesMax: 1024 });
    cluster.start();
    await cluster.waitReady(60_000);
    client = newClient();
  }, 90_000);

  afterAll(async () => {
    stopLoad = true;
    client?.close();
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('restarts every process one at a time: each exits 0, clients see 0 failed operations, every file reads back', async () => {
    const load = Promise.all(Array.from({ length: WORKERS }, (_, k) => worker(k)));
    await sleep(2000);
    const exits: Record<string, number | null> = {};
    const order = [...cluster.chunks, ...(cluster.gateway ? [cluster.gateway] : []), ...cluster.meta];
    for (const m of order) {
      const before = ops.get('put') ?? 0;
      exits[m.id] = await m.proc.kill('SIGTERM', 10_000);
      m.proc.start();
      if (cluster.meta.includes(m)) await until(`${m.id} back in the group`, 30_000, () => metaHealthy(m.addr));
      // The leader still counts a chunk server stopped a moment ago as alive: wait for the new process itself.
      else await until(`${m.id} listening again`, 30_000, () => listening(m.addr));
      await cluster.waitReady(30_000);
      // Healthy means serving: the leader has every live chunk server's full report again.
      await until(`every chunk server reported after ${m.id}'s restart`, 30_000, async () => (await client.repairStatus()).reportsPending.length === 0);
      // ...and the load goes on (at least one more put acknowledged).
      await until(`puts go on after ${m.id}'s restart`, 30_000, async () => (ops.get('put') ?? 0) > before);
    }
    await sleep(1000);
    stopLoad = true;
    await load;
    expect(exits).toEqual(Object.fromEntries(order.map((m) => [m.id, 0])));
    expect(failures).toEqual([]);
    expect(ops.get('put') ?? 0).toBeGreaterThan(20);
    const bad: string[] = [];
    for (const [p, want] of files) {
      const got = await readWhole(client, p);
      if (got === null || !got.equals(want)) bad.push(p);
    }
    expect(bad).toEqual([]);
    const st = await client.status();
    expect(st.leader).not.toBeNull();
  }, 150_000);
});

/**
 * Metadata membership at runtime with real processes: a 3-server group (`cairn dev`-style) grows
 * a 4th server started with `--join` on an empty dir (`cairn meta add` waits until the leader has
 * promoted it from learner to voter); a server added but not running shows as `learner` in
 * `cairn status` and `--json` until it is removed; leadership moves with `cairn meta
 * transfer-leader`; and after `cairn meta remove` of an original server (its process stopped),
 * writes still work, every file reads back, the new server holds the whole namespace, and a
 * client configured with the removed server's address only still finds the group... and drops
 * the removed address from the list it dials. Then the procedure of docs/operations.md for a
 * dead disk: remove the server, wipe its dir, start it again with `--join`, add it back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, PORT_SPAN } from '../../src/server/dev-cluster.js';
import { LocalProcess } from '../../src/server/local-process.js';
import { assertBuilt, ok, patternBytes, runCli, type RunResult } from './cli-harness.js';
import { until } from './wait.js';
import { readWhole } from '../support/small-file-batch.js';

interface StatusJson {
  health: string;
  leader: string | null;
  meta: Array<{ id: string; addr: string | null; role: string }>;
}

describe('metadata membership at runtime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-membership-'));
  let cluster: DevCluster;
  let portBase = 0;
  let client: CairnClient;
  let env: Record<string, string> = {};
  const extra: LocalProcess[] = [];
  const files = new Map<string, Buffer>();
  const newClient = (addrs: string[]): CairnClient => createCairnClient({ metaAddrs: addrs, token: cluster.token }, { callTimeoutMs: 2000, retryDeadlineMs: 20_000 });
  const cli = (args: string[]): Promise<RunResult> => runCli(args, { env, timeoutMs: 70_000 });
  const statusJson = async (): Promise<StatusJson> => JSON.parse(ok(await cli(['status', '--json'])).stdout.toString()) as StatusJson;
  const addrOf = (n: number): string => `127.0.0.1:${portBase + n}`;
  /** A metadata server process like m1's, as `id` on `addr`, joining with `--join`. */
  const joiner = (id: string, addr: string, peers: string, metricsPort: number): LocalProcess => {
    const argv = [...cluster.member('m1').proc.argv];
    const set = (flag: string, value: string): void => {
      argv[argv.indexOf(flag) + 1] = value;
    };
    set('--id', id);
    set('--listen', addr);
    set('--dir', join(dir, 'meta', id));
    set('--peers', peers);
    set('--metrics-listen', `127.0.0.1:${metricsPort}`);
    argv.push('--join');
    const p = new LocalProcess({ id, argv });
    extra.push(p);
    return p;
  };
  const writeSome = async (c: CairnClient, tag: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const data = patternBytes(1000 + i * 37, tag.length * 100 + i);
      await c.put(`/m/${tag}/f${i}`, [data]);
      files.set(`/m/${tag}/f${i}`, data);
    }
  };
  const readAll = async (c: CairnClient): Promise<string[]> => {
    const bad: string[] = [];
    for (const [p, want] of files) {
      const got = await readWhole(c, p);
      if (got === null || !got.equals(want)) bad.push(p);
    }
    return bad;
  };

  beforeAll(async () => {
    assertBuilt();
    portBase = await findFreePortRange(PORT_SPAN, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 2, chunkSize: 64 * 1024, heartbeatMs: 200, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    client = newClient(cluster.metaAddrs);
    env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
    await writeSome(client, 'before', 20);
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await Promise.all(extra.map((p) => p.kill('SIGTERM', 5000)));
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('adds a 4th metadata server: it joins on an empty dir, catches up, and is promoted to voter', async () => {
    const peers = [...cluster.meta.map((m) => `${m.id}=${m.addr}`), `m4=${addrOf(4)}`].join(',');
    joiner('m4', addrOf(4), peers, portBase + 904).start();
    const r = ok(await cli(['meta', 'add', 'm4', addrOf(4), '--wait', '60']));
    expect(r.stdout.toString()).toBe(`m4: added at ${addrOf(4)}, voter\n`);
    const st = await statusJson();
    expect(st.meta.map((m) => m.id)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(st.meta.find((m) => m.id === 'm4')).toMatchObject({ addr: addrOf(4) });
    expect(['leader', 'follower']).toContain(st.meta.find((m) => m.id === 'm4')!.role);
    // Adding it again at the same address is a no-op; at another, refused.
    ok(await cli(['meta', 'add', 'm4', addrOf(4), '--wait', '0']));
    expect((await cli(['meta', 'add', 'm4', addrOf(9)])).stderr.toString()).toMatch(/PreconditionFailed: m4 is already a member/);
  }, 90_000);

  it('shows a server added but not (yet) running as a learner, text and --json, until it is removed', async () => {
    const r = ok(await cli(['meta', 'add', 'm5', addrOf(5), '--wait', '0']));
    expect(r.stdout.toString()).toMatch(/m5: added at .* as a learner/);
    const st = await statusJson();
    expect(st.meta.find((m) => m.id === 'm5')).toEqual({ id: 'm5', addr: addrOf(5), role: 'learner' });
    expect(ok(await cli(['status'])).stdout.toString()).toMatch(/m5\s.*learner/);
    // A learner counts in no quorum: the group still has its leader and serves writes.
    await writeSome(client, 'learner', 3);
    ok(await cli(['meta', 'remove', 'm5']));
    expect((await statusJson()).meta.map((m) => m.id)).toEqual(['m1', 'm2', 'm3', 'm4']);
    ok(await cli(['meta', 'remove', 'm5'])); // idempotent
  }, 60_000);

  it('transfers leadership on request, to a named voter and to the most caught-up one', async () => {
    expect(ok(await cli(['meta', 'transfer-leader', 'm4'])).stdout.toString()).toBe('leader: m4\n');
    expect((await statusJson()).leader).toBe('m4');
    const r = ok(await cli(['meta', 'transfer-leader']));
    const to = /^leader: (m[123])\n$/.exec(r.stdout.toString())?.[1];
    expect(to).toBeDefined();
    expect((await statusJson()).leader).toBe(to);
    expect((await cli(['meta', 'transfer-leader', 'm7'])).stderr.toString()).toMatch(/InvalidArgument: m7 is not a voter/);
  }, 60_000);

  it('removes an original server (even the leader); writes still work and the new one holds everything', async () => {
    // Remove the current leader: it hands over first, and the client retries at the new leader.
    const victim = (await statusJson()).leader!;
    ok(await cli(['meta', 'remove', victim]));
    const victimProc = victim === 'm4' ? extra[0]! : cluster.member(victim).proc;
    expect(await victimProc.kill('SIGTERM', 5000)).toBe(0);
    const left = ['m1', 'm2', 'm3', 'm4'].filter((id) => id !== victim);
    const st = await statusJson();
    expect(st.meta.map((m) => m.id)).toEqual(left);
    expect(st.leader).not.toBe(victim);
    await writeSome(client, 'after', 10);
    expect(await readAll(client)).toEqual([]);
    // A client that knows only the new server's address finds the group through it.
    const fresh = newClient([addrOf(4)]);
    try {
      expect(await readAll(fresh)).toEqual([]);
    } finally {
      fresh.close();
    }
    // A client configured with the original three takes the leader's membership on its first
    // call: it dials exactly the remaining servers.
    const addrs = left.map((id) => (id === 'm4' ? addrOf(4) : cluster.member(id).addr)).sort();
    env = { CAIRN_META: addrs.join(','), CAIRN_TOKEN: cluster.token };
    const configured = newClient(cluster.metaAddrs);
    try {
      await until('the client drops the removed address', 10_000, async () => {
        await configured.stat('/m');
        return [...configured.metaMembers()].sort().join() === addrs.join();
      });
    } finally {
      configured.close();
    }
  }, 90_000);

  it('replaces a dead server\'s disk: remove it, start it on an empty dir with --join, add it back', async () => {
    const target = cluster.meta.find((m) => m.proc.running)!;
    await target.proc.kill('SIGKILL');
    rmSync(target.dir, { recursive: true, force: true });
    ok(await cli(['meta', 'remove', target.id]));
    const members = (await statusJson()).meta.map((m) => `${m.id}=${m.addr}`);
    const peers = [...members, `${target.id}=${target.addr}`].join(',');
    joiner(target.id, target.addr, peers, portBase + 910).start();
    ok(await cli(['meta', 'add', target.id, target.addr, '--wait', '60']));
    const st = await statusJson();
    expect(st.meta.find((m) => m.id === target.id)?.role).toMatch(/^(leader|follower)$/);
    await writeSome(client, 'replaced', 5);
    expect(await readAll(client)).toEqual([]);
  }, 120_000);
});

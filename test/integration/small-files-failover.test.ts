/**
 * Every small file stays readable through a metadata leader change and the permanent loss of a
 * chunk server, with real processes (3 metadata servers, 4 chunk servers, R = 3, 64 KiB chunks,
 * the default 64 KiB inline threshold, dead after 2 s). Small files of every kind are written
 * (inline ones up to exactly the threshold, chunked ones just above it, an empty one, and
 * overwrites that move a path from inline to chunks and back); then the leader is killed and
 * stays down, a chunk server is killed for good, and once `cairn status --json` says nothing is
 * under-replicated or lost every file reads back byte-exact, each chunked one from 3 live
 * replicas none of which is the dead server's, and status counts them (chunks in
 * `cairn status --json`, inline files and bytes in `cairn status` and the repair counters).
 * The old leader then returns and catches up, the leader changes again, and everything still
 * reads back, with the same paths in every metadata server's own committed state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../cli/format.js';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { INLINE_BYTES_MAX_DEFAULT } from '../../src/config/defaults.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, PORT_SPAN } from '../../src/server/dev-cluster.js';
import { MetaReplicas } from '../support/meta-replicas.js';
import { readWhole } from '../support/small-file-batch.js';
import { assertBuilt, ok, patternBytes, runCli } from './cli-harness.js';
import { until } from './wait.js';

const CHUNK = 64 * 1024;
const INLINE_MAX = INLINE_BYTES_MAX_DEFAULT;
const INLINE_FILES = 90;
const CHUNKED_FILES = 30;
const WRITERS = 4;

interface StatusJson {
  leader: string | null;
  chunkServers: Array<{ id: string; state: string; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

/** The size of small file i: inline ones from 1 byte to exactly the threshold, chunked ones just above it. */
function sizeOf(i: number): number {
  if (i >= INLINE_FILES) return INLINE_MAX + 1 + ((i * 331) % 2048);
  if (i % 10 === 0) return INLINE_MAX;
  return 1 + ((i * 7919) % (i % 3 === 0 ? INLINE_MAX : 4096));
}

describe('small files through a leader change and a chunk-server loss', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-small-failover-'));
  let cluster: DevCluster;
  let replicas: MetaReplicas;
  let client: CairnClient;
  let env: Record<string, string> = {};
  /** Every file's bytes. */
  const files = new Map<string, Buffer>();
  const newClient = (): CairnClient => createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }, { callTimeoutMs: 2000, retryDeadlineMs: 20_000 });
  const statusJson = async (): Promise<StatusJson> => JSON.parse(ok(await runCli(['status', '--json'], { env })).stdout.toString()) as StatusJson;
  const inlineCount = (): { files: number; bytes: number } => {
    const sizes = [...files.values()].map((b) => b.length).filter((n) => n > 0 && n <= INLINE_MAX);
    return { files: sizes.length, bytes: sizes.reduce((a, n) => a + n, 0) };
  };
  const chunkCount = (): number => [...files.values()].reduce((a, b) => a + (b.length > INLINE_MAX ? Math.ceil(b.length / CHUNK) : 0), 0);
  const readBack = async (c: CairnClient): Promise<string[]> => {
    const bad: string[] = [];
    for (const [p, want] of files) {
      try {
        const got = await readWhole(c, p);
        if (got === null) bad.push(`${p}: missing`);
        else if (!got.equals(want)) bad.push(`${p}: ${got.length} bytes differ from the ${want.length} written`);
      } catch (e) {
        bad.push(`${p}: unreadable (${(e as Error).message})`);
      }
    }
    return bad;
  };

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(PORT_SPAN, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 4, replicas: 3, chunkSize: CHUNK, inlineBytesMax: INLINE_MAX, heartbeatMs: 200, deadAfterSec: 2, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    replicas = new MetaReplicas(cluster);
    client = newClient();
    env = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
  }, 90_000);

  afterAll(async () => {
    client?.close();
    replicas?.close();
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('stores small files of every kind: inline up to the threshold, chunks just above it', async () => {
    const writers = Array.from({ length: WRITERS }, () => newClient());
    try {
      await Promise.all(
        writers.map(async (w, k) => {
          for (let i = k; i < INLINE_FILES + CHUNKED_FILES; i += WRITERS) {
            const data = patternBytes(sizeOf(i), i + 1);
            await w.put(`/small/d${i % 7}/f${i}`, [data]);
            files.set(`/small/d${i % 7}/f${i}`, data);
          }
        }),
      );
    } finally {
      for (const w of writers) w.close();
    }
    // An empty file, and overwrites across the threshold both ways.
    await client.put('/small/empty', []);
    files.set('/small/empty', Buffer.alloc(0));
    for (const [p, size, seed] of [['/small/d0/f0', INLINE_MAX + 100, 501], [`/small/d${INLINE_FILES % 7}/f${INLINE_FILES}`, 3000, 502], ['/small/d1/f1', 17, 503]] as const) {
      const data = patternBytes(size, seed);
      await client.put(p, [data], { overwrite: true });
      files.set(p, data);
    }
    const inline = inlineCount();
    expect(inline.files).toBe(INLINE_FILES);
    for (const [p, want] of files) expect((await client.stat(p)).chunks.length, p).toBe(want.length > INLINE_MAX ? 2 : 0);
    await until('every chunk at 3 replicas', 30_000, async () => {
      const st = await client.status();
      return st.chunks.total === chunkCount() && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    });
    expect(await client.repairStatus()).toMatchObject({ inlineFiles: inline.files, inlineBytes: inline.bytes });
  }, 60_000);

  it('after a leader change and a chunk server lost for good, repair completes and every file reads back byte-exact', async () => {
    // The chunk server with the most replicas will die and stay dead, right after the leader.
    const victim = [...(await statusJson()).chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    expect(victim.chunks).toBeGreaterThan(0);
    const oldLeader = await replicas.leader();
    expect(oldLeader).not.toBeNull();
    await cluster.member(oldLeader!).proc.kill('SIGKILL');
    // status answers within its bound even mid-election; a new leader shows within seconds.
    const st0: { status: StatusJson | null } = { status: null };
    await until('a new leader in cairn status --json', 30_000, async () => {
      st0.status = await statusJson();
      return st0.status.leader !== null;
    }, 250);
    expect(st0.status!.leader).not.toBe(oldLeader);
    await cluster.member(victim.id).proc.kill('SIGKILL');
    const last: { status: StatusJson | null } = { status: null };
    await until(`${victim.id} dead and every chunk at 3 live replicas (cairn status --json)`, 60_000, async () => {
      const st = (last.status = await statusJson());
      return st.chunkServers.find((c) => c.id === victim.id)?.state === 'dead' && st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    }, 250).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; last status ${JSON.stringify(last.status)}`);
    });
    expect(last.status!.chunks.total).toBe(chunkCount());
    for (const [p, want] of files) {
      if (want.length <= INLINE_MAX) continue;
      for (const ch of (await client.stat(p)).chunks) {
        expect(ch.replicas.length, p).toBe(3);
        expect(ch.replicas, p).not.toContain(victim.id);
      }
    }
    expect(await readBack(client)).toEqual([]);
    // Status counts them: chunks above, inline files and bytes in the human form and the repair counters.
    const inline = inlineCount();
    expect(await client.repairStatus()).toMatchObject({ inlineFiles: inline.files, inlineBytes: inline.bytes });
    const human = ok(await runCli(['status'], { env })).stdout.toString();
    expect(human).toContain(`Inline files: ${inline.files} (${formatBytes(inline.bytes)}), stored with the metadata\n`);
    expect(human).toContain(`Chunks: ${chunkCount()} total, 0 under-replicated, 0 lost\n`);

    // The old leader returns and catches up; then the leader changes again.
    cluster.member(oldLeader!).proc.start();
    await replicas.converge(30_000);
    const paths = [...files.keys()];
    expect(await replicas.disagreements(paths)).toEqual([]);
    const leader = await replicas.leader();
    await cluster.member(leader!).proc.kill('SIGKILL');
    const fresh = newClient();
    try {
      expect(await readBack(fresh)).toEqual([]);
      expect((await fresh.status()).leader).not.toBe(leader);
      expect(await fresh.repairStatus()).toMatchObject({ inlineFiles: inline.files, inlineBytes: inline.bytes });
    } finally {
      fresh.close();
    }
    cluster.member(leader!).proc.start();
    await replicas.converge(30_000);
    expect(await replicas.disagreements(paths)).toEqual([]);
  }, 120_000);
});

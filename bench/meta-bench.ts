/**
 * Metadata throughput and latency: 3 metadata servers as real processes on loopback (fsync on),
 * at 1, 16 and 64 concurrent clients, for
 *   mkdir          one Raft entry per call
 *   create_commit  fs.commit of a one-chunk file (one Raft entry) whose chunk is named and placed
 *                  from a cached fs.view, with the view's ringVersion, as the client library does
 *                  (src/client/placement-cache.ts): the metadata half of writing a chunked file
 *   stat           linearizable read (ReadIndex, batched) of an existing file
 *   list           linearizable read of a 100-entry directory page
 * The ceiling measured in the same run is the disk's synced 4 KiB write rate. For the writes,
 * the CPU the three metadata processes used per operation (`*_server_cpu_ms_per_op`, from /proc)
 * is printed too: on a shared machine it moves far less than throughput does.
 *
 * Beside it, the leader's share (`*_leader_cpu_ms_per_op`), and how many committed entries each
 * LMDB apply transaction carried on the leader and on the followers (`*_leader_entries_per_apply`,
 * `*_follower_entries_per_apply`, from their metrics): each such transaction has a fixed cost.
 *
 * Before the measured loads, `--warmup-seconds` (default 20; 0: none) of mkdir and create_commit
 * (half each) at the largest concurrency, unmeasured but for their throughput
 * (`meta_mkdir_warmup_ops_per_s`, `meta_create_commit_warmup_ops_per_s`): the servers' hot paths
 * are compiled by then (closed-loop.ts, warm-up).
 *
 * Output: one `name value` per line.  Usage: npm run bench:meta [-- --seconds 3 --conc 1,16,64 --ops mkdir,create_commit --warmup-seconds 20 --cpu-prof DIR]
 *   --conc LIST    concurrencies to run, comma-separated
 *   --ops LIST     which of mkdir, create_commit, stat, list to run (default: all)
 *   --cpu-prof DIR every metadata and chunk server process writes a CPU profile to DIR when the
 *                  cluster stops (summarize: node dist/bench/profile-summary.js DIR)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PlacementCache } from '../src/client/placement-cache.js';
import { systemClock, systemRng, systemTimers } from '../src/env/system.js';
import { findFreePortRange, RpcClient } from '../src/net/index.js';
import { decodeView } from '../src/proto/meta-answers.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { percentile, syncedWritesPerSec } from './ceiling.js';
import { processCpuMs, totalCpuMs } from '../test/support/process-cpu.js';
import { checkBenchArgs } from './bench-args.js';
import { closedLoop, warmupSeconds } from './closed-loop.js';

checkBenchArgs('bench:meta', [
  { name: 'seconds', value: 'number', help: 'seconds per load (default 3)' },
  { name: 'conc', value: 'numbers', help: 'client counts to run (default 1,16,64)' },
  { name: 'ops', value: 'word', help: 'operations to run, comma-separated (default all)' },
  { name: 'cpu-prof', value: 'word', help: 'CPU profiles of the metadata servers into this directory' },
  { name: 'warmup-seconds', value: 'number', help: 'unmeasured mkdir and create_commit load first (default 20; 0: none)' },
]);

const WARMUP_SECONDS = warmupSeconds('bench:meta', 20);

const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
const profAt = process.argv.indexOf('--cpu-prof');
const CPU_PROF_DIR = profAt > 0 ? process.argv[profAt + 1] : undefined;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-meta-'));
const CONNS = 8;
const concAt = process.argv.indexOf('--conc');
const CONCS = concAt > 0 ? process.argv[concAt + 1]!.split(',').map(Number) : [1, 16, 64];
const opsAt = process.argv.indexOf('--ops');
const OPS = opsAt > 0 ? new Set(process.argv[opsAt + 1]!.split(',')) : null;

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

type Op = (conn: RpcClient, worker: string, seq: number) => Promise<unknown>;

/** The metadata servers to watch: pids for CPU, metrics endpoints for apply batches. */
interface Servers {
  pids: Array<number | undefined>;
  leaderPid: number | undefined;
  leaderMetrics: string;
  followerMetrics: string[];
  token: string;
}

/** [apply transactions, entries applied] so far, from a server's metrics (NaN when unreadable). */
async function applyCounts(url: string, token: string): Promise<[number, number]> {
  try {
    const text = await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).text();
    const read = (name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
    return [read('cairn_meta_apply_duration_seconds_count'), read('cairn_meta_apply_entries_total')];
  } catch {
    return [NaN, NaN];
  }
}

async function measure(name: string, conc: number, phase: number, conns: RpcClient[], op: Op, disk: number, servers: Servers): Promise<void> {
  const { pids: serverPids, leaderPid } = servers;
  const lat: number[] = [];
  const leaderCpu0 = processCpuMs(leaderPid);
  const leaderApply0 = await applyCounts(servers.leaderMetrics, servers.token);
  const followerApply0 = await Promise.all(servers.followerMetrics.map((u) => applyCounts(u, servers.token)));
  let errors = 0;
  let firstError = '';
  const cpu0 = totalCpuMs(serverPids);
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: conc }, async (_, w) => {
      // A client id per load: request numbers start again at 1 in each (see raft-bench.ts).
      const worker = `${name}-c${conc}-p${phase}-w${w}`;
      const conn = conns[w % conns.length]!;
      for (let seq = 1; performance.now() < end; seq++) {
        const t0 = performance.now();
        try {
          await op(conn, worker, seq);
          lat.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ||= (err as Error).message;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const cpuMs = totalCpuMs(serverPids) - cpu0;
  const leaderCpuMs = processCpuMs(leaderPid) - leaderCpu0;
  lat.sort((a, b) => a - b);
  const ops = lat.length / elapsed;
  out(`meta_${name}_c${conc}_ops_per_s`, Math.round(ops));
  out(`meta_${name}_c${conc}_p50_ms`, percentile(lat, 50));
  out(`meta_${name}_c${conc}_p99_ms`, percentile(lat, 99));
  if (name === 'mkdir' || name === 'create_commit') {
    out(`meta_${name}_c${conc}_ratio_to_disk_synced_writes`, ops / disk);
    if (lat.length > 0 && Number.isFinite(cpuMs)) out(`meta_${name}_c${conc}_server_cpu_ms_per_op`, cpuMs / lat.length);
    if (lat.length > 0 && Number.isFinite(leaderCpuMs)) out(`meta_${name}_c${conc}_leader_cpu_ms_per_op`, leaderCpuMs / lat.length);
    const perApply = ([t0, e0]: [number, number], [t1, e1]: [number, number]) => (e1 - e0) / Math.max(1, t1 - t0);
    const leaderPer = perApply(leaderApply0, await applyCounts(servers.leaderMetrics, servers.token));
    const followerPer = await Promise.all(servers.followerMetrics.map(async (u, i) => perApply(followerApply0[i]!, await applyCounts(u, servers.token))));
    if (Number.isFinite(leaderPer)) out(`meta_${name}_c${conc}_leader_entries_per_apply`, leaderPer);
    const fp = followerPer.filter(Number.isFinite);
    if (fp.length > 0) out(`meta_${name}_c${conc}_follower_entries_per_apply`, fp.reduce((a, b) => a + b, 0) / fp.length);
  }
  if (errors > 0) {
    out(`meta_${name}_c${conc}_errors`, errors);
    console.error(`# ${name} c${conc}: ${firstError}`);
  }
}

async function main(): Promise<void> {
  const disk = syncedWritesPerSec(dir, 2000);
  out('disk_synced_4k_writes_per_s', Math.round(disk));
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  // Chunk servers only register (placement needs live servers); no chunk data is written.
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 3, nodeArgs });
  cluster.start();
  try {
    await cluster.waitReady(30_000);
    const session = cluster.session();
    const st = (await session.call('cluster.status', {}, { idempotent: true })) as { leader: string };
    session.close();
    const leaderAddr = cluster.member(st.leader).addr;
    const conns = Array.from({ length: CONNS }, () => new RpcClient({ timers: systemTimers }, { addr: leaderAddr, clientToken: cluster.token }));
    const c0 = conns[0]!;
    let setupSeq = 0;
    const setup = (method: string, body: Record<string, unknown>) => c0.call(method, { ...body, s: ['setup', ++setupSeq, setupSeq - 1] });

    // A 100-entry directory for list, and files for stat.
    for (let i = 0; i < 100; i++) await setup('fs.mkdir', { path: `/list/e${String(i).padStart(3, '0')}`, parents: true });
    const files: string[] = [];
    for (let i = 0; i < 200; i++) {
      const alloc = (await c0.call('fs.alloc', { count: 1 })) as { chunks: Array<{ id: string }> };
      const path = `/stat/f${i}`;
      await setup('fs.commit', { path, size: 1024, etag: `e${i}`, chunks: [[alloc.chunks[0]!.id, 1024, 0]], overwrite: false, parents: true });
      files.push(path);
    }

    // One cached placement view shared by the bench's clients, like a process's CairnClient.
    const placement = new PlacementCache({ clock: systemClock, fetch: async () => decodeView(await c0.call('fs.view', {})) });
    const ops: Array<[string, Op]> = [
      ['mkdir', (c, w, seq) => c.call('fs.mkdir', { path: `/mkdir/${w}/${seq}`, parents: true, s: [w, seq, seq - 1] })],
      [
        'create_commit',
        async (c, w, seq) => {
          const view = await placement.current();
          const id = placement.newChunkId(view);
          // The targets the client would write to (the chunk itself is not written here).
          if (placement.targets(view, id, view.grant.token).length === 0) throw new Error(`no write targets for ${id}`);
          const body = { path: `/files/${w}/${seq}`, size: 1024, etag: `${w}-${seq}`, chunks: [[id, 1024, 0]], overwrite: false, parents: true, ringVersion: view.ringVersion };
          return c.call('fs.commit', { ...body, s: [w, seq, seq - 1] });
        },
      ],
      ['stat', (c, _w, seq) => c.call('fs.stat', { path: files[seq % files.length]! })],
      ['list', (c) => c.call('fs.list', { path: '/list', limit: 100 })],
    ];
    const serverPids = cluster.meta.map((m) => m.proc.pid);
    const servers: Servers = {
      pids: serverPids,
      leaderPid: cluster.member(st.leader).proc.pid,
      leaderMetrics: cluster.member(st.leader).metrics,
      followerMetrics: cluster.meta.filter((m) => m.id !== st.leader).map((m) => m.metrics),
      token: cluster.token,
    };
    if (WARMUP_SECONDS > 0) {
      const conc = Math.max(...CONCS);
      for (const [name, op] of ops.filter(([n]) => n === 'mkdir' || n === 'create_commit')) {
        const warm = await closedLoop(conc, WARMUP_SECONDS / 2, (w, n) => op(conns[w % conns.length]!, `warm-${name}-w${w}`, n + 1).then(() => undefined));
        out(`meta_${name}_warmup_ops_per_s`, Math.round(warm.opsPerSec));
        if (warm.errors > 0) out(`meta_${name}_warmup_errors`, warm.errors);
      }
      out('meta_warmup_s', WARMUP_SECONDS);
    }
    for (const [name, op] of ops) {
      if (OPS !== null && !OPS.has(name)) continue;
      for (const [phase, conc] of CONCS.entries()) await measure(name, conc, phase, conns, op, disk, servers);
    }
    for (const c of conns) c.close();
  } finally {
    await cluster.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

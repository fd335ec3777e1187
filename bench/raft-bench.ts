/**
 * Raft commit throughput and latency: a 3-process metadata group on loopback with fsync on,
 * 100-byte commands at 1, 16 and 64 concurrent proposers. The ceiling measured in the same run
 * is the disk's own synced-write rate (4 KiB write + fdatasync per second): one commit needs
 * at least one synced write on the leader and on a follower, in sequence or overlapped.
 *
 * Beside each throughput: the CPU the three server processes used per committed command, all
 * together and the leader alone (`*_server_cpu_ms_per_op`, `*_leader_cpu_ms_per_op`, from
 * /proc): on a machine shared with other work these move far less than throughput does.
 *
 * Beside them, the followers' mean (`*_follower_cpu_ms_per_op`).
 *
 * Before the measured loads, `--warmup-seconds` (default 20; 0: none) of the same commands at the
 * largest concurrency, unmeasured but for their throughput (`raft_put_warmup_ops_per_s`): the
 * servers' hot paths are compiled by then (closed-loop.ts, warm-up).
 *
 * Output: one `name value` per line.  Usage: npm run bench:raft [-- --seconds 5 --conc 1,16,64 --warmup-seconds 20 --cpu-prof DIR]
 *   --conc LIST    concurrencies to run, comma-separated (e.g. 64 alone, to profile one load)
 *   --cpu-prof DIR every server process writes a CPU profile to DIR when the group stops
 *                  (summarize: node dist/bench/profile-summary.js DIR)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange, RpcClient } from '../src/net/index.js';
import { LocalMetaCluster } from '../test/support/local-meta-cluster.js';
import { systemTimers } from '../src/env/system.js';
import { processCpuMs, totalCpuMs } from '../test/support/process-cpu.js';
import { percentile, syncedWritesPerSec } from './ceiling.js';
import { checkBenchArgs } from './bench-args.js';
import { closedLoop, warmupSeconds } from './closed-loop.js';

checkBenchArgs('bench:raft', [
  { name: 'seconds', value: 'number', help: 'seconds per load (default 5)' },
  { name: 'conc', value: 'numbers', help: 'client counts to run (default 1,16,64)' },
  { name: 'cpu-prof', value: 'word', help: 'CPU profiles of the metadata servers into this directory' },
  { name: 'warmup-seconds', value: 'number', help: 'unmeasured load before the measured ones (default 20; 0: none)' },
]);

const WARMUP_SECONDS = warmupSeconds('bench:raft', 20);

const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;
const profAt = process.argv.indexOf('--cpu-prof');
const CPU_PROF_DIR = profAt > 0 ? process.argv[profAt + 1] : undefined;
const concAt = process.argv.indexOf('--conc');
const CONCS = concAt > 0 ? process.argv[concAt + 1]!.split(',').map(Number) : [1, 16, 64];
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-raft-'));

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

async function main(): Promise<void> {
  const disk = syncedWritesPerSec(dir, 2000);
  out('disk_synced_4k_writes_per_s', Math.round(disk));
  const basePort = await findFreePortRange(3, (n) => systemRng.int(n));
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const cluster = new LocalMetaCluster({ dir, basePort, tickMs: 50, electionTicks: 10, nodeArgs });
  cluster.startAll();
  try {
    const leader = await cluster.waitForLeader(20_000);
    /** Up to 8 connections to the leader, shared by `conc` clients. */
    const connect = (conc: number): RpcClient[] =>
      Array.from({ length: Math.min(conc, 8) }, () => new RpcClient({ timers: systemTimers }, { addr: cluster.addrs.get(leader)!, clientToken: cluster.token }));
    if (WARMUP_SECONDS > 0) {
      const conns = connect(Math.max(...CONCS));
      const warm = await closedLoop(Math.max(...CONCS), WARMUP_SECONDS, async (w, n) => {
        await conns[w % conns.length]!.call('fs.mkdir', { path: `/warm-${w}/${String(n + 1).padStart(80, '0')}`, parents: true, s: [`warm-${w}`, n + 1, n] });
      });
      out('raft_warmup_s', WARMUP_SECONDS);
      out('raft_put_warmup_ops_per_s', Math.round(warm.opsPerSec));
      if (warm.errors > 0) out('raft_put_warmup_errors', warm.errors);
      for (const c of conns) c.close();
    }
    for (const [phase, conc] of CONCS.entries()) {
      const conns = connect(conc);
      const lat: number[] = [];
      let errors = 0;
      const pids = cluster.ids.map((id) => cluster.proc(id).pid);
      const leaderPid = cluster.proc(leader).pid;
      const cpu0 = totalCpuMs(pids);
      const leaderCpu0 = processCpuMs(leaderPid);
      const followerPids = pids.filter((p) => p !== leaderPid);
      const followerCpu0 = totalCpuMs(followerPids);
      const start = performance.now();
      const end = start + seconds * 1000;
      await Promise.all(
        Array.from({ length: conc }, async (_, w) => {
          // A client id per load: a client's request numbers start again at 1 in each load,
          // and a remembered client would refuse them as already answered (StaleRequest).
          const client = `b${conc}-${phase}-${w}`;
          const conn = conns[w % conns.length]!;
          for (let seq = 1; performance.now() < end; seq++) {
            const t0 = performance.now();
            try {
              // One ~100-byte namespace command (mkdir of a padded path) per call.
              await conn.call('fs.mkdir', { path: `/${client}/${String(seq).padStart(80, '0')}`, parents: true, s: [client, seq, seq - 1] });
              lat.push(performance.now() - t0);
            } catch {
              errors++;
            }
          }
        }),
      );
      const elapsed = (performance.now() - start) / 1000;
      const cpuMs = totalCpuMs(pids) - cpu0;
      const leaderCpuMs = processCpuMs(leaderPid) - leaderCpu0;
      const followerCpuMs = (totalCpuMs(followerPids) - followerCpu0) / Math.max(1, followerPids.length);
      lat.sort((a, b) => a - b);
      const ops = lat.length / elapsed;
      out(`raft_put_c${conc}_ops_per_s`, Math.round(ops));
      out(`raft_put_c${conc}_p50_ms`, percentile(lat, 50));
      out(`raft_put_c${conc}_p99_ms`, percentile(lat, 99));
      out(`raft_put_c${conc}_ratio_to_disk_synced_writes`, ops / disk);
      if (lat.length > 0 && Number.isFinite(cpuMs)) {
        out(`raft_put_c${conc}_server_cpu_ms_per_op`, cpuMs / lat.length);
        out(`raft_put_c${conc}_leader_cpu_ms_per_op`, leaderCpuMs / lat.length);
        out(`raft_put_c${conc}_follower_cpu_ms_per_op`, followerCpuMs / lat.length);
      }
      if (errors > 0) out(`raft_put_c${conc}_errors`, errors);
      for (const c of conns) c.close();
    }
  } finally {
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

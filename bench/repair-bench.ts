/**
 * Repair speed (issue 6): a real DevCluster (3 metadata, 4 chunk servers, R = 3, 8 MiB chunks,
 * dead after 3 heartbeats (at least 2 s), repair throttle lifted), SIZE bytes written, then the chunk server holding the
 * most replicas killed with SIGKILL:
 *   repair_seconds       from the moment it is declared dead until no chunk is under-replicated
 *   repair_mib_per_s     the dead server's bytes re-replicated per second
 * against the disk's synced write throughput measured in the same run (ratio), and then the
 * moved fraction when a fifth server joins: the share of all replicas it ends up holding, against
 * the ideal 1/N.
 *
 * Then client latency under repair, on a second cluster whose chunk servers keep the default
 * repair throttle (or each of --throttle-mib A,B,…): sequential 4 KiB gets and puts through the
 * client library while idle, then while the same kill -9 repair runs; p50/p99 of each and their
 * ratio to idle (the default must keep client latency within 2× of idle), and the repair rate
 * at that throttle.
 *
 * Small chunks (issue 14, the per-chunk toll): `--small-chunks` runs, before anything else, the
 * same kill -9 repair on a cluster that writes CHUNK_MIB-MiB chunks (default 1), a SMALL_MIB-MiB
 * file (default 77), chunk servers declared dead after DEAD_AFTER seconds (default 5), the
 * servers' own repair throttle (as a user runs it):
 *   repair_small_chunks_seconds_after_declared_dead   declared dead → no chunk under-replicated
 *   repair_small_chunks_seconds_after_kill             kill -9 → the same (includes DEAD_AFTER)
 *   repair_small_chunks_mib_per_s, repair_small_chunks_chunks_per_s   the lost replicas' rate
 * (--small-only: that phase alone; --chunk-mib, --small-mib, --dead-after set its sizes;
 * --cpu-prof DIR: every surviving server process of that cluster writes a CPU profile to DIR
 * when the cluster stops, right after the repair; summarize with dist/bench/profile-summary.js)
 *
 * Output: one `name value` per line.  Usage: npm run bench:repair [-- --mib 1024 --throttle-mib 64,32]
 * (--repair-only: the lost-server repair alone; --latency-only: the latency phase alone;
 * --heartbeat-ms N: the chunk servers' heartbeat, default their own 1000; --cpu-prof DIR also
 * profiles the lost-server repair's cluster). The lost-server repair also reports
 * repair_chunk_cpu_s_per_gib and repair_cpu_s_per_gib: CPU-s of the surviving chunk servers
 * (and with the metadata servers) from the dead verdict until repaired, per GiB re-replicated —
 * the figure that holds on a shared machine, where MiB/s does not. The latency phase adds p90.
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { sleep, systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { LocalProcess } from '../src/server/local-process.js';
import { REPAIR_BYTES_PER_SEC_DEFAULT } from '../src/chunk/replicator.js';
import { percentile, processCpuMs, syncedWrite } from './ceiling.js';
import { block } from './cli-child.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('bench:repair', [
  { name: 'mib', value: 'number', help: 'file size for the lost-server repair (default 1024)' },
  { name: 'throttle-mib', value: 'numbers', help: 'repair throttles for the latency phase, MiB/s (default the servers\' own)' },
  { name: 'heartbeat-ms', value: 'number', help: 'the chunk servers\' heartbeat (default their own 1000)' },
  { name: 'chunk-mib', value: 'number', help: 'small-chunks phase: chunk size (default 1)' },
  { name: 'small-mib', value: 'number', help: 'small-chunks phase: file size (default 77)' },
  { name: 'dead-after', value: 'number', help: 'small-chunks phase: seconds until a silent server is dead (default 5)' },
  { name: 'cpu-prof', value: 'word', help: 'CPU profiles of the repairing clusters\' servers into this directory' },
  { name: 'repair-only', help: 'the lost-server repair alone' },
  { name: 'latency-only', help: 'the latency-during-repair phase alone' },
  { name: 'small-chunks', help: 'run the small-chunks repair first' },
  { name: 'small-only', help: 'the small-chunks repair alone' },
]);

const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 1024;
const throttleArg = process.argv.indexOf('--throttle-mib');
const THROTTLES_MIB = throttleArg > 0 ? process.argv[throttleArg + 1]!.split(',').map(Number) : [REPAIR_BYTES_PER_SEC_DEFAULT / 2 ** 20];
const hbArg = process.argv.indexOf('--heartbeat-ms');
/** Chunk servers' heartbeat period; the servers' own default (1 s) unless given. */
const HEARTBEAT_MS = hbArg > 0 ? Number(process.argv[hbArg + 1]) : 1000;
const numArg = (flag: string, dflt: number): number => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? Number(process.argv[at + 1]) : dflt;
};
const SMALL_CHUNK_MIB = numArg('--chunk-mib', 1);
const SMALL_MIB = numArg('--small-mib', 77);
const SMALL_DEAD_AFTER_SEC = numArg('--dead-after', 5);
const profAt = process.argv.indexOf('--cpu-prof');
const CPU_PROF_DIR = profAt > 0 ? resolve(process.argv[profAt + 1]!) : undefined;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-repair-'));

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

async function until(what: string, timeoutMs: number, cond: () => Promise<boolean>, stepMs = 100): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await cond()) return;
    await sleep(stepMs);
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

async function main(): Promise<void> {
  const disk = syncedWrite(dir);
  const diskMiBs = disk.mibPerSec;
  out('disk_synced_write_mib_per_s', diskMiBs);
  out('disk_write_sys_s_per_gib', disk.writeSysSPerGiB);
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, deadAfterSec: Math.max(2, Math.ceil((3 * HEARTBEAT_MS) / 1000)), heartbeatMs: HEARTBEAT_MS, repairBytesPerSec: 0, gateway: false, nodeArgs });
  cluster.start();
  const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  let extra: LocalProcess | null = null;
  try {
    await cluster.waitReady(60_000);
    let i = 0;
    await client.put('/bench/big', new Readable({ read() { this.push(i < MIB ? block(i++) : null); } }));
    await until('every chunk at 3 replicas', 60_000, async () => (await client.status()).chunks.underReplicated === 0);
    const before = await client.status();
    const victim = [...before.chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    const lostMiB = victim.used / 2 ** 20;
    await cluster.member(victim.id).proc.kill('SIGKILL');
    await until('declared dead', 30_000, async () => (await client.status()).chunkServers.find((c) => c.id === victim.id)!.state === 'dead', 50);
    const chunkPids = cluster.clusterJson().chunks.filter((c) => c.id !== victim.id).map((c) => c.pid).filter((p): p is number => p !== null);
    const metaPids = cluster.clusterJson().meta.map((m) => m.pid).filter((p): p is number => p !== null);
    const cpu0 = processCpuMs([...chunkPids, ...metaPids]);
    const t0 = performance.now();
    const trace: string[] = [];
    await until('repaired', 600_000, async () => {
      const st = await client.status();
      if (process.env.CAIRN_BENCH_TRACE) trace.push(`${((performance.now() - t0) / 1000).toFixed(2)}:${st.chunks.underReplicated}`);
      return st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    }, 50);
    if (trace.length > 0) console.error(`under-replicated over time (s:chunks) ${trace.join(' ')}`);
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = processCpuMs([...chunkPids, ...metaPids]);
    const cpuS = (pids: number[]): number => pids.reduce((t, pid) => t + (cpu1.get(pid) ?? 0) - (cpu0.get(pid) ?? 0), 0) / 1000;
    out('file_mib', MIB);
    out('repair_lost_replicas_mib', lostMiB);
    out('repair_seconds_after_declared_dead', secs);
    out('repair_mib_per_s', lostMiB / secs);
    out('repair_ratio_to_disk', lostMiB / secs / diskMiBs);
    // CPU of the surviving servers from the dead verdict until repaired, per GiB re-replicated.
    out('repair_chunk_cpu_s_per_gib', (cpuS(chunkPids) * 1024) / lostMiB);
    out('repair_cpu_s_per_gib', (cpuS([...chunkPids, ...metaPids]) * 1024) / lostMiB);
    if (process.argv.includes('--repair-only')) return;

    // Join: the victim comes back, then a fifth server is added; its final share of all replicas.
    cluster.member(victim.id).proc.start();
    await until('victim back and excess removed', 300_000, async () => {
      const st = await client.status();
      return st.chunkServers.every((c) => c.state === 'alive') && st.chunkServers.reduce((a, c) => a + c.chunks, 0) === 3 * st.chunks.total;
    }, 250);
    const j = cluster.clusterJson().chunks.find((c) => c.id === 'c4')!;
    const port = Number(j.addr.split(':')[1]) + 1;
    const newDir = join(dir, 'cluster', 'chunks', 'c5');
    const swap = (v: string): string => (v === 'c4' ? 'c5' : v === j.addr ? `127.0.0.1:${port}` : v === j.dir ? newDir : v);
    extra = new LocalProcess({ id: 'c5', argv: j.argv.map(swap), stderr: openSync(join(dir, 'cluster', 'logs', 'c5.log'), 'a') });
    const t1 = performance.now();
    extra.start();
    await until('rebalanced', 600_000, async () => {
      const st = await client.status();
      const c5 = st.chunkServers.find((c) => c.id === 'c5');
      return (c5?.chunks ?? 0) > 0 && st.chunks.underReplicated === 0 && st.chunkServers.reduce((a, c) => a + c.chunks, 0) === 3 * st.chunks.total;
    }, 250);
    const st = await client.status();
    const share = st.chunkServers.find((c) => c.id === 'c5')!.chunks / (3 * st.chunks.total);
    out('join_seconds', (performance.now() - t1) / 1000);
    out('join_moved_fraction', share);
    out('join_moved_ratio_to_ideal', share / (1 / 5));
    out('load_average_1m', loadavg()[0]!);
  } finally {
    client.close();
    await extra?.kill('SIGTERM', 5000);
    await cluster.stop();
  }
}

/** The kill -9 repair of a cluster of small chunks (the per-chunk toll: opens, fsyncs, round trips per chunk). */
async function smallChunks(): Promise<void> {
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const chunkSize = Math.round(SMALL_CHUNK_MIB * 2 ** 20);
  const cluster = new DevCluster({ dir: join(dir, 'small'), portBase, deadAfterSec: SMALL_DEAD_AFTER_SEC, heartbeatMs: HEARTBEAT_MS, chunkSize, gateway: false, nodeArgs });
  cluster.start();
  const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  try {
    await cluster.waitReady(60_000);
    let i = 0;
    await client.put('/bench/small-chunks', new Readable({ read() { this.push(i < SMALL_MIB ? block(i++) : null); } }));
    await until('every chunk at 3 replicas', 60_000, async () => (await client.status()).chunks.underReplicated === 0);
    const before = await client.status();
    const victim = [...before.chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    // The file's replicas on the victim (its heartbeat's byte count may lag the last writes).
    const held = (await client.stat('/bench/small-chunks')).chunks.filter((c) => c.replicas.includes(victim.id));
    const lostMiB = held.reduce((n, c) => n + c.size, 0) / 2 ** 20;
    const lostChunks = held.length;
    const tKill = performance.now();
    await cluster.member(victim.id).proc.kill('SIGKILL');
    await until('declared dead', 60_000, async () => (await client.status()).chunkServers.find((c) => c.id === victim.id)!.state === 'dead', 50);
    const t0 = performance.now();
    await until('repaired', 600_000, async () => {
      const st = await client.status();
      return st.chunks.underReplicated === 0 && st.chunks.lost === 0;
    }, 50);
    const t1 = performance.now();
    out('repair_small_chunks_chunk_mib', SMALL_CHUNK_MIB);
    out('repair_small_chunks_file_mib', SMALL_MIB);
    out('repair_small_chunks_dead_after_s', SMALL_DEAD_AFTER_SEC);
    out('repair_small_chunks_lost_replicas_mib', lostMiB);
    out('repair_small_chunks_lost_replicas', lostChunks);
    out('repair_small_chunks_seconds_after_declared_dead', (t1 - t0) / 1000);
    out('repair_small_chunks_seconds_after_kill', (t1 - tKill) / 1000);
    out('repair_small_chunks_mib_per_s', lostMiB / ((t1 - t0) / 1000));
    out('repair_small_chunks_chunks_per_s', lostChunks / ((t1 - t0) / 1000));
    out('repair_small_chunks_load_average_1m', loadavg()[0]!);
  } finally {
    client.close();
    await cluster.stop();
  }
}

/** Latency of one 4 KiB get and one 4 KiB put, alternating, until `stop()` or `opsMax` pairs. */
async function sampleLatency(client: CairnClient, smalls: string[], opsMax: number, stop: () => boolean): Promise<{ get: number[]; put: number[]; failed: number }> {
  const get: number[] = [];
  const put: number[] = [];
  let failed = 0;
  const body = Buffer.alloc(4096, 7);
  for (let k = 0; k < opsMax && !stop(); k++) {
    // A failed operation (seen on a machine loaded far beyond its 2 cores: a chunk server hangs
    // up a put) is counted, not timed, and the sampling goes on.
    try {
      const t0 = performance.now();
      const o = await client.open(smalls[k % smalls.length]!);
      for await (const _ of o.stream as AsyncIterable<Buffer>) void _;
      const t1 = performance.now();
      await client.put(`/lat/p${k % 64}`, [body], { overwrite: true });
      const t2 = performance.now();
      get.push(t1 - t0);
      put.push(t2 - t1);
    } catch (e) {
      failed++;
      console.error(`latency sample failed: ${(e as Error).message}`);
    }
  }
  return { get: get.sort((a, b) => a - b), put: put.sort((a, b) => a - b), failed };
}

/** Client latency idle and during the repair of a killed server, at a repair throttle of `mibPerSec` per chunk server. */
async function latencyUnderRepair(mibPerSec: number): Promise<void> {
  const tag = `t${mibPerSec}`;
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cdir = join(dir, `lat-${tag}`);
  const cluster = new DevCluster({ dir: cdir, portBase, deadAfterSec: Math.max(2, Math.ceil((3 * HEARTBEAT_MS) / 1000)), heartbeatMs: HEARTBEAT_MS, repairBytesPerSec: Math.round(mibPerSec * 2 ** 20), gateway: false });
  cluster.start();
  const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  try {
    await cluster.waitReady(60_000);
    let i = 0;
    await client.put('/bench/big', new Readable({ read() { this.push(i < MIB ? block(i++) : null); } }));
    const smalls: string[] = [];
    for (let k = 0; k < 32; k++) {
      smalls.push(`/lat/s${k}`);
      await client.put(`/lat/s${k}`, [Buffer.alloc(4096, k)]);
    }
    await until('every chunk at 3 replicas', 60_000, async () => (await client.status()).chunks.underReplicated === 0);
    await sleep(2000); // let the writes' background flushes settle
    const idle = await sampleLatency(client, smalls, 150, () => false);
    const before = await client.status();
    const victim = [...before.chunkServers].sort((a, b) => b.chunks - a.chunks)[0]!;
    const lostMiB = victim.used / 2 ** 20;
    await cluster.member(victim.id).proc.kill('SIGKILL');
    await until('declared dead', 30_000, async () => (await client.status()).chunkServers.find((c) => c.id === victim.id)!.state === 'dead', 50);
    const t0 = performance.now();
    let repaired = false;
    let repairedAt = 0;
    const watcher = (async () => {
      while (!repaired && performance.now() - t0 < 600_000) {
        // The big file's chunks (status counts would include the small files the sampler keeps writing).
        const st = await client.stat('/bench/big');
        if (st.chunks.every((c) => c.replicas.filter((r) => r !== victim.id).length >= 3)) {
          repaired = true;
          repairedAt = performance.now();
        } else await sleep(50);
      }
    })();
    const busy = await sampleLatency(client, smalls, 100_000, () => repaired).catch(async (e: unknown) => {
      repaired = true; // stop the watcher before the client closes, so the sampler's error is the one reported
      await watcher.catch(() => undefined);
      throw e;
    });
    await watcher;
    const secs = ((repairedAt || performance.now()) - t0) / 1000;
    out(`lat_${tag}_repair_mib_per_s`, lostMiB / secs);
    out(`lat_${tag}_repair_seconds`, secs);
    out(`lat_${tag}_samples_idle`, idle.get.length);
    out(`lat_${tag}_samples_during_repair`, busy.get.length);
    out(`lat_${tag}_failed_ops`, idle.failed + busy.failed);
    for (const op of ['get', 'put'] as const) {
      for (const p of [50, 90, 99]) {
        const a = percentile(idle[op], p);
        const b = percentile(busy[op], p);
        out(`lat_${tag}_${op}_4k_p${p}_idle_ms`, a);
        out(`lat_${tag}_${op}_4k_p${p}_repair_ms`, b);
        out(`lat_${tag}_${op}_4k_p${p}_ratio`, b / a);
      }
    }
  } finally {
    client.close();
    await cluster.stop();
  }
}

try {
  const smallOnly = process.argv.includes('--small-only');
  if (smallOnly || process.argv.includes('--small-chunks')) await smallChunks();
  if (!smallOnly && !process.argv.includes('--latency-only')) await main();
  if (!smallOnly && !process.argv.includes('--repair-only')) for (const t of THROTTLES_MIB) await latencyUnderRepair(t);
  out('load_average_1m_end', loadavg()[0]!);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

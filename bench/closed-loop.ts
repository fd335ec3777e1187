/**
 * What the benchmarks share (bench/data-bench.ts, bench/s3-bench.ts, bench/http-bench.ts, and the
 * warm-up also bench/raft-bench.ts and bench/meta-bench.ts): the machine's ceilings printed
 * first, a warm-up, a closed loop of workers for a fixed time with its throughput and latency
 * percentiles, the CPU time per operation of every process, and the `name value` lines they print.
 */
import { performance } from 'node:perf_hooks';
import { loopbackMiBPerSec, percentile, processCpuMs, syncedWrite } from './ceiling.js';

/** `--name N` from the command line, else `dflt`. */
export function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/**
 * Warm-up. A server's hot paths run in V8's baseline tiers until the optimizing compiler has
 * taken them, which at the request rates of these benches takes 10–40 s after a server starts:
 * on a fresh cluster, 4 KiB puts went 738 → ~1,300/s inline and 91 → ~195/s in chunks over the
 * first 30–35 s, Raft commits at 64 clients 4,145 → ~5,300/s over ~20 s (bench/RESULTS.md,
 * 2026-12-07). A figure taken in a cluster's first seconds measures that compilation, not the
 * steady state a running server holds, so a bench first runs its load unmeasured for
 * `--warmup-seconds` (0: measure from a cold start). Returns that count, exiting on a bad one.
 */
export function warmupSeconds(bench: string, dflt: number): number {
  const s = arg('warmup-seconds', dflt);
  if (!Number.isFinite(s) || s < 0) {
    process.stderr.write(`${bench}: --warmup-seconds takes a number of seconds, 0 or more, not ${s}\n`);
    process.exit(2);
  }
  return s;
}

/** One figure, as tools read it. */
export function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

export interface Loop {
  opsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface Measured extends Loop {
  /** CPU ms per op: every server process and this one (the clients) together, and the clients alone. */
  cpuMsPerOp: number;
  clientCpuMsPerOp: number;
}

/** Runs `op` on `workers` workers for `seconds`; ops/s and latency percentiles (failed ops counted apart). */
export async function closedLoop(workers: number, seconds: number, op: (worker: number, n: number) => Promise<void>): Promise<Loop> {
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async (_x, w) => {
      for (let n = 0; performance.now() < end; n++) {
        const t0 = performance.now();
        try {
          await op(w, n);
          lat.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: lat.length / secs, p50: percentile(lat, 50), p99: percentile(lat, 99), errors };
}

/** Runs a closed loop and adds the CPU time it cost per operation (servers from /proc, clients from this process). */
export async function measured(serverPids: number[], run: () => Promise<Loop>): Promise<Measured> {
  const servers0 = processCpuMs(serverPids);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await run();
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const servers1 = processCpuMs(serverPids);
  let serverMs = 0;
  for (const pid of serverPids) serverMs += (servers1.get(pid) ?? 0) - (servers0.get(pid) ?? 0);
  const clientMs = (self.user + self.system) / 1000;
  const ops = Math.max(1, r.opsPerSec * seconds);
  return { ...r, cpuMsPerOp: (serverMs + clientMs) / ops, clientCpuMsPerOp: clientMs / ops };
}

/** The six lines of one measured loop, under `name`. */
export function report(name: string, m: Measured): void {
  out(`${name}_ops_per_s`, m.opsPerSec);
  out(`${name}_p50_ms`, m.p50);
  out(`${name}_p99_ms`, m.p99);
  out(`${name}_errors`, m.errors);
  out(`${name}_cpu_ms_per_op`, m.cpuMsPerOp);
  out(`${name}_client_cpu_ms_per_op`, m.clientCpuMsPerOp);
}

/** The machine's ceilings, measured and printed at the start of a run: synced disk writes in `dir`, one loopback stream. */
export async function ceilings(dir: string): Promise<{ diskMiBs: number; loopMiBs: number }> {
  const disk = syncedWrite(dir);
  const diskMiBs = disk.mibPerSec;
  const loopMiBs = await loopbackMiBPerSec();
  out('disk_synced_write_mib_per_s', diskMiBs);
  out('disk_write_sys_s_per_gib', disk.writeSysSPerGiB);
  out('loopback_tcp_mib_per_s', loopMiBs);
  return { diskMiBs, loopMiBs };
}

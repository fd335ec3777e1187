/**
 * The data path end to end (issue 4's targets): a real DevCluster (3 metadata servers, 4 chunk
 * servers, replication 3, the default chunk size) and
 *   put      `cairn put FILE /big` of a SIZE-byte file (the built CLI as a child process)
 *   get      `cairn get /big -` of the same file, just written, so the chunk servers' page cache
 *            holds it (a "cached file"); the bench checks every 4 KiB of what comes out
 *   small    4 KiB puts, then 4 KiB gets, by 16 concurrent clients of the client library (one
 *            CairnClient each, as 16 batch-job processes would be; `--clients N` for another
 *            count, whose figures are named `…_cN_…`), ops/s and p50/p99, and the
 *            CPU time per operation of every process together (servers from /proc, the clients
 *            = this process) and of the clients alone; the same for 64 KiB files
 * with the machine's ceilings measured in the same run:
 *   disk     synced write throughput for chunk-sized files (1 MiB writes, fsync per 8 MiB)
 *   loopback Node's own TCP throughput on 127.0.0.1 (one connection)
 *   range8   8 parallel Range reads (one eighth of the file each) of the same file by one client
 *            of the library in this process, against one stream of the whole file by it
 *            (`range8_mib_per_s`, `range8_single_mib_per_s`, `range8_ratio_to_single`); then the
 *            same by a batch job, a process of its own (range-child.ts), after two unmeasured
 *            rounds: `range8_warm_…`, with the job's CPU-s per GiB read (`…_client_cpu_s_per_gib`)
 *            and the cores the job and the servers kept busy (`…_cores_busy`)
 *   get_devnull, get_file  the same `cairn get` with its stdout on /dev/null, and into a new
 *            local file: the reader of `get` above is this Node process checking every 4 KiB,
 *            which caps that figure here (a Node reader of a pipe: ~270–540 MiB/s)
 *   get_devnull_warm  the same get to /dev/null on warm servers: WARM_GETS more of them, the
 *            median of the last WARM_COUNTED (`get_devnull_warm_mib_per_s`). A fresh chunk
 *            server's read path takes several 1 GiB gets to be compiled: in 14 gets of one fresh
 *            cluster its CPU per GiB fell from 0.80–0.87 s to 0.65–0.69 (RESULTS, 2026-12-07
 *            twelfth session). `get_devnull` above stays the second get of a fresh cluster.
 * and ratios: put against disk/3 (every byte is written and synced three times on this one disk),
 * get against loopback. The CLI's peak RSS is printed for both transfers. CPU per GiB moved:
 * `*_cpu_s_per_gib` every server and the CLI together, `*_cli_cpu_s_per_gib` the CLI,
 * `*_chunk_cpu_s_per_gib` the chunk servers together (`*_chunk_user_…` / `*_chunk_sys_…` apart).
 *
 * Output: one `name value` per line.
 * Usage: npm run bench:data [-- --mib 1024 --seconds 5 --small-only]
 *   --small-only   skip the 1 GiB put/get (small-file figures only)
 *   --big-only     the 1 GiB put/get alone (no small-file figures)
 *   --clients N    concurrent small-file clients (default 16; the figure names carry the count)
 *   --no-inline    metadata servers store every file in chunks (the cluster otherwise runs with
 *                  `cairn meta`'s default: files up to 64 KiB inline with their metadata)
 *   --warmup-seconds N  the small-file loads start after N seconds (default 30; 0: none) of
 *                  unmeasured puts and gets of both sizes (see closed-loop.ts, warm-up); the first
 *                  `--seconds` of it are 4 KiB puts, reported as `small_put_4k_cN_cold_ops_per_s`
 *                  (the first seconds of small-file load, what `small_put_4k_cN_ops_per_s`
 *                  measured before 2026-12-07; with --small-only, a fresh cluster's first seconds)
 *   --cpu-prof DIR every server process writes a CPU profile to DIR when the cluster stops
 *                  (summarize: node dist/bench/profile-summary.js DIR), and so does the CLI of
 *                  the put and the get; run the bench itself
 *                  under `node --cpu-prof` to profile the clients too
 */
import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { INLINE_BYTES_MAX_DEFAULT } from '../src/config/defaults.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { median, processCpuMs } from './ceiling.js';
import { arg, ceilings, closedLoop, measured, out, report, warmupSeconds } from './closed-loop.js';
import { checkStream, feedStream, runCli } from './cli-child.js';
import { checkBenchArgs } from './bench-args.js';

/** Gets to /dev/null after the measured ones, for get_devnull_warm, and how many of the last count. */
const WARM_GETS = 12;
const WARM_COUNTED = 5;

checkBenchArgs('bench:data', [
  { name: 'mib', value: 'number', help: 'large file size (default 1024)' },
  { name: 'seconds', value: 'number', help: 'seconds per small-file load (default 5)' },
  { name: 'small-only', help: 'the small-file figures alone' },
  { name: 'big-only', help: 'the large put/get (and Range) figures alone' },
  { name: 'clients', value: 'number', help: 'concurrent small-file clients (default 16)' },
  { name: 'no-inline', help: 'every file in chunks, none inline' },
  { name: 'warmup-seconds', value: 'number', help: 'unmeasured small-file load before the small figures (default 30; 0: none)' },
  { name: 'cpu-prof', value: 'word', help: 'CPU profiles of every server process and the CLI into this directory' },
]);

const MIB = arg('mib', 1024);
const SECONDS = arg('seconds', 5);
const CLIENTS = arg('clients', 16);
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 1024) {
  process.stderr.write(`bench:data: --clients takes a whole number from 1 to 1024, not ${CLIENTS}\n`);
  process.exit(2);
}
const WARMUP_SECONDS = warmupSeconds('bench:data', 30);
const SMALL_ONLY = process.argv.includes('--small-only');
const BIG_ONLY = process.argv.includes('--big-only');
const INLINE_BYTES_MAX = process.argv.includes('--no-inline') ? 0 : INLINE_BYTES_MAX_DEFAULT;
const profAt = process.argv.indexOf('--cpu-prof');
const CPU_PROF_DIR = profAt > 0 ? process.argv[profAt + 1] : undefined;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-data-'));

async function main(): Promise<void> {
  const { diskMiBs, loopMiBs } = await ceilings(dir);

  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3, nodeArgs, inlineBytesMax: INLINE_BYTES_MAX });
  cluster.start();
  const clients: CairnClient[] = [];
  try {
    await cluster.waitReady(60_000);
    if (!SMALL_ONLY) {
      const env = { ...process.env, CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
      const local = join(dir, 'local.bin');
      await feedStream(createWriteStream(local), MIB);

      const chunkPids = cluster.clusterJson().chunks.map((s) => s.pid).filter((p): p is number => p !== null);
      const serverPids = chunkPids.concat(cluster.clusterJson().meta.map((s) => s.pid).filter((p): p is number => p !== null));
      const cpu0 = processCpuMs(serverPids);
      const chunk0 = chunkTimesMs(chunkPids);
      const put0Us = monotonicUs();
      const put = await runCli(['put', local, '/bench/big.bin'], env, undefined, undefined, nodeArgs);
      const put1Us = monotonicUs();
      const cpu1 = processCpuMs(serverPids);
      const chunk1 = chunkTimesMs(chunkPids);
      const get = await runCli(['get', '/bench/big.bin', '-'], env, undefined, (s) => checkStream(s, MIB), nodeArgs);
      const get1Us = monotonicUs();
      const cpu2 = processCpuMs(serverPids);
      const chunk2 = chunkTimesMs(chunkPids);
      const serverSeconds = (a: Map<number, number>, b: Map<number, number>): number => serverPids.reduce((t, pid) => t + (b.get(pid) ?? 0) - (a.get(pid) ?? 0), 0) / 1000;
      const putMiBs = MIB / put.seconds;
      const getMiBs = MIB / get.seconds;
      out('file_mib', MIB);
      out('put_mib_per_s', putMiBs);
      out('put_ratio_to_disk_over_3', putMiBs / (diskMiBs / 3));
      out('put_cli_peak_rss_mib', put.peakRssMib);
      out('get_mib_per_s', getMiBs);
      out('get_ratio_to_loopback', getMiBs / loopMiBs);
      out('get_cli_peak_rss_mib', get.peakRssMib);
      // CPU per GiB moved, every server and the CLI together: the figure that holds on a busy machine.
      out('put_cpu_s_per_gib', ((serverSeconds(cpu0, cpu1) + put.cpuSeconds) * 1024) / MIB);
      out('put_cli_cpu_s_per_gib', (put.cpuSeconds * 1024) / MIB);
      out('get_cpu_s_per_gib', ((serverSeconds(cpu1, cpu2) + get.cpuSeconds) * 1024) / MIB);
      out('get_cli_cpu_s_per_gib', (get.cpuSeconds * 1024) / MIB);
      // The chunk servers alone (all of them together), user and system time apart.
      const perGib = (ms: number): number => (ms / 1000) * (1024 / MIB);
      out('put_chunk_cpu_s_per_gib', perGib(chunk1.user - chunk0.user + chunk1.sys - chunk0.sys));
      out('put_chunk_user_s_per_gib', perGib(chunk1.user - chunk0.user));
      out('put_chunk_sys_s_per_gib', perGib(chunk1.sys - chunk0.sys));
      out('get_chunk_cpu_s_per_gib', perGib(chunk2.user - chunk1.user + chunk2.sys - chunk1.sys));
      out('get_chunk_user_s_per_gib', perGib(chunk2.user - chunk1.user));
      out('get_chunk_sys_s_per_gib', perGib(chunk2.sys - chunk1.sys));
      if (CPU_PROF_DIR !== undefined) {
        // Where the put and the get fall in the servers' profiles (CLOCK_MONOTONIC µs, the clock
        // of a .cpuprofile's startTime): a profile can then be cut into the two phases.
        out('cpu_prof_put_from_us', put0Us);
        out('cpu_prof_put_to_us', put1Us);
        out('cpu_prof_get_to_us', get1Us);
      }
      // The same get into /dev/null and into a new local file: get_mib_per_s above is read by
      // this (Node) process, which checks it and caps it on this machine (RESULTS, 2026-12-06).
      const getNull = await runCli(['get', '/bench/big.bin', '-'], env, undefined, undefined, nodeArgs);
      out('get_devnull_mib_per_s', MIB / getNull.seconds);
      const got = join(dir, 'got.bin');
      const getFile = await runCli(['get', '/bench/big.bin', got], env, undefined, undefined, nodeArgs);
      out('get_file_mib_per_s', MIB / getFile.seconds);
      rmSync(got, { force: true });
      const warm: number[] = [];
      for (let i = 0; i < WARM_GETS; i++) warm.push(MIB / (await runCli(['get', '/bench/big.bin', '-'], env, undefined, undefined, nodeArgs)).seconds);
      out('get_devnull_warm_mib_per_s', median(warm.slice(-WARM_COUNTED)));
      await rangeReads(cluster, MIB);
      await rangeReadsWarm(env, serverPids);
    }

    if (BIG_ONLY) return;
    const config = { metaAddrs: cluster.metaAddrs, token: cluster.token };
    for (let i = 0; i < CLIENTS; i++) clients.push(createCairnClient(config));
    await clients[0]!.mkdir('/small', { parents: true });
    const json = cluster.clusterJson();
    const serverPids = [...json.meta, ...json.chunks].map((s) => s.pid).filter((p): p is number => p !== null);
    if (WARMUP_SECONDS > 0) await warmUp(clients, serverPids);
    for (const [label, bytes] of [['4k', 4096], ['64k', 65536]] as const) {
      const body = Buffer.alloc(bytes, 0x42);
      const written: string[][] = clients.map(() => []);
      const putFromUs = monotonicUs();
      const puts = await measured(serverPids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const c = clients[w]!;
          const path = `/small/${label}-w${w}-${n}`;
          await c.put(path, [body]);
          written[w]!.push(path);
        }),
      );
      report(`small_put_${label}_c${CLIENTS}`, puts);
      if (CPU_PROF_DIR !== undefined) {
        out(`cpu_prof_small_put_${label}_from_us`, putFromUs);
        out(`cpu_prof_small_put_${label}_to_us`, monotonicUs());
      }
      const gets = await measured(serverPids, () =>
        closedLoop(CLIENTS, SECONDS, async (w, n) => {
          const c = clients[w]!;
          const mine = written[w]!;
          const { stream } = await c.open(mine[n % mine.length]!);
          let got = 0;
          for await (const b of stream as AsyncIterable<Buffer>) got += b.length;
          if (got !== bytes) throw new Error(`read ${got} bytes`);
        }),
      );
      report(`small_get_${label}_c${CLIENTS}`, gets);
    }
    out('load_average_1m', loadavg()[0]!);
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The small-file warm-up (closed-loop.ts): 4 KiB puts for the first `--seconds` (reported as the
 * cold figure), then puts of both sizes each read back, until WARMUP_SECONDS have passed.
 */
async function warmUp(clients: CairnClient[], serverPids: number[]): Promise<void> {
  const small = Buffer.alloc(4096, 0x57);
  const large = Buffer.alloc(65536, 0x57);
  const coldSeconds = Math.min(SECONDS, WARMUP_SECONDS);
  const cold = await measured(serverPids, () =>
    closedLoop(CLIENTS, coldSeconds, async (w, n) => {
      await clients[w]!.put(`/small/warm-w${w}-c${n}`, [small]);
    }),
  );
  out(`small_put_4k_c${CLIENTS}_cold_ops_per_s`, cold.opsPerSec);
  out(`small_put_4k_c${CLIENTS}_cold_cpu_ms_per_op`, cold.cpuMsPerOp);
  let errors = cold.errors;
  if (WARMUP_SECONDS > coldSeconds) {
    const warm = await closedLoop(CLIENTS, WARMUP_SECONDS - coldSeconds, async (w, n) => {
      const c = clients[w]!;
      const body = n % 4 === 3 ? large : small;
      // New files only: replacing or removing would have the chunk servers delete replicas
      // during the measured loads (garbage collection), which they do not do otherwise.
      const path = `/small/warm-w${w}-${n}`;
      await c.put(path, [body]);
      const { stream } = await c.open(path);
      let got = 0;
      for await (const b of stream as AsyncIterable<Buffer>) got += b.length;
      if (got !== body.length) throw new Error(`read ${got} bytes of ${body.length}`);
    });
    errors += warm.errors;
  }
  out('small_warmup_s', WARMUP_SECONDS);
  if (errors > 0) out('small_warmup_errors', errors);
}

/** CLOCK_MONOTONIC in µs (the clock V8's CPU profiles are stamped with, on Linux). */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** User and system CPU ms of `pids` together, from /proc (a process gone counts 0). */
function chunkTimesMs(pids: number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(f[11]) * 10;
      sys += Number(f[12]) * 10;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return { user, sys };
}

/** Bytes of a stream, drained. */
async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const b of stream) n += b.length;
  return n;
}

/** One stream of /bench/big.bin against 8 parallel Range reads of it, by one library client. */
async function rangeReads(cluster: DevCluster, mib: number): Promise<void> {
  const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  try {
    const size = mib * 1024 * 1024;
    const t0 = performance.now();
    const whole = await drain((await client.open('/bench/big.bin')).stream as AsyncIterable<Buffer>);
    const single = mib / ((performance.now() - t0) / 1000);
    const part = Math.ceil(size / 8);
    const t1 = performance.now();
    const parts = await Promise.all(Array.from({ length: 8 }, async (_, i) => drain((await client.open('/bench/big.bin', { start: i * part, end: Math.min(size, (i + 1) * part) })).stream as AsyncIterable<Buffer>)));
    const range8 = mib / ((performance.now() - t1) / 1000);
    const got = parts.reduce((a, b) => a + b, 0);
    if (whole !== size || got !== size) throw new Error(`range reads returned ${whole} / ${got} of ${size} bytes`);
    out('range8_single_mib_per_s', single);
    out('range8_mib_per_s', range8);
    out('range8_ratio_to_single', range8 / single);
  } finally {
    client.close();
  }
}

/** Rounds of range-child.js; the figures are its last round's. */
const RANGE_CHILD_ROUNDS = 3;

/**
 * The same reads by a batch job (range-child.ts): a process of its own, RANGE_CHILD_ROUNDS rounds,
 * the last one's figures (a long-running job reading its next file) with the child's own CPU per
 * GiB. rangeReads above runs in this process, after everything it did before.
 */
async function rangeReadsWarm(env: NodeJS.ProcessEnv, serverPids: number[]): Promise<void> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'range-child.js');
  const childEnv = { ...env, CAIRN_BENCH_SERVER_PIDS: serverPids.join(',') };
  const { stdout } = await promisify(execFile)(process.execPath, [script, '/bench/big.bin', String(RANGE_CHILD_ROUNDS)], { env: childEnv, maxBuffer: 1 << 20 });
  type Round = { single: number; singleCpu: number; singleCores: number; range8: number; range8Cpu: number; range8Cores: number };
  const rounds = stdout.trim().split('\n').map((l) => JSON.parse(l) as Round);
  const last = rounds[rounds.length - 1];
  if (rounds.length !== RANGE_CHILD_ROUNDS || last === undefined) throw new Error(`range-child printed ${rounds.length} rounds, not ${RANGE_CHILD_ROUNDS}`);
  out('range8_warm_single_mib_per_s', last.single);
  out('range8_warm_mib_per_s', last.range8);
  out('range8_warm_ratio_to_single', last.range8 / last.single);
  out('range8_warm_single_client_cpu_s_per_gib', last.singleCpu);
  out('range8_warm_client_cpu_s_per_gib', last.range8Cpu);
  // Cores busy (the job and every server): one stream that keeps both of 2 cores busy leaves
  // 8 streams nothing to gain.
  out('range8_warm_single_cores_busy', last.singleCores);
  out('range8_warm_cores_busy', last.range8Cores);
}

await main();

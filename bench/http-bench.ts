/**
 * The HTTP gateway against the direct client path, in the same run on the same cluster (a real
 * DevCluster: 3 metadata servers, 4 chunk servers, replication 3, the gateway process):
 *   put/get   SIZE bytes through the gateway (PUT raw body, GET) and through the client library
 *             in this process (CairnClient.put / open), MiB/s each and the ratio gateway/direct.
 *             The puts run twice each (direct, gateway, gateway, direct: see large()), each
 *             side's figure over both, and each put apart (`*_put_first_*`, `*_put_second_*`).
 *             The gateway GET is read by curl, a user's HTTP client, when it is installed
 *             (gateway_get_by_curl 1): Node's HTTP client in this process caps that read at
 *             ~190–260 MiB/s on some runs while curl reads the same file through the same
 *             gateway at 760–950 (bench/RESULTS.md, 2026-12-06 fourth session), so it measured
 *             the reader, not the gateway. The Node client's read is still reported
 *             (gateway_get_node_client_*), and the CPU figures of the GET are its run's.
 *   small     4 KiB PUTs, then GETs, by 16 keep-alive HTTP clients, ops/s and p50/p99
 *   rss       the gateway process's peak RSS (VmHWM) over the whole run; for the large transfers
 *             also the peak of the gateway PUT alone and of the gateway GET alone (the peak is
 *             reset between them through /proc/PID/clear_refs)
 *   cpu/GiB   CPU seconds per GiB of each large transfer: the gateway process alone
 *             (gateway_{put,get}_gateway_cpu_s_per_gib), and every process together, this one
 *             (the HTTP or library client) included (direct_get_cpu_s_per_gib,
 *             gateway_get_cpu_s_per_gib), and this process alone (*_client_cpu_s_per_gib): on
 *             a shared machine steadier than MiB/s
 *   cpu       CPU time per small operation of the gateway process alone (gateway_cpu_ms_per_op,
 *             from /proc/PID/stat) and of every server process together (cpu_ms_per_op; the
 *             16 HTTP clients in this process are not counted)
 *   warm-up   before the measured small-file loads, --warmup-seconds (default 60: half PUTs,
 *             half GETs) of the same requests (into small-warm/, not measured but for the PUTs'
 *             throughput, `small_put_4k_c16_warmup_ops_per_s`): a gateway's first ~1,000 requests
 *             pay V8's JIT and first-use costs (~0.3 s of CPU), and every server's hot paths take
 *             10–40 s to reach the optimizing compiler (closed-loop.ts, warm-up; gateway PUTs on a
 *             fresh cluster went 509 → ~1,250/s over the first 35 s); the default was 2 s before
 *             2026-12-07; 0 measures from a cold start
 * Targets (issue 5): ratio >= 0.9 both ways, RSS <= 150 MiB; issue 14: 4 KiB PUT >= 1,500/s and GET
 * >= 3,000/s through the gateway.
 *
 * The metadata servers run with `cairn meta`'s default: files up to 64 KiB are stored inline with
 * their metadata (`--no-inline`: every file in chunks, as `cairn dev` keeps them).
 *
 * Output: one `name value` per line.
 * Usage: npm run bench:http [-- --mib 1024 --seconds 5 --warmup-seconds 60 --no-inline --small-only --cpu-prof DIR]
 *   --small-only   skip the large put/get (small-file figures only)
 *   --cpu-prof DIR every server process (the gateway too) writes a CPU profile to DIR when the
 *                  cluster stops, named by pid (gateway_pid says which is the gateway's);
 *                  summarize: node dist/bench/profile-summary.js DIR
 */
import { INLINE_BYTES_MAX_DEFAULT } from '../src/config/defaults.js';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { processCpuMs } from './ceiling.js';
import { arg, closedLoop, out, warmupSeconds, type Loop } from './closed-loop.js';
import { BLOCK, block } from './cli-child.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('bench:http', [
  { name: 'mib', value: 'number', help: 'large file size (default 1024)' },
  { name: 'seconds', value: 'number', help: 'seconds per small-file load (default 5)' },
  { name: 'warmup-seconds', value: 'number', help: 'unmeasured small-file PUTs and GETs first (default 60; 0: none)' },
  { name: 'no-inline', help: 'every file in chunks, none inline' },
  { name: 'small-only', help: 'skip the large put/get' },
  { name: 'cpu-prof', value: 'word', help: 'CPU profiles of every server process into this directory' },
]);

const MIB = arg('mib', 1024);
const SECONDS = arg('seconds', 5);
const WARMUP_SECONDS = warmupSeconds('bench:http', 60);
const CLIENTS = 16;
const SMALL_ONLY = process.argv.includes('--small-only');
const profAt = process.argv.indexOf('--cpu-prof');
const CPU_PROF_DIR = profAt > 0 ? process.argv[profAt + 1] : undefined;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-http-'));

function source(): Readable {
  let i = 0;
  return new Readable({
    read() {
      this.push(i < MIB ? block(i++) : null);
    },
  });
}

async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const b of stream) n += b.length;
  return n;
}

interface HttpResult {
  status: number;
  bytes: number;
}

/** One HTTP request on the keep-alive agent; the body is streamed and counted, not kept. */
function http(agent: Agent, base: string, token: string, method: string, path: string, body?: Readable | Buffer): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
      drain(res).then((bytes) => resolve({ status: res.statusCode!, bytes }), reject);
    });
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/**
 * GET `path` with curl into /dev/null: its status and byte count, or null when curl is not
 * installed (the bench then reports the Node client's read).
 */
async function curlGet(base: string, token: string, path: string): Promise<HttpResult | null> {
  try {
    // The token goes in on stdin (`-H @-`), not on argv where any local user's `ps` shows it.
    const run = promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-H', '@-', `${base}${path}`]);
    run.child.stdin?.end(`Authorization: Bearer ${token}\n`);
    const { stdout } = await run;
    const [status, bytes] = stdout.trim().split(' ').map(Number);
    return { status: status!, bytes: bytes! };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Runs a closed loop and adds its CPU ms per op: the gateway's, and every server process's together. */
async function measured(gwPid: number, serverPids: number[], run: () => Promise<Loop>): Promise<Loop & { gatewayCpuMsPerOp: number; cpuMsPerOp: number }> {
  const pids = [gwPid, ...serverPids];
  const before = processCpuMs(pids);
  const t0 = performance.now();
  const r = await run();
  const seconds = (performance.now() - t0) / 1000;
  const after = processCpuMs(pids);
  const used = (pid: number): number => (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
  const ops = Math.max(1, r.opsPerSec * seconds);
  return { ...r, gatewayCpuMsPerOp: used(gwPid) / ops, cpuMsPerOp: pids.reduce((s, p) => s + used(p), 0) / ops };
}

function vmHwmMib(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Peak RSS of the gateway over the run, across the resets of resetHwm. */
let gatewayHwmMib = 0;

/** Starts a new peak-RSS window for `pid` (its VmHWM restarts from the current RSS); false if the kernel refused. */
function resetHwm(pid: number): boolean {
  gatewayHwmMib = Math.max(gatewayHwmMib, vmHwmMib(pid));
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds per GiB that the processes `pids` (this one: 0) spent while `run` moved MIB MiB. */
async function cpuPerGib<T>(pids: number[], run: () => Promise<T>): Promise<{ result: T; seconds: number; cpuSPerGib: Map<number, number> }> {
  const ownBefore = process.cpuUsage();
  const before = processCpuMs(pids.filter((p) => p !== 0));
  const t0 = performance.now();
  const result = await run();
  const seconds = (performance.now() - t0) / 1000;
  const after = processCpuMs(pids.filter((p) => p !== 0));
  const own = process.cpuUsage(ownBefore);
  const gib = MIB / 1024;
  const cpuSPerGib = new Map(pids.map((p) => [p, (p === 0 ? (own.user + own.system) / 1000 : (after.get(p) ?? 0) - (before.get(p) ?? 0)) / 1000 / gib]));
  return { result, seconds, cpuSPerGib };
}

const sum = (m: Map<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const inlineBytesMax = process.argv.includes('--no-inline') ? 0 : INLINE_BYTES_MAX_DEFAULT;
  const nodeArgs = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3, inlineBytesMax, nodeArgs });
  cluster.start();
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
  try {
    await cluster.waitReady(60_000);
    const base = cluster.gatewayUrl!;
    const token = cluster.token;
    const gwPid = cluster.gateway!.proc.pid!;
    const json = cluster.clusterJson();
    const serverPids = [...json.meta, ...json.chunks].map((s) => s.pid).filter((p): p is number => p !== null);
    out('gateway_pid', gwPid);
    if (!SMALL_ONLY) await large(agent, base, token, gwPid, serverPids, client);

    const body = Buffer.alloc(4096, 0x42);
    if (WARMUP_SECONDS > 0) await warmUp(agent, base, token, body);
    const puts = await measured(gwPid, serverPids, () =>
      closedLoop(CLIENTS, SECONDS, async (w, n) => {
        const r = await http(agent, base, token, 'PUT', `/v1/files/small/w${w}-${n}`, body);
        if (r.status !== 201) throw new Error(`PUT ${r.status}`);
      }),
    );
    report('small_put_4k_c16', puts);
    const gets = await measured(gwPid, serverPids, () =>
      closedLoop(CLIENTS, SECONDS, async (w, n) => {
        const r = await http(agent, base, token, 'GET', `/v1/files/small/w${w}-${n % 8}`);
        if (r.status !== 200 || r.bytes !== 4096) throw new Error(`GET ${r.status}`);
      }),
    );
    report('small_get_4k_c16', gets);
    out('gateway_peak_rss_mib', Math.max(gatewayHwmMib, vmHwmMib(gwPid)));
    out('load_average_1m', loadavg()[0]!);
  } finally {
    agent.destroy();
    client.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Unmeasured small-file PUTs, then GETs, half of WARMUP_SECONDS each (see the header: warm-up). */
async function warmUp(agent: Agent, base: string, token: string, body: Buffer): Promise<void> {
  const stored = new Set<string>();
  const puts = await closedLoop(CLIENTS, WARMUP_SECONDS / 2, async (w, n) => {
    // New files only: replaced chunks would be deleted by the chunk servers during the measured loads.
    const path = `/v1/files/small-warm/w${w}-${n}`;
    const r = await http(agent, base, token, 'PUT', path, body);
    if (r.status !== 201) throw new Error(`PUT ${r.status}`);
    stored.add(path);
  });
  out('small_put_4k_c16_warmup_ops_per_s', puts.opsPerSec);
  out('small_warmup_s', WARMUP_SECONDS);
  const paths = [...stored];
  let errors = puts.errors;
  if (paths.length > 0) {
    const gets = await closedLoop(CLIENTS, WARMUP_SECONDS / 2, async (w, n) => {
      const r = await http(agent, base, token, 'GET', paths[(w + n * CLIENTS) % paths.length]!);
      if (r.status !== 200 || r.bytes !== 4096) throw new Error(`GET ${r.status}`);
    });
    errors += gets.errors;
  }
  if (errors > 0) out('small_warmup_errors', errors);
}

function report(name: string, m: Loop & { gatewayCpuMsPerOp: number; cpuMsPerOp: number }): void {
  out(`${name}_ops_per_s`, m.opsPerSec);
  out(`${name}_p50_ms`, m.p50);
  out(`${name}_p99_ms`, m.p99);
  out(`${name}_errors`, m.errors);
  out(`${name}_gateway_cpu_ms_per_op`, m.gatewayCpuMsPerOp);
  out(`${name}_cpu_ms_per_op`, m.cpuMsPerOp);
}

/**
 * MIB MiB through the gateway and through the client library, each way. The puts run twice
 * each, in the order direct, gateway, gateway, direct, and each side's figure is its total: what
 * a put costs on this machine depends on whether the page cache's pages were freed a moment
 * before or come fresh from the host (bench/RESULTS.md, eighth session), and the first put of a
 * run is the one that finds freed pages; measured once each, in one order, that went to whichever
 * side ran first.
 */
async function large(agent: Agent, base: string, token: string, gwPid: number, serverPids: number[], client: CairnClient): Promise<void> {
  // Each put a new file (the GETs below read the first ones).
  const directPutSeconds = async (path: string): Promise<number> => {
    const t0 = performance.now();
    await client.put(path, source());
    return (performance.now() - t0) / 1000;
  };
  const gatewayPut = async (path: string): Promise<{ seconds: number; cpuSPerGib: number }> => {
    const run = await cpuPerGib([gwPid], () => http(agent, base, token, 'PUT', `/v1/files${path}`, source()));
    if (run.result.status !== 201) throw new Error(`gateway PUT answered ${run.result.status}`);
    return { seconds: run.seconds, cpuSPerGib: run.cpuSPerGib.get(gwPid)! };
  };
  const d1 = await directPutSeconds('/direct/big');
  const g1 = await gatewayPut('/gw/big');
  const g2 = await gatewayPut('/gw/big2');
  const d2 = await directPutSeconds('/direct/big2');
  const directPut = (2 * MIB) / (d1 + d2);
  const gwPut = (2 * MIB) / (g1.seconds + g2.seconds);
  const putPeak = vmHwmMib(gwPid);
  const windows = resetHwm(gwPid);

  const directRun = await cpuPerGib([0, ...serverPids], async () => drain((await client.open('/direct/big')).stream as AsyncIterable<Buffer>));
  const directGet = MIB / directRun.seconds;
  const gwGetRun = await cpuPerGib([0, gwPid, ...serverPids], () => http(agent, base, token, 'GET', '/v1/files/gw/big'));
  const nodeGet = MIB / gwGetRun.seconds;
  if (directRun.result !== MIB * BLOCK || gwGetRun.result.bytes !== MIB * BLOCK) throw new Error(`read back ${directRun.result} / ${gwGetRun.result.bytes} bytes`);
  const curlRun = await cpuPerGib([gwPid], () => curlGet(base, token, '/v1/files/gw/big'));
  if (curlRun.result !== null && (curlRun.result.status !== 200 || curlRun.result.bytes !== MIB * BLOCK)) throw new Error(`curl GET answered ${curlRun.result.status} with ${curlRun.result.bytes} bytes`);
  const gwGet = curlRun.result !== null ? MIB / curlRun.seconds : nodeGet;
  const getPeak = vmHwmMib(gwPid);

  out('file_mib', MIB);
  out('direct_put_mib_per_s', directPut);
  out('gateway_put_mib_per_s', gwPut);
  out('gateway_put_ratio_to_direct', gwPut / directPut);
  out('direct_get_mib_per_s', directGet);
  out('gateway_get_mib_per_s', gwGet);
  out('gateway_get_ratio_to_direct', gwGet / directGet);
  out('gateway_get_by_curl', curlRun.result !== null ? 1 : 0);
  out('gateway_get_node_client_mib_per_s', nodeGet);
  out('gateway_get_node_client_ratio_to_direct', nodeGet / directGet);
  if (curlRun.result !== null) out('gateway_get_curl_gateway_cpu_s_per_gib', curlRun.cpuSPerGib.get(gwPid)!);
  out('gateway_peak_rss_mib_after_large', Math.max(putPeak, getPeak));
  out('gateway_put_gateway_cpu_s_per_gib', (g1.cpuSPerGib + g2.cpuSPerGib) / 2);
  // Each put apart, in the order they ran.
  out('direct_put_first_mib_per_s', MIB / d1);
  out('gateway_put_first_mib_per_s', MIB / g1.seconds);
  out('gateway_put_second_mib_per_s', MIB / g2.seconds);
  out('direct_put_second_mib_per_s', MIB / d2);
  out('gateway_get_gateway_cpu_s_per_gib', gwGetRun.cpuSPerGib.get(gwPid)!);
  out('direct_get_cpu_s_per_gib', sum(directRun.cpuSPerGib));
  out('gateway_get_cpu_s_per_gib', sum(gwGetRun.cpuSPerGib));
  // This process alone: the library client (direct) or the HTTP client (gateway) receiving the bytes.
  out('direct_get_client_cpu_s_per_gib', directRun.cpuSPerGib.get(0)!);
  out('gateway_get_client_cpu_s_per_gib', gwGetRun.cpuSPerGib.get(0)!);
  out('gateway_peak_rss_mib_put', putPeak);
  // NaN when the peak could not be reset: the GET's own peak is then unknown.
  out('gateway_peak_rss_mib_get', windows ? getPeak : NaN);
}

await main();

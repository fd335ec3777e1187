/**
 * How the client's write path reaches its replicas, measured through the real client against a
 * real cluster (3 metadata + 3 chunk server processes, replication 3, all on this host's disk):
 *   - pipeline: client → c1 → c2 → c3, each server stores and forwards (HDFS)
 *   - fanout:   client → c1, client → c2, client → c3 in parallel
 *   - split:    client → c1 and client → c2 → c3 at once
 * Each round puts --mib MiB (default 512) with each strategy and each uploads-in-flight count,
 * alternating, --rounds times (default 3), and prints per strategy and count the median MiB/s,
 * the CPU seconds per GiB of the client (this process), of the chunk servers (each, and summed)
 * and of the metadata servers (summed), and of all of them together round by round
 * (`put_<strategy>_total_cpu_s_per_gib`: one round's strategies ran in the same minutes) — CPU
 * per GiB holds on a busy machine where MiB/s does not — and the MiB/s of reading each file
 * back through the client.
 * Usage: npm run build && node dist/bench/put-strategy.js [--mib 512] [--rounds 3]
 *          [--inflight 3 | --inflight 2,3,4,5] [--strategies pipeline,fanout,split]
 * (uploads in flight = chunks being uploaded at once, plus the one being filled)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { PUT_STRATEGIES, type PutStrategy } from '../src/client/file-writer.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { median, processCpuMs } from './ceiling.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('put-strategy', [
  { name: 'mib', value: 'number', help: 'file size (default 512)' },
  { name: 'rounds', value: 'number', help: 'rounds of every strategy (default 3)' },
  { name: 'inflight', value: 'numbers', help: 'uploads in flight to compare (default 3)' },
  { name: 'strategies', value: 'word', help: 'comma-separated, of pipeline, fanout, split (default all)' },
]);

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
}

const MIB = Number(arg('mib', '512'));
const ROUNDS = Number(arg('rounds', '3'));
const INFLIGHTS = arg('inflight', '3').split(',').map(Number);
const STRATEGIES = arg('strategies', PUT_STRATEGIES.join(',')).split(',') as PutStrategy[];
const CHUNK_BYTES = 8 * 1024 * 1024;
const PIECE_BYTES = 1024 * 1024;

function* source(template: Buffer): Generator<Buffer> {
  for (let i = 0; i < MIB; i++) yield template; // the writer copies, so one buffer serves
}

interface Run {
  mibs: number[];
  clientCpu: number[];
  /** CPU-s per GiB by chunk server (index), one list per server. */
  chunkCpu: number[][];
  metaCpu: number[];
  failures: string[];
}

async function main(): Promise<void> {
  for (const s of STRATEGIES) if (!PUT_STRATEGIES.includes(s)) throw new Error(`unknown strategy ${s}`);
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-put-'));
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 3, chunkSize: CHUNK_BYTES });
  cluster.start();
  const template = Buffer.allocUnsafe(PIECE_BYTES);
  for (let i = 0; i < PIECE_BYTES; i += 4) template.writeUInt32LE((i * 2654435761) >>> 0, i);
  const clients = new Map<number, CairnClient>();
  let ok = false;
  try {
    await cluster.waitReady(30_000);
    const json = cluster.clusterJson();
    const chunkPids = json.chunks.map((s) => s.pid).filter((p): p is number => p !== null);
    const metaPids = json.meta.map((s) => s.pid).filter((p): p is number => p !== null);
    for (const k of INFLIGHTS) clients.set(k, createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }, { uploadsInflight: k }));
    const runs = new Map<string, Run>();
    const gets: number[] = [];
    const gib = MIB / 1024;
    await clients.get(INFLIGHTS[0]!)!.put('/warmup', source(template), { strategy: 'pipeline' });
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of INFLIGHTS) {
        for (const strategy of STRATEGIES) {
          const client = clients.get(k)!;
          const key = `${strategy}_k${k}`;
          const run = runs.get(key) ?? { mibs: [], clientCpu: [], chunkCpu: chunkPids.map(() => []), metaCpu: [], failures: [] };
          runs.set(key, run);
          const path = `/bench/${key}-${r}`;
          const cpu0 = process.cpuUsage();
          const srv0 = processCpuMs([...chunkPids, ...metaPids]);
          const t0 = performance.now();
          try {
            await client.put(path, source(template), { strategy });
          } catch (e) {
            // A failed put is counted and shown, not fatal: the other figures still come out.
            run.failures.push(`round ${r}: ${(e as Error).message}`);
            continue;
          }
          const sec = (performance.now() - t0) / 1000;
          const srv1 = processCpuMs([...chunkPids, ...metaPids]);
          const cpu = process.cpuUsage(cpu0);
          const used = (pid: number): number => ((srv1.get(pid) ?? 0) - (srv0.get(pid) ?? 0)) / 1000 / gib;
          run.mibs.push(MIB / sec);
          run.clientCpu.push((cpu.user + cpu.system) / 1e6 / gib);
          chunkPids.forEach((pid, i) => run.chunkCpu[i]!.push(used(pid)));
          run.metaCpu.push(metaPids.reduce((t, pid) => t + used(pid), 0));
          // Read it back (page cache warm): the client's read path, for reference.
          const g0 = performance.now();
          let n = 0;
          for await (const b of client.createReadStream(path)) n += (b as Buffer).length;
          if (n !== MIB * PIECE_BYTES) throw new Error(`read ${n} bytes`);
          gets.push(MIB / ((performance.now() - g0) / 1000));
          await client.rm(path);
        }
      }
    }
    console.log(`# load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores`);
    console.log(`# ${MIB} MiB per put, ${CHUNK_BYTES / 2 ** 20} MiB chunks, uploads in flight ${INFLIGHTS.join(',')}, ${ROUNDS} rounds, replication 3`);
    for (const k of INFLIGHTS) {
      for (const s of STRATEGIES) {
        const run = runs.get(`${s}_k${k}`)!;
        for (const f of run.failures) console.log(`# ${s} k=${k} failed: ${f}`);
        if (run.mibs.length === 0) continue;
        // The figure names of the first version (3 in flight) stay; other counts get a suffix.
        const name = k === 3 ? s : `${s}_k${k}`;
        const chunkEach = run.chunkCpu.map(median);
        console.log(`put_${name}_mibs ${median(run.mibs).toFixed(1)}  (rounds: ${run.mibs.map((x) => x.toFixed(0)).join(' ')})`);
        console.log(`put_${name}_client_cpu_sec ${((median(run.clientCpu) * MIB) / 1024).toFixed(2)}`);
        console.log(`put_${name}_client_cpu_s_per_gib ${median(run.clientCpu).toFixed(2)}`);
        console.log(`put_${name}_chunk_servers_cpu_s_per_gib ${chunkEach.reduce((a, b) => a + b, 0).toFixed(2)}  (each: ${chunkEach.map((x) => x.toFixed(2)).join(' ')})`);
        console.log(`put_${name}_meta_servers_cpu_s_per_gib ${median(run.metaCpu).toFixed(2)}`);
        // Every process together, round by round: the strategies of one round ran in the same minutes.
        const totals = run.clientCpu.map((c, r) => c + run.metaCpu[r]! + run.chunkCpu.reduce((t, each) => t + each[r]!, 0));
        console.log(`put_${name}_total_cpu_s_per_gib ${median(totals).toFixed(2)}  (rounds: ${totals.map((x) => x.toFixed(1)).join(' ')})`);
      }
    }
    console.log(`get_mibs ${median(gets).toFixed(1)}  (reads: ${gets.map((x) => x.toFixed(0)).join(' ')})`);
    ok = [...runs.values()].every((run) => run.failures.length === 0);
  } finally {
    for (const c of clients.values()) c.close();
    await cluster.stop(5000);
    // A failed run keeps the cluster's directory (the servers' logs say what went wrong).
    if (ok) rmSync(dir, { recursive: true, force: true });
    else console.error(`# cluster directory kept: ${dir}`);
  }
}

await main();

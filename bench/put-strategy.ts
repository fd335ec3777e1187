/**
 * Pipeline vs fan-out for the client's write path, measured through the real client against a
 * real cluster (3 metadata + 3 chunk server processes, replication 3, all on this host's disk):
 *   - pipeline: client → c1 → c2 → c3, each server stores and forwards (HDFS)
 *   - fanout:   client → c1, client → c2, client → c3 in parallel
 * Each round puts --mib MiB (default 512) with each strategy, alternating, --rounds times
 * (default 3), and prints the median MiB/s of each plus the client process's CPU seconds, and
 * the MiB/s of reading each file back through the client.
 * Usage: npm run build && node dist/bench/put-strategy.js [--mib 512] [--rounds 3] [--inflight 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCairnClient } from '../src/client/create-cairn-client.js';
import type { PutStrategy } from '../src/client/file-writer.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const MIB = arg('mib', 512);
const ROUNDS = arg('rounds', 3);
const INFLIGHT = arg('inflight', 3);
const CHUNK_BYTES = 8 * 1024 * 1024;
const PIECE_BYTES = 1024 * 1024;

function* source(template: Buffer): Generator<Buffer> {
  for (let i = 0; i < MIB; i++) yield template; // the writer copies, so one buffer serves
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-put-'));
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 3, chunkSize: CHUNK_BYTES });
  cluster.start();
  const template = Buffer.allocUnsafe(PIECE_BYTES);
  for (let i = 0; i < PIECE_BYTES; i += 4) template.writeUInt32LE((i * 2654435761) >>> 0, i);
  try {
    await cluster.waitReady(30_000);
    const client = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token }, { uploadsInflight: INFLIGHT });
    const results: Record<PutStrategy, { mibs: number[]; cpuSec: number[] }> = { pipeline: { mibs: [], cpuSec: [] }, fanout: { mibs: [], cpuSec: [] } };
    const gets: number[] = [];
    await client.put('/warmup', source(template), { strategy: 'pipeline' });
    for (let r = 0; r < ROUNDS; r++) {
      for (const strategy of ['pipeline', 'fanout'] as const) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await client.put(`/bench/${strategy}-${r}`, source(template), { strategy });
        const sec = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        results[strategy].mibs.push(MIB / sec);
        results[strategy].cpuSec.push((cpu.user + cpu.system) / 1e6);
        // Read it back (page cache warm): the client's read path, for reference.
        const g0 = performance.now();
        let n = 0;
        for await (const b of client.createReadStream(`/bench/${strategy}-${r}`)) n += (b as Buffer).length;
        if (n !== MIB * PIECE_BYTES) throw new Error(`read ${n} bytes`);
        gets.push(MIB / ((performance.now() - g0) / 1000));
        await client.rm(`/bench/${strategy}-${r}`);
      }
    }
    client.close();
    console.log(`# load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores`);
    console.log(`# ${MIB} MiB per put, ${CHUNK_BYTES / 2 ** 20} MiB chunks, ${INFLIGHT} uploads in flight, ${ROUNDS} rounds, replication 3`);
    for (const s of ['pipeline', 'fanout'] as const) {
      console.log(`put_${s}_mibs ${median(results[s].mibs).toFixed(1)}  (rounds: ${results[s].mibs.map((x) => x.toFixed(0)).join(' ')})`);
      console.log(`put_${s}_client_cpu_sec ${median(results[s].cpuSec).toFixed(2)}`);
    }
    console.log(`get_mibs ${median(gets).toFixed(1)}  (reads: ${gets.map((x) => x.toFixed(0)).join(' ')})`);
  } finally {
    await cluster.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

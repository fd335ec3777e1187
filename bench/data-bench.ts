/**
 * The data path end to end (issue 4's targets): a real DevCluster (3 metadata servers, 4 chunk
 * servers, replication 3, the default chunk size) and
 *   put      `cairn put FILE /big` of a SIZE-byte file (the built CLI as a child process)
 *   get      `cairn get /big -` of the same file, just written, so the chunk servers' page cache
 *            holds it (a "cached file"); the bench checks every 4 KiB of what comes out
 *   small    4 KiB puts, then 4 KiB gets, by 16 concurrent clients of the client library (one
 *            CairnClient each, as 16 batch-job processes would be), ops/s and p50/p99
 * with the machine's ceilings measured in the same run:
 *   disk     synced write throughput for chunk-sized files (1 MiB writes, fsync per 8 MiB)
 *   loopback Node's own TCP throughput on 127.0.0.1 (one connection)
 * and ratios: put against disk/3 (every byte is written and synced three times on this one disk),
 * get against loopback. The CLI's peak RSS is printed for both transfers.
 *
 * Output: one `name value` per line.
 * Usage: npm run bench:data [-- --mib 1024 --seconds 5]
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCairnClient, type CairnClient } from '../src/client/index.js';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { loopbackMiBPerSec, percentile, syncedWriteMiBPerSec } from './ceiling.js';
import { checkStream, feedStream, runCli } from './cli-child.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const MIB = arg('mib', 1024);
const SECONDS = arg('seconds', 5);
const CLIENTS = 16;
const SMALL_BYTES = 4096;
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-data-'));

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
}

/** Run `op` on CLIENTS workers for SECONDS; ops/s and latency percentiles. */
async function closedLoop(clients: CairnClient[], op: (c: CairnClient, worker: number, n: number) => Promise<void>): Promise<{ opsPerSec: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  await Promise.all(
    clients.map(async (c, w) => {
      for (let n = 0; performance.now() < end; n++) {
        const t0 = performance.now();
        try {
          await op(c, w, n);
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

async function main(): Promise<void> {
  const diskMiBs = syncedWriteMiBPerSec(dir);
  const loopMiBs = await loopbackMiBPerSec();
  out('disk_synced_write_mib_per_s', diskMiBs);
  out('loopback_tcp_mib_per_s', loopMiBs);

  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3 });
  cluster.start();
  const clients: CairnClient[] = [];
  try {
    await cluster.waitReady(60_000);
    const env = { ...process.env, CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
    const local = join(dir, 'local.bin');
    await feedStream(createWriteStream(local), MIB);

    const put = await runCli(['put', local, '/bench/big.bin'], env);
    const get = await runCli(['get', '/bench/big.bin', '-'], env, undefined, (s) => checkStream(s, MIB));
    const putMiBs = MIB / put.seconds;
    const getMiBs = MIB / get.seconds;
    out('file_mib', MIB);
    out('put_mib_per_s', putMiBs);
    out('put_ratio_to_disk_over_3', putMiBs / (diskMiBs / 3));
    out('put_cli_peak_rss_mib', put.peakRssMib);
    out('get_mib_per_s', getMiBs);
    out('get_ratio_to_loopback', getMiBs / loopMiBs);
    out('get_cli_peak_rss_mib', get.peakRssMib);

    const config = { metaAddrs: cluster.metaAddrs, token: cluster.token };
    for (let i = 0; i < CLIENTS; i++) clients.push(createCairnClient(config));
    await clients[0]!.mkdir('/small', { parents: true });
    const body = Buffer.alloc(SMALL_BYTES, 0x42);
    const written: string[][] = clients.map(() => []);
    const puts = await closedLoop(clients, async (c, w, n) => {
      const path = `/small/w${w}-${n}`;
      await c.put(path, [body]);
      written[w]!.push(path);
    });
    out('small_put_4k_c16_ops_per_s', puts.opsPerSec);
    out('small_put_4k_c16_p50_ms', puts.p50);
    out('small_put_4k_c16_p99_ms', puts.p99);
    out('small_put_4k_c16_errors', puts.errors);
    const gets = await closedLoop(clients, async (c, w, n) => {
      const mine = written[w]!;
      const { stream } = await c.open(mine[n % mine.length]!);
      let got = 0;
      for await (const b of stream as AsyncIterable<Buffer>) got += b.length;
      if (got !== SMALL_BYTES) throw new Error(`read ${got} bytes`);
    });
    out('small_get_4k_c16_ops_per_s', gets.opsPerSec);
    out('small_get_4k_c16_p50_ms', gets.p50);
    out('small_get_4k_c16_p99_ms', gets.p99);
    out('small_get_4k_c16_errors', gets.errors);
    out('load_average_1m', loadavg()[0]!);
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

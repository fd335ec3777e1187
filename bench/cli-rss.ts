/**
 * Peak memory (and throughput) of the `cairn` CLI moving a large stream: a real DevCluster
 * (3 metadata servers, 4 chunk servers, replication 3, the default 8 MiB chunks) and the built
 * CLI as a child process for
 *   put_stdin   `cairn put - /f`        fed SIZE bytes through a pipe (length unknown to the CLI)
 *   put_file    `cairn put FILE /g`     from a local file
 *   get_stdout  `cairn get /f -`        read back through a pipe (the bench checks every byte)
 *   get_file    `cairn get /g FILE`     to a local file (temp file + rename)
 * Peak RSS is the child's maximum resident set (GNU time's %M when /usr/bin/time exists,
 * otherwise VmHWM polled from /proc). The target (issue 4) is under 200 MiB for any size.
 *
 * Output: one `name value` per line.  Usage: npm run build && node dist/bench/cli-rss.js [--mib 1024]
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRng } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { checkStream, feedStream, runCli, type Run } from './cli-child.js';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('cli-rss', [{ name: 'mib', value: 'number', help: 'file size (default 1024)' }]);

const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 1024;
const SIZE = MIB * 1024 * 1024;
const feed = (w: NodeJS.WritableStream): Promise<void> => feedStream(w, MIB);
const check = (r: NodeJS.ReadableStream): Promise<void> => checkStream(r, MIB);
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-cli-rss-'));

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(1)}`);
}
async function main(): Promise<void> {
  const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  const cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, meta: 3, chunks: 4, replicas: 3 });
  cluster.start();
  try {
    await cluster.waitReady(60_000);
    const env = { ...process.env, CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
    const local = join(dir, 'local.bin');
    const ws = createWriteStream(local);
    await feed(ws);

    const rows: Array<[string, Run]> = [];
    rows.push(['put_stdin', await runCli(['put', '-', '/bench/stdin.bin'], env, feed)]);
    rows.push(['put_file', await runCli(['put', local, '/bench/file.bin'], env)]);
    rows.push(['get_stdout', await runCli(['get', '/bench/stdin.bin', '-'], env, undefined, check)]);
    const back = join(dir, 'back.bin');
    rows.push(['get_file', await runCli(['get', '/bench/file.bin', back], env)]);
    if (statSync(back).size !== SIZE) throw new Error('get_file: wrong size');

    out('cli_stream_mib', MIB);
    for (const [name, r] of rows) {
      out(`cli_${name}_peak_rss_mib`, r.peakRssMib);
      out(`cli_${name}_mib_per_s`, MIB / r.seconds);
    }
    out('cli_peak_rss_max_mib', Math.max(...rows.map(([, r]) => r.peakRssMib)));
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

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
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemRng, systemTimers } from '../src/env/system.js';
import { findFreePortRange } from '../src/net/index.js';
import { DevCluster } from '../src/server/dev-cluster.js';
import { cairnArgv } from '../src/server/local-process.js';

const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 1024;
const SIZE = MIB * 1024 * 1024;
const BLOCK = 1024 * 1024;
const GNU_TIME = '/usr/bin/time';
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-cli-rss-'));

/** 1 MiB block `i` of the stream: a counter in every 8 bytes, so misplaced blocks are caught. */
function block(i: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  for (let o = 0; o < BLOCK; o += 8) {
    b.writeUInt32LE(i, o);
    b.writeUInt32LE(o, o + 4);
  }
  return b;
}

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(1)}`);
}

interface Run {
  peakRssMib: number;
  seconds: number;
}

/**
 * Run the CLI with `args`; `feed` writes its stdin, `drain` consumes its stdout. Peak RSS from
 * GNU time (exact) or by polling VmHWM (a spike in the last poll interval could be missed).
 */
async function runCli(args: string[], env: NodeJS.ProcessEnv, feed?: (stdin: NodeJS.WritableStream) => Promise<void>, drain?: (stdout: NodeJS.ReadableStream) => Promise<void>): Promise<Run> {
  const argv = cairnArgv(...args);
  const timeFile = join(dir, 'time.out');
  const useTime = existsSync(GNU_TIME);
  const [cmd, ...rest] = useTime ? [GNU_TIME, '-f', '%M', '-o', timeFile, ...argv] : argv;
  const start = performance.now();
  const child = spawn(cmd!, rest, { env, stdio: [feed ? 'pipe' : 'ignore', drain ? 'pipe' : 'ignore', 'inherit'] });
  let hwmKib = 0;
  const poll = useTime
    ? null
    : systemTimers.setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) hwmKib = Math.max(hwmKib, Number(m[1]));
        } catch {
          // exited
        }
      }, 20);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await Promise.all([feed?.(child.stdin!), drain?.(child.stdout!)]);
  const code = await exited;
  const seconds = (performance.now() - start) / 1000;
  poll?.cancel();
  if (code !== 0) throw new Error(`cairn ${args.join(' ')} exited with ${code}`);
  if (useTime) hwmKib = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  return { peakRssMib: hwmKib / 1024, seconds };
}

async function feedStream(stdin: NodeJS.WritableStream): Promise<void> {
  for (let i = 0; i < MIB; i++) {
    if (!stdin.write(block(i))) await new Promise<void>((resolve) => stdin.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => stdin.end(() => resolve()));
}

async function checkStream(stdout: NodeJS.ReadableStream): Promise<void> {
  let pos = 0;
  let bad = 0;
  for await (const chunk of stdout as AsyncIterable<Buffer>) {
    // Spot-check the counters: the 8-byte records are aligned to the stream offset.
    for (let o = (8 - (pos % 8)) % 8; o + 8 <= chunk.length; o += 4096) {
      const at = pos + o;
      if (chunk.readUInt32LE(o) !== Math.floor(at / BLOCK) || chunk.readUInt32LE(o + 4) !== at % BLOCK) bad++;
    }
    pos += chunk.length;
  }
  if (pos !== SIZE || bad !== 0) throw new Error(`get returned ${pos} of ${SIZE} bytes, ${bad} misplaced records`);
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
    await feedStream(ws);

    const rows: Array<[string, Run]> = [];
    rows.push(['put_stdin', await runCli(['put', '-', '/bench/stdin.bin'], env, feedStream)]);
    rows.push(['put_file', await runCli(['put', local, '/bench/file.bin'], env)]);
    rows.push(['get_stdout', await runCli(['get', '/bench/stdin.bin', '-'], env, undefined, checkStream)]);
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

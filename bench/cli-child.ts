/**
 * The built `cairn` CLI as a measured child process (bench/cli-rss.ts, bench/data-bench.ts): its
 * wall time and peak RSS (GNU time's %M when /usr/bin/time exists, otherwise VmHWM polled from
 * /proc), and a self-checking byte stream to feed it or to check what it prints.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemTimers } from '../src/env/system.js';
import { cairnArgv } from '../src/server/local-process.js';

export const BLOCK = 1024 * 1024;
const GNU_TIME = '/usr/bin/time';

/** 1 MiB block `i` of the stream: a counter in every 8 bytes, so misplaced blocks are caught. */
export function block(i: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  for (let o = 0; o < BLOCK; o += 8) {
    b.writeUInt32LE(i, o);
    b.writeUInt32LE(o, o + 4);
  }
  return b;
}

export interface Run {
  peakRssMib: number;
  seconds: number;
  /** CPU time (user + system) of the CLI process; NaN without GNU time. */
  cpuSeconds: number;
}

/**
 * Run the CLI with `args` (`nodeArgs` go to node itself, e.g. `--cpu-prof`); `feed` writes its
 * stdin, `drain` consumes its stdout. Peak RSS from
 * GNU time (exact) or by polling VmHWM (a spike in the last poll interval could be missed).
 */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  feed?: (stdin: NodeJS.WritableStream) => Promise<void>,
  drain?: (stdout: NodeJS.ReadableStream) => Promise<void>,
  nodeArgs: string[] = [],
): Promise<Run> {
  const [node, ...cli] = cairnArgv(...args);
  const argv = [node!, ...nodeArgs, ...cli];
  const tdir = mkdtempSync(join(tmpdir(), 'cairn-bench-time-'));
  const timeFile = join(tdir, 'time.out');
  const useTime = existsSync(GNU_TIME);
  const [cmd, ...rest] = useTime ? [GNU_TIME, '-f', '%M %U %S', '-o', timeFile, ...argv] : argv;
  const start = performance.now();
  const child = spawn(cmd!, rest, { env, stdio: [feed ? 'pipe' : 'ignore', drain ? 'pipe' : 'ignore', 'inherit'] });
  let hwmKib = 0;
  let cpuSeconds = Number.NaN;
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
  try {
    if (code !== 0) throw new Error(`cairn ${args.join(' ')} exited with ${code}`);
    if (useTime) {
      const [rss, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      hwmKib = rss!;
      cpuSeconds = user! + sys!;
    }
  } finally {
    rmSync(tdir, { recursive: true, force: true });
  }
  return { peakRssMib: hwmKib / 1024, seconds, cpuSeconds };
}

/** Write `mib` blocks of the self-checking stream, honouring backpressure, then end. */
export async function feedStream(stdin: NodeJS.WritableStream, mib: number): Promise<void> {
  for (let i = 0; i < mib; i++) {
    if (!stdin.write(block(i))) await new Promise<void>((resolve) => stdin.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => stdin.end(() => resolve()));
}

/** Read a stream that must be exactly `mib` blocks of the self-checking stream. */
export async function checkStream(stdout: NodeJS.ReadableStream, mib: number): Promise<void> {
  const size = mib * BLOCK;
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
  if (pos !== size || bad !== 0) throw new Error(`get returned ${pos} of ${size} bytes, ${bad} misplaced records`);
}

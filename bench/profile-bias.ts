/**
 * How far V8's sampling profiler (`node --cpu-prof`, the inspector's Profiler) can be trusted on
 * this machine: a loop alternates pure JavaScript work with one tiny system call (a 16-byte write
 * to /dev/null) and times the calls itself; the profile of the same run says what share of the
 * time it saw in them. A ratio near 1 means the samples land where the time goes. Well above 1,
 * the samples pile up where the thread enters the kernel, and a profile overstates socket writes,
 * lmdb-js's write start and every other function that makes a system call: take "where the time
 * goes" from `perf` then (perf-profile.ts).
 *
 * Output: one `name value` per line.  Usage: node dist/bench/profile-bias.js [--seconds 5]
 *   profile_bias_syscall_share_measured   the calls' share of the loop's time, by the clock
 *   profile_bias_syscall_share_sampled    their share of the profile's busy samples
 *   profile_bias_ratio                    sampled / measured
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { checkBenchArgs } from './bench-args.js';

checkBenchArgs('profile-bias', [{ name: 'seconds', value: 'number', help: 'seconds of the loop (default 5)' }]);
const secondsAt = process.argv.indexOf('--seconds');
const SECONDS = secondsAt > 0 ? Number(process.argv[secondsAt + 1]) : 5;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string };
  children?: number[];
}

function spinWork(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

function syscallWork(fd: number, buf: Buffer): void {
  writeSync(fd, buf);
}

async function main(): Promise<void> {
  const fd = openSync('/dev/null', 'w');
  const buf = Buffer.alloc(16);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  const end = performance.now() + SECONDS * 1000;
  let inCalls = 0;
  let sink = 0;
  const t0 = performance.now();
  while (performance.now() < end) {
    sink ^= spinWork(20_000);
    const a = performance.now();
    syscallWork(fd, buf);
    inCalls += performance.now() - a;
  }
  const total = performance.now() - t0;
  const { profile } = (await session.post('Profiler.stop')) as { profile: { nodes: ProfileNode[]; samples: number[] } };
  session.disconnect();
  closeSync(fd);

  // Samples in syscallWork or anything it called, against all samples that were not idle.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const under = new Set<number>();
  const mark = (id: number): void => {
    under.add(id);
    for (const c of byId.get(id)?.children ?? []) mark(c);
  };
  for (const n of profile.nodes) if (n.callFrame.functionName === 'syscallWork') mark(n.id);
  let busy = 0;
  let inSys = 0;
  for (const id of profile.samples) {
    const fn = byId.get(id)?.callFrame.functionName;
    if (fn === '(idle)' || fn === '(program)') continue;
    busy++;
    if (under.has(id)) inSys++;
  }
  const measured = inCalls / total;
  const sampled = busy === 0 ? 0 : inSys / busy;
  console.log(`profile_bias_seconds ${SECONDS}`);
  console.log(`profile_bias_syscall_share_measured ${measured.toFixed(4)}`);
  console.log(`profile_bias_syscall_share_sampled ${sampled.toFixed(4)}`);
  console.log(`profile_bias_ratio ${(sampled / measured).toFixed(2)}`);
  // Uses the loop's result, so that the compiler cannot drop the work (an integer is never 0.5).
  if (sink === 0.5) console.log('unreachable');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * Range reads as a batch job makes them (bench/data-bench.ts): a fresh Node process with one
 * client of the library reads a file as one stream, then as 8 parallel Range reads (one eighth
 * each), ROUNDS times, and prints one JSON line per round: MiB/s of each and this process's CPU-s
 * per GiB read, and the cores busy meanwhile (this process and the servers whose pids are in
 * CAIRN_BENCH_SERVER_PIDS, comma-separated: what one stream leaves to more streams). The first round runs on a cold process (its JIT, an empty buffer pool); the
 * later ones as a long-running job reads its next files.
 *
 * Usage (the bench spawns it): CAIRN_META=… CAIRN_TOKEN=… [CAIRN_BENCH_SERVER_PIDS=…]
 *   node dist/bench/range-child.js PATH ROUNDS
 */
import { performance } from 'node:perf_hooks';
import { createCairnClient } from '../src/client/index.js';
import { processCpuMs } from './ceiling.js';

const [path, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (path === undefined || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: range-child.js PATH ROUNDS');
const metaAddrs = (process.env['CAIRN_META'] ?? '').split(',').filter((a) => a !== '');
const client = createCairnClient({ metaAddrs, token: process.env['CAIRN_TOKEN'] ?? '' });
const serverPids = (process.env['CAIRN_BENCH_SERVER_PIDS'] ?? '').split(',').filter((p) => p !== '').map(Number);
const serversCpuMs = (): number => [...processCpuMs(serverPids).values()].reduce((a, b) => a + b, 0);

/** Bytes of a stream, drained. */
async function drain(stream: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const b of stream) n += b.length;
  return n;
}

/**
 * MiB/s and this process's CPU-s per GiB of `read`, which returns the bytes it read, and the cores
 * this process and the servers kept busy on average meanwhile.
 */
async function measure(read: () => Promise<number>): Promise<{ mibPerS: number; cpuSPerGib: number; cores: number; bytes: number }> {
  const cpu0 = process.cpuUsage();
  const servers0 = serversCpuMs();
  const t0 = performance.now();
  const bytes = await read();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ownS = (cpu.user + cpu.system) / 1e6;
  const gib = bytes / 2 ** 30;
  return { mibPerS: bytes / 2 ** 20 / seconds, cpuSPerGib: ownS / gib, cores: (ownS + (serversCpuMs() - servers0) / 1000) / seconds, bytes };
}

try {
  const size = (await client.stat(path)).size;
  const part = Math.ceil(size / 8);
  for (let r = 0; r < rounds; r++) {
    const single = await measure(async () => drain((await client.open(path)).stream as AsyncIterable<Buffer>));
    const range8 = await measure(async () => {
      const parts = await Promise.all(Array.from({ length: 8 }, async (_, i) => drain((await client.open(path, { start: i * part, end: Math.min(size, (i + 1) * part) })).stream as AsyncIterable<Buffer>)));
      return parts.reduce((a, b) => a + b, 0);
    });
    if (single.bytes !== size || range8.bytes !== size) throw new Error(`range reads returned ${single.bytes} / ${range8.bytes} of ${size} bytes`);
    process.stdout.write(`${JSON.stringify({ single: single.mibPerS, singleCpu: single.cpuSPerGib, singleCores: single.cores, range8: range8.mibPerS, range8Cpu: range8.cpuSPerGib, range8Cores: range8.cores })}\n`);
  }
} finally {
  client.close();
}

/**
 * Chunk store and chunk data plane throughput, with the disk's own ceiling in the same run:
 *   - disk ceiling: 64 MiB written in 1 MiB writes + one fsync, no checksums (MiB/s)
 *   - store write: ChunkStore.put of 64 MiB fed in 64 KiB buffers (CRC per segment + whole,
 *     temp file, fsync, rename, directory fsync)
 *   - store read: a verified read of the same 64 MiB (page cache warm: it was just written),
 *     against a plain read of the file as the ceiling; and verify() (the scrubber's path)
 *   - HTTP: PUT of a 64 MiB chunk through a 3-server pipeline on loopback, each server its own
 *     process (all three on this disk, so the ideal is disk/3), and GET of it (after a warm-up round)
 * Output: one `name value` per line. Usage: npm run build && node dist/bench/chunk-store-bench.js [--mib 64]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ChunkClient } from '../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../src/chunk/chunk-http-server.js';
import { ChunkToken } from '../src/proto/chunk-token.js';
import { systemClock, systemRng, systemTimers, wallClockMs } from '../src/env/system.js';
import { ChunkStore } from '../src/storage/chunk-store.js';
import { crc32c } from '../src/util/crc32c.js';
import { silentLogger } from '../src/util/logger.js';
import { checkBenchArgs } from './bench-args.js';

// `--serve ROOT PORT` is this file run as the bench's own chunk server process.
if (process.argv[2] !== '--serve') checkBenchArgs('bench:chunk', [{ name: 'mib', value: 'number', help: 'bytes per measurement, MiB (default 64)' }]);

const SECRET = 'bench-cluster-secret-0123456789';

const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 64;
const bytes = MIB * 1024 * 1024;
const root = process.argv[2] === '--serve' ? '' : mkdtempSync(join(tmpdir(), 'cairn-bench-chunk-'));

function out(name: string, value: number): void {
  console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(1)}`);
}

function data(): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

async function* pieces(buf: Buffer, piece = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += piece) yield buf.subarray(i, Math.min(buf.length, i + piece));
}

function diskCeiling(buf: Buffer): { writeMiBs: number; readMiBs: number } {
  const p = join(root, 'ceiling');
  let t0 = performance.now();
  const fd = openSync(p, 'w');
  for (let i = 0; i < buf.length; i += 1024 * 1024) writeSync(fd, buf, i, Math.min(1024 * 1024, buf.length - i));
  fsyncSync(fd);
  closeSync(fd);
  const writeMiBs = MIB / ((performance.now() - t0) / 1000);
  const rb = Buffer.allocUnsafe(1024 * 1024);
  t0 = performance.now();
  const rfd = openSync(p, 'r');
  while (readSync(rfd, rb, 0, rb.length, null) > 0);
  closeSync(rfd);
  const readMiBs = MIB / ((performance.now() - t0) / 1000);
  rmSync(p);
  return { writeMiBs, readMiBs };
}

async function main(): Promise<void> {
  const buf = data();
  const c = diskCeiling(buf);
  out('disk_fsync_write_mib_per_s', c.writeMiBs);
  out('page_cache_read_mib_per_s', c.readMiBs);

  const components = { rng: systemRng, clock: systemClock, timers: systemTimers, logger: silentLogger };
  const store = await ChunkStore.open(components, { dir: join(root, 's0'), chunkBytesMax: bytes });
  const id = 'ab'.repeat(16);
  let t0 = performance.now();
  await store.put(id, pieces(buf), { size: bytes });
  const wr = MIB / ((performance.now() - t0) / 1000);
  out('store_write_fsync_mib_per_s', wr);
  out('store_write_vs_disk', wr / c.writeMiBs);

  t0 = performance.now();
  const rd = await store.read(id);
  let n = 0;
  for await (const chunk of rd.stream) n += (chunk as Buffer).length;
  if (n !== bytes) throw new Error('short read');
  const rr = MIB / ((performance.now() - t0) / 1000);
  out('store_read_verify_mib_per_s', rr);
  out('store_read_vs_page_cache', rr / c.readMiBs);

  t0 = performance.now();
  const v = await store.verify(id);
  if (!v.ok) throw new Error('verify failed');
  out('store_verify_mib_per_s', MIB / ((performance.now() - t0) / 1000));

  // HTTP: a 3-server pipeline on loopback, each server its own process (as in production).
  const wall = { nowMs: wallClockMs };
  const tokens = new ChunkToken({ clock: wall }, { secret: SECRET });
  const children: ChildProcess[] = [];
  const addrs: string[] = [];
  try {
    for (let i = 1; i <= 3; i++) {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', join(root, `s${i}`), String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      addrs.push(await firstLine(child));
    }
    const client = new ChunkClient({ logger: silentLogger });
    for (const [round, hid] of ['cd'.repeat(16), 'ce'.repeat(16)].entries()) {
      t0 = performance.now();
      const res = await client.putChunk(
        hid,
        addrs.map((addr) => ({ addr, token: tokens.signFor('write', hid, 60_000) })),
        pieces(buf),
        { size: bytes, crc32c: crc32c(buf) },
      );
      if (!res.ok) throw new Error(`put failed: ${JSON.stringify(res.results)}`);
      const put = MIB / ((performance.now() - t0) / 1000);
      if (round === 0) continue; // warm-up: connections, JIT
      out('http_put_pipeline3_mib_per_s', put);
      out('http_put_pipeline3_vs_disk_over_3', put / (c.writeMiBs / 3));
    }
    for (let round = 0; round < 2; round++) {
      t0 = performance.now();
      const got = await client.getChunk(addrs[2]!, 'ce'.repeat(16), tokens.signFor('read', 'ce'.repeat(16), 60_000));
      n = 0;
      for await (const chunk of got.stream) n += (chunk as Buffer).length;
      if (n !== bytes) throw new Error('short http read');
      const get = MIB / ((performance.now() - t0) / 1000);
      if (round === 0) continue;
      out('http_get_mib_per_s', get);
      out('http_get_vs_page_cache', get / c.readMiBs);
    }
    client.close();
  } finally {
    for (const ch of children) ch.kill('SIGTERM');
  }
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      s += d;
      const nl = s.indexOf('\n');
      if (nl >= 0) resolve(s.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`chunk server exited with ${code}`)));
  });
}

/** Child mode: one chunk server on a free loopback port; prints its address, runs until killed. */
async function serve(dir: string, chunkBytesMax: number): Promise<void> {
  const components = { rng: systemRng, clock: systemClock, timers: systemTimers, logger: silentLogger };
  const store = await ChunkStore.open(components, { dir, chunkBytesMax });
  const srv = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger }, { secret: SECRET });
  console.log(await srv.start());
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void srv.close().then(() => process.exit(0)));
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3]!, Number(process.argv[4])).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main()
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(() => rmSync(root, { recursive: true, force: true }));
}

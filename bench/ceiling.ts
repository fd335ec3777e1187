/**
 * The machine's own ceilings, measured in the same run as each benchmark so figures can be
 * printed as ratios: synced small writes (write + fdatasync of 4 KiB) and synced throughput.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** How many 4 KiB write+fdatasync a second the disk under `dir` sustains (appending, like a log). */
export function syncedWritesPerSec(dir: string = tmpdir(), durationMs = 2000): number {
  const d = mkdtempSync(join(dir, 'cairn-ceiling-'));
  const fd = openSync(join(d, 'f'), 'w');
  const buf = Buffer.alloc(4096, 7);
  let n = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < durationMs) {
      writeSync(fd, buf);
      fdatasyncSync(fd);
      n++;
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    closeSync(fd);
    rmSync(d, { recursive: true, force: true });
  }
}

/** Percentile (0..100) of a sample, nearest-rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * The disk's synced throughput for chunk-sized files (`mibPerSec`): `mib` MiB written in 1 MiB
 * writes, an fsync every `fileMib` MiB (one file each, as a chunk server syncs each chunk). And
 * the kernel CPU its write calls took per GiB (`writeSysSPerGiB`, the fsyncs not counted): the
 * cost of copying into the page cache, which on a VM whose free memory is handed back to the host
 * (free page reporting) runs ~10 × higher when the pages it lands on come fresh from the host
 * than when they were freed a moment before (bench/RESULTS.md, eighth session).
 */
export function syncedWrite(dir: string = tmpdir(), mib = 512, fileMib = 8): { mibPerSec: number; writeSysSPerGiB: number } {
  const d = mkdtempSync(join(dir, 'cairn-ceiling-'));
  const buf = Buffer.alloc(1024 * 1024, 0x5a);
  const start = performance.now();
  let writeSysUs = 0;
  try {
    for (let f = 0; f * fileMib < mib; f++) {
      const fd = openSync(join(d, `f${f}`), 'w');
      const sys0 = process.cpuUsage().system;
      for (let i = 0; i < fileMib; i++) writeSync(fd, buf);
      writeSysUs += process.cpuUsage().system - sys0;
      fsyncSync(fd);
      closeSync(fd);
    }
    return { mibPerSec: mib / ((performance.now() - start) / 1000), writeSysSPerGiB: ((writeSysUs / 1e6) * 1024) / mib };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/** Node's own loopback TCP throughput (MiB/s): one connection carrying `mib` MiB in 1 MiB writes. */
export async function loopbackMiBPerSec(mib = 1024): Promise<number> {
  const server = createServer((sock) => {
    sock.on('data', () => {});
    sock.on('end', () => sock.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const buf = Buffer.alloc(1024 * 1024, 0xa5);
  const start = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => {
        let sent = 0;
        const pump = (): void => {
          while (sent < mib) {
            sent++;
            if (!sock.write(buf)) return void sock.once('drain', pump);
          }
          sock.end();
        };
        pump();
      });
      sock.on('data', () => {});
      sock.on('close', () => resolve());
      sock.on('error', reject);
    });
    return mib / ((performance.now() - start) / 1000);
  } finally {
    server.close();
  }
}

/**
 * CPU time (user + system, ms) each process has used so far, read from /proc/PID/stat (Linux;
 * clock ticks of 10 ms). A process that has exited reads as 0. For `cpu per op` figures: read
 * before and after a phase, subtract, divide by the ops.
 */
export function processCpuMs(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start after the last ')'.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) * 10);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      out.set(pid, 0);
    }
  }
  return out;
}

/** The middle value (the upper of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

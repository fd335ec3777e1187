/**
 * CPU time used so far by local processes (user + system, from /proc/PID/stat), for benchmarks
 * that report CPU per operation: a figure far less sensitive than throughput to other load on a
 * shared machine. Linux only: elsewhere, or for a process that is gone, it reads NaN.
 */
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc times (USER_HZ; 100 on every mainstream Linux). */
const USER_HZ = 100;

/** CPU milliseconds process `pid` has used, or NaN when unreadable. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / USER_HZ;
  } catch {
    return NaN;
  }
}

/** Sum of processCpuMs over `pids`. */
export function totalCpuMs(pids: Array<number | undefined>): number {
  return pids.reduce<number>((sum, pid) => sum + processCpuMs(pid), 0);
}

/**
 * Where a process's CPU time went, from Linux `perf` samples (`perf script -F pid,tid,period,ip,sym,dso`
 * of a `perf record -g`): per process, the share of each kind of thread (the main thread, libuv's
 * pool, V8's helpers), of each kind of code, and the top frames by self and by inclusive time.
 *
 * Why not only `node --cpu-prof`: V8's sampler is a thread of the process that interrupts the
 * main thread with a signal. On a busy machine with few cores it runs when the scheduler lets it,
 * which is often when the main thread enters the kernel, so its samples pile up on the JavaScript
 * frames that make system calls (socket writes, lmdb-js's write start). bench/profile-bias.ts
 * measures that bias; bench/RESULTS.md (twentieth session) found it 4–8× on this machine. perf's
 * samples come from the kernel's timer instead and cover every thread, so they are the figures to
 * trust for "where does the time go"; the .cpuprofile's call tree is still good for structure.
 * JavaScript frames have names only when the processes run with `--perf-basic-prof-only-functions`
 * (perf reads /tmp/perf-PID.map), and perf's names for them can be stale: JitMap names them again.
 */

export type ThreadKind = 'main' | 'pool' | 'v8' | 'other';
export type CodeKind = 'js' | 'v8-builtins' | 'gc' | 'v8-node-runtime' | 'kernel' | 'libc' | 'lmdb' | 'other';

export interface Sample {
  pid: number;
  tid: number;
  /** CPU time the sample stands for, in ns (perf's `period` of a cpu-clock event). */
  periodNs: number;
  /** Frame names, leaf first. */
  frames: string[];
  /** The object each frame is in (perf's dso: /usr/bin/node, [kernel.kallsyms], /tmp/perf-PID.map, …), when given. */
  dsos: string[];
  /** Each frame's instruction address. */
  ips: bigint[];
}

export interface ProcessSummary {
  pid: number;
  samples: number;
  cpuMs: number;
  threads: Record<ThreadKind, number>;
  kinds: Record<CodeKind, number>;
  /** [frame, share of the process's CPU] by self time, all threads; then the main thread's JavaScript functions by inclusive time. */
  selfTop: Array<[string, number]>;
  mainInclusiveTop: Array<[string, number]>;
}

const HEADER = /^\s*(\d+)\/(\d+)\s*(?:\d+\.\d+:\s*)?(\d+)?/;
const FRAME = /^\s+([0-9a-f]+)\s+(.*?)(?:\s+\((.*)\))?$/;

/** The samples of `perf script -F pid,tid,period,ip,sym,dso` text, one at a time. */
export function* parsePerfScript(lines: Iterable<string>): Generator<Sample> {
  let cur: Sample | null = null;
  for (const line of lines) {
    if (line.trim() === '') {
      if (cur) yield cur;
      cur = null;
      continue;
    }
    if (!/^\s/.test(line) || (cur === null && HEADER.test(line))) {
      if (cur) yield cur;
      const m = HEADER.exec(line);
      cur = m ? { pid: Number(m[1]), tid: Number(m[2]), periodNs: m[3] === undefined ? 0 : Number(m[3]), frames: [], dsos: [], ips: [] } : null;
      continue;
    }
    const f = cur === null ? null : FRAME.exec(line);
    if (cur && f) {
      cur.ips.push(BigInt(`0x${f[1]!}`));
      cur.frames.push(frameName(f[2]!));
      cur.dsos.push(f[3] ?? '');
    }
  }
  if (cur) yield cur;
}

/**
 * JavaScript frames named from a perf map (/tmp/perf-PID.map, written by
 * `--perf-basic-prof-only-functions`) as the code that was there last. V8 reuses code memory: an
 * address may lie in several entries, the older ones stale, and perf names it by whichever it
 * picks (a sample once read "planChunk called applyOnce"). Entries are written in the order the
 * code was made, so the last entry that covers an address is the code that lived there at the end.
 */
export class JitMap {
  private readonly bounds: bigint[];
  private readonly owners: Array<string | null>;

  constructor(mapText: string) {
    const entries: Array<{ start: bigint; end: bigint; name: string }> = [];
    for (const line of mapText.split('\n')) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.+)$/.exec(line);
      if (!m) continue;
      const start = BigInt(`0x${m[1]!}`);
      entries.push({ start, end: start + BigInt(`0x${m[2]!}`), name: m[3]! });
    }
    const cuts = [...new Set(entries.flatMap((e) => [e.start, e.end]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.bounds = cuts;
    this.owners = new Array<string | null>(Math.max(0, cuts.length - 1)).fill(null);
    // Later entries paint over earlier ones, piece by piece between the cut points.
    for (const e of entries) {
      for (let i = this.find(e.start); i >= 0 && i < this.owners.length && cuts[i]! < e.end; i++) this.owners[i] = e.name;
    }
  }

  /** Index of the piece [bounds[i], bounds[i+1]) holding `ip`, or -1. */
  private find(ip: bigint): number {
    let lo = 0;
    let hi = this.bounds.length - 1;
    if (hi < 1 || ip < this.bounds[0]! || ip >= this.bounds[hi]!) return -1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.bounds[mid]! <= ip) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /** The last code at `ip`, or undefined. */
  name(ip: bigint): string | undefined {
    const i = this.find(ip);
    return i < 0 ? undefined : (this.owners[i] ?? undefined);
  }
}

/** Rename a sample's JavaScript frames (dso a perf map) by `map`; others stay as perf named them. */
export function renameJitFrames(s: Sample, map: JitMap): void {
  for (let i = 0; i < s.frames.length; i++) {
    if (!/\/perf-\d+\.map$/.test(s.dsos[i] ?? '')) continue;
    const name = map.name(s.ips[i]!);
    if (name !== undefined) s.frames[i] = frameName(name);
  }
}

/** `JS:*name file:line:col` → `name file:line`; an anonymous function's name is `(anonymous)`. */
export function frameName(sym: string): string {
  const s = sym.replace(/\+0x[0-9a-f]+$/, '');
  if (!s.startsWith('JS:')) return s;
  const body = s.slice(3).replace(/^[*^~+-]/, '');
  const m = /^(.*?)\s*((?:file:\/\/|node:)\S*?)(?::\d+)?$/.exec(body);
  if (!m) return body;
  const name = m[1] === '' ? '(anonymous)' : m[1]!;
  return `${name} ${m[2]!.replace(/^file:\/\/.*\/(dist|node_modules)\//, '$1/')}`;
}

/** The thread a sample ran on, from the bottom of its stack (null when the stack does not say). */
function threadOf(s: Sample): ThreadKind | null {
  if (s.tid === s.pid) return 'main';
  const n = s.frames.length;
  for (let i = n - 1; i >= Math.max(0, n - 3); i--) {
    const f = s.frames[i]!;
    if (f === 'worker') return 'pool';
    if (f.includes('PlatformWorkerThread') || f.includes('WorkerThreadsTaskRunner')) return 'v8';
  }
  return null;
}

/** The kind of code a frame is, by the object it is in and then its name. */
export function codeKind(frame: string, dso = ''): CodeKind {
  if (dso === '[kernel.kallsyms]') return 'kernel';
  if (/\/perf-\d+\.map$/.test(dso)) return 'js';
  if (/lmdb/.test(dso)) return 'lmdb';
  if (/\/libc\.so/.test(dso)) return 'libc';
  if (dso !== '' && !dso.endsWith('/node')) return 'other';
  if (frame.startsWith('JS:') || / (dist|node_modules)\//.test(frame) || / node:/.test(frame) || frame.startsWith('(anonymous) ')) return 'js';
  if (/Scavenge|MarkCompact|Sweeper|ConcurrentMarking|MinorMark|GCTracer|Heap::Collect|MarkingVisitor|Evacuat/.test(frame)) return 'gc';
  if (frame.startsWith('Builtins_')) return 'v8-builtins';
  if (frame.startsWith('v8::') || frame.startsWith('node::') || frame.startsWith('uv_') || frame.startsWith('uv__') || frame.startsWith('napi_')) return 'v8-node-runtime';
  if (/^mdb_|^WriteWorker|^EnvWrap|^compareFast|^Txn|^Dbi|^Cursor/.test(frame)) return 'lmdb';
  if (/^(__GI_|__memmove|__memcpy|__memset|malloc|cfree|_int_|__libc|pthread_|__futex|__lll)/.test(frame)) return 'libc';
  if (/^(entry_SYSCALL|do_syscall|__x64_sys|tcp_|__tcp|ip_|__schedule|schedule|finish_task_switch|_raw_spin|copy_|ext4_|__folio|folio_|handle_softirqs|irq|asm_|__napi|net_rx|skb_|__sys_|sock_|do_epoll|ep_)/.test(frame)) return 'kernel';
  return 'other';
}

const zeroThreads = (): Record<ThreadKind, number> => ({ main: 0, pool: 0, v8: 0, other: 0 });
const zeroKinds = (): Record<CodeKind, number> => ({ js: 0, 'v8-builtins': 0, gc: 0, 'v8-node-runtime': 0, kernel: 0, libc: 0, lmdb: 0, other: 0 });

/**
 * Per process: thread kinds (a thread whose stacks were truncated takes the kind its other
 * samples show), code kinds by the leaf frame, top frames. Shares are of the process's CPU time.
 */
export function summarizeSamples(samples: Iterable<Sample>, top = 15): ProcessSummary[] {
  const byPid = new Map<number, Sample[]>();
  for (const s of samples) {
    let list = byPid.get(s.pid);
    if (!list) byPid.set(s.pid, (list = []));
    list.push(s);
  }
  const out: ProcessSummary[] = [];
  for (const [pid, list] of [...byPid].sort((a, b) => a[0] - b[0])) {
    const votes = new Map<number, Map<ThreadKind, number>>();
    for (const s of list) {
      const k = threadOf(s);
      if (k === null) continue;
      let v = votes.get(s.tid);
      if (!v) votes.set(s.tid, (v = new Map()));
      v.set(k, (v.get(k) ?? 0) + 1);
    }
    const kindOfTid = (tid: number): ThreadKind => {
      const v = votes.get(tid);
      if (!v) return 'other';
      return [...v].sort((a, b) => b[1] - a[1])[0]![0];
    };
    // perf's cpu-clock samples all stand for the same period; weigh by it when it is given.
    const weight = (s: Sample): number => (s.periodNs > 0 ? s.periodNs : 1);
    let total = 0;
    const threads = zeroThreads();
    const kinds = zeroKinds();
    const self = new Map<string, number>();
    const incl = new Map<string, number>();
    for (const s of list) {
      const w = weight(s);
      total += w;
      const tk = kindOfTid(s.tid);
      threads[tk] += w;
      const leaf = s.frames[0] ?? '[unknown]';
      kinds[codeKind(leaf, s.dsos[0])] += w;
      self.set(leaf, (self.get(leaf) ?? 0) + w);
      if (tk === 'main') {
        const seen = new Set<string>();
        s.frames.forEach((f, i) => {
          if (codeKind(f, s.dsos[i]) !== 'js' || seen.has(f)) return;
          seen.add(f);
          incl.set(f, (incl.get(f) ?? 0) + w);
        });
      }
    }
    const share = (m: Map<string, number>): Array<[string, number]> =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => [k, v / total]);
    for (const k of Object.keys(threads) as ThreadKind[]) threads[k] /= total;
    for (const k of Object.keys(kinds) as CodeKind[]) kinds[k] /= total;
    const hasPeriods = list.every((s) => s.periodNs > 0);
    out.push({
      pid,
      samples: list.length,
      cpuMs: hasPeriods ? total / 1e6 : NaN,
      threads,
      kinds,
      selfTop: share(self),
      mainInclusiveTop: share(incl),
    });
  }
  return out;
}

const pct = (x: number): string => `${(100 * x).toFixed(1).padStart(5)}%`;

/** The report the perf-profile tool prints for one process. */
export function formatSummary(p: ProcessSummary, label = ''): string {
  const lines = [`== pid ${p.pid}${label ? ` (${label})` : ''}: ${p.samples} samples${Number.isFinite(p.cpuMs) ? `, ${(p.cpuMs / 1000).toFixed(2)} s of CPU` : ''}`];
  lines.push(`  threads: ${(Object.entries(p.threads) as Array<[string, number]>).map(([k, v]) => `${k} ${pct(v).trim()}`).join(', ')}`);
  lines.push(`  code:    ${(Object.entries(p.kinds) as Array<[string, number]>).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${pct(v).trim()}`).join(', ')}`);
  lines.push('  top frames by self time (all threads):');
  for (const [f, v] of p.selfTop) lines.push(`    ${pct(v)}  ${f}`);
  lines.push('  main thread, top JavaScript functions by inclusive time (with what they called):');
  for (const [f, v] of p.mainInclusiveTop) lines.push(`    ${pct(v)}  ${f}`);
  return lines.join('\n');
}

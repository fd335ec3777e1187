/**
 * Where a process's CPU time went, from the .cpuprofile files `node --cpu-prof` writes: for each
 * file, the busy share (samples that were not idle), then the top functions by self time and
 * the same time grouped by area (GC, Node internals by module, our code by source folder,
 * dependencies by package).
 *
 * Usage: node dist/bench/profile-summary.js DIR_OR_FILE... [--top 15] [--inclusive]
 *   --inclusive  also the top functions of our own code (src/, cli/) by inclusive time (self
 *                and everything they called, counted once per sample): which of our functions
 *                the time is spent under, e.g. the access log's share of a request
 * Profiles of a whole cluster: `npm run bench:data -- --small-only --cpu-prof DIR` profiles
 * every server process (one file each, named by pid) while the bench runs.
 *
 * Caution: V8's samples gather on functions that make system calls (socket writes, lmdb-js's
 * `startWriting`) on a busy machine of few cores; `npm run bench:profile-bias` measures by how
 * much. Self-time shares of such functions here are upper bounds; perf-profile.ts gives the
 * figures to trust.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const argv = process.argv.slice(2);
const topAt = argv.indexOf('--top');
const top = topAt >= 0 ? Number(argv[topAt + 1]) : 15;
const inclusive = argv.includes('--inclusive');
const inputs = argv.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));

function files(p: string): string[] {
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => join(p, f));
}

/** The area a frame's time belongs to. */
function area(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(idle)' || fn === '(root)') return fn;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const m = /\/dist\/(src|cli|bench|test)\/([^/]+)/.exec(url);
  if (m) return m[1] === 'src' ? `src/${m[2]}` : m[1]!;
  return url === '' ? '(native)' : 'other';
}

function summarize(path: string): void {
  const prof = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') idle += us;
    const key = `${functionName || '(anonymous)'} ${url ? `${basename(url)}:${lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number): string => `${((100 * us) / Math.max(1, busy)).toFixed(1)}%`;
  console.log(`\n== ${basename(path)}: ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / Math.max(1, total)).toFixed(0)}%)`);
  console.log('  by area (share of busy time):');
  for (const [a, us] of [...areas].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`    ${pct(us).padStart(6)}  ${a}`);
  console.log('  top functions by self time:');
  for (const [f, us] of [...fns].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`    ${pct(us).padStart(6)}  ${f}`);
  if (!inclusive) return;
  console.log('  our functions by inclusive time:');
  for (const [f, us] of inclusiveTimes(prof, self).sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`    ${pct(us).padStart(6)}  ${f}`);
}

/** Busy time under each function of src/ or cli/ (its own and its callees'), once per sample stack. */
function inclusiveTimes(prof: Profile, self: Map<number, number>): Array<[string, number]> {
  const parent = new Map<number, ProfileNode>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const under = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    // Bounded: a profile's call tree is finite and acyclic (root has no parent).
    for (let n = byId.get(id); n; n = parent.get(n.id)) {
      const { functionName, url, lineNumber } = n.callFrame;
      if (functionName === '(idle)') break;
      if (!/\/dist\/(src|cli)\//.test(url)) continue;
      const key = `${functionName || '(anonymous)'} ${basename(url)}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      under.set(key, (under.get(key) ?? 0) + us);
    }
  }
  return [...under];
}

if (inputs.length === 0) {
  console.error('usage: profile-summary DIR_OR_FILE... [--top N] [--inclusive]');
  process.exit(2);
}
for (const p of inputs.flatMap(files)) summarize(p);

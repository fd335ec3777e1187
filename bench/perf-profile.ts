/**
 * Profiles of running processes by Linux `perf`, summarized per process (perf-script.ts says why
 * these rather than `--cpu-prof` alone, and what the summary holds).
 *
 *   record:  node dist/bench/perf-profile.js record --match REGEX --seconds 5 --out DIR
 *            samples every process whose command line matches REGEX (e.g. 'cairn.js (meta|chunk)')
 *            for the given seconds, 999 times a second with call stacks: DIR/PID.data, and the
 *            command line beside it in DIR/PID.cmd
 *   summary: node dist/bench/perf-profile.js summary DIR_OR_FILE... [--top 15]
 *
 * Start the load with JavaScript frame names for perf, e.g.
 *   NODE_OPTIONS=--perf-basic-prof-only-functions npm run bench:raft -- --conc 64 --seconds 30
 * (every process a bench starts inherits it), then record during the measured load.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { vetBenchArgs, type BenchFlag } from './bench-args.js';
import { JitMap, formatSummary, parsePerfScript, renameJitFrames, summarizeSamples, type Sample } from './perf-script.js';

function fail(msg: string): never {
  console.error(`perf-profile: ${msg}`);
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
}

function matchingPids(re: RegExp): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    if (re.test(cmd)) out.push([Number(d), cmd]);
  }
  return out;
}

const RECORD_FLAGS: BenchFlag[] = [
  { name: 'match', value: 'word', help: 'command lines to sample (a regular expression)' },
  { name: 'seconds', value: 'number', help: 'how long (default 5)' },
  { name: 'out', value: 'word', help: 'directory for PID.data and PID.cmd' },
];

async function record(args: string[]): Promise<void> {
  // A mistyped flag must not record with a default instead (bench-args.ts).
  const vetted = vetBenchArgs(args, RECORD_FLAGS);
  if (vetted !== null) fail('help' in vetted ? 'record --match REGEX --seconds S --out DIR' : vetted.error);
  const match = flag(args, 'match') ?? fail('record needs --match REGEX');
  const seconds = Number(flag(args, 'seconds') ?? '5');
  const out = flag(args, 'out') ?? fail('record needs --out DIR');
  if (!(seconds > 0 && seconds <= 600)) fail('--seconds must be in (0, 600]');
  const pids = matchingPids(new RegExp(match));
  if (pids.length === 0) fail(`no process matches ${JSON.stringify(match)}`);
  mkdirSync(out, { recursive: true });
  await Promise.all(
    pids.map(
      ([pid, cmd]) =>
        new Promise<void>((resolve, reject) => {
          writeFileSync(join(out, `${pid}.cmd`), `${cmd}\n`);
          const p = spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', join(out, `${pid}.data`), '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
          let err = '';
          p.stderr.on('data', (b: Buffer) => (err += b.toString()));
          p.on('error', (e) => reject(new Error(`perf: ${e.message} (is perf installed? apt-get install linux-perf)`)));
          p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`perf record of ${pid} exited ${code}: ${err.trim().split('\n').pop()}`))));
        }),
    ),
  );
  console.log(`recorded ${pids.length} processes for ${seconds} s into ${out}`);
}

async function samplesOf(file: string): Promise<Sample[]> {
  const p = spawn('perf', ['script', '-i', file, '-F', 'pid,tid,time,period,ip,sym,dso'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const done = new Promise<number | null>((resolve, reject) => {
    p.on('error', (e) => reject(new Error(`perf: ${e.message}`)));
    p.on('close', resolve);
  });
  const samples: Sample[] = [];
  const lines = createInterface({ input: p.stdout, crlfDelay: Infinity });
  const buf: string[] = [];
  for await (const line of lines) {
    buf.push(line);
    // Parse sample by sample (a blank line ends one), so the text is never held whole.
    if (line.trim() === '') {
      for (const s of parsePerfScript(buf)) samples.push(s);
      buf.length = 0;
    }
  }
  for (const s of parsePerfScript(buf)) samples.push(s);
  const code = await done;
  if (code !== 0) throw new Error(`perf script -i ${file} exited ${code}`);
  // perf's own names for JavaScript frames can be stale (JitMap): name them again from the map.
  const maps = new Map<string, JitMap | null>();
  for (const s of samples) {
    const path = s.dsos.find((d) => /\/perf-\d+\.map$/.test(d));
    if (path === undefined) continue;
    if (!maps.has(path)) maps.set(path, existsSync(path) ? new JitMap(readFileSync(path, 'utf8')) : null);
    const map = maps.get(path);
    if (map) renameJitFrames(s, map);
  }
  return samples;
}

async function summary(args: string[]): Promise<void> {
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
  const inputs = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1));
  if (inputs.length === 0) fail('summary needs a directory or .data files');
  const files = inputs.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.data'))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
  for (const f of files) {
    const cmdFile = f.replace(/\.data$/, '.cmd');
    const label = existsSync(cmdFile) ? readFileSync(cmdFile, 'utf8').trim().replace(/^.*?cairn\.js /, '').slice(0, 60) : basename(f);
    for (const p of summarizeSamples(await samplesOf(f), top)) console.log(`${formatSummary(p, label)}\n`);
  }
}

const [mode, ...rest] = process.argv.slice(2);
const run = mode === 'record' ? record : mode === 'summary' ? summary : null;
if (run === null) fail('usage: perf-profile.js record --match REGEX --seconds S --out DIR | summary DIR_OR_FILE... [--top N]');
run(rest).catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));

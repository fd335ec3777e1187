/**
 * Mutation guard for the Raft core: `npm run mutants [-- --seeds N] [--only NAME]`.
 *
 * Each mutant is one classic Raft bug, applied as an exact text replacement to a COPY of the
 * built core (dist/src) next to a copy of the built simulator (dist/test/sim); the simulator then
 * runs up to `--seeds` seeds (default 300) on the copy, for at most MUTANT_RUN_MS each. A mutant
 * is caught when some seed fails (a safety or linearizability violation, or an exception from
 * the core). A replacement that no longer matches the built code is an error, not a miss: the
 * guard must be updated with the code. An unmutated copy runs first and must pass.
 *
 * Prints one line per mutant and `mutants: N caught, M missed`; exits 1 if any is missed.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Longest one mutant's simulator run may take. */
const MUTANT_RUN_MS = 60_000;
const SEEDS_DEFAULT = 300;

interface Mutant {
  name: string;
  what: string;
  /** Built file under dist/, the exact text found there, and what replaces it. */
  file: string;
  find: string;
  replace: string;
}

const RAFT = 'src/raft/raft-node.js';
const LOG = 'src/raft/raft-log.js';
const READY = 'src/consensus/ready-protocol.js';

export const MUTANTS: Mutant[] = [
  {
    name: 'a-vote-no-log-check',
    what: 'vote granted without the log up-to-date check (Raft §5.4.1)',
    file: RAFT,
    find: 'if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {',
    replace: 'if (canVote) {',
  },
  {
    name: 'b-commit-old-term',
    what: 'leader commits an entry of an earlier term by counting replicas (Figure 8)',
    file: RAFT,
    find: 'if (mi <= this.log.committed || this.log.term(mi) !== this.term)',
    replace: 'if (mi <= this.log.committed)',
  },
  {
    name: 'c-vote-before-persist',
    what: 'vote answered before the vote is persisted',
    file: READY,
    find: "if (leading && (m.type === 'app' || m.type === 'heartbeat'))",
    replace: "if ((leading && (m.type === 'app' || m.type === 'heartbeat')) || m.type === 'vote-resp')",
  },
  {
    name: 'c2-forget-vote-on-restart',
    what: 'the vote is forgotten on restart',
    file: RAFT,
    find: 'this.vote = hardState.vote;',
    replace: 'this.vote = null;',
  },
  {
    name: 'd-no-prev-entry-check',
    what: 'follower appends without the previous-entry check',
    file: LOG,
    find: 'if (!this.matchTerm(prevIndex, prevTerm))',
    replace: 'if (prevIndex > this.lastIndex())',
  },
  {
    name: 'e-leader-ignores-higher-term',
    what: 'a leader does not step down on a higher term',
    file: RAFT,
    find: 'this.becomeFollower(m.term, fromLeader ? m.from : null);',
    replace: "if (this.state === 'leader') this.term = m.term; else this.becomeFollower(m.term, fromLeader ? m.from : null);",
  },
  {
    name: 'f-read-without-heartbeat',
    what: 'ReadIndex served without a heartbeat round',
    file: RAFT,
    find: 'if (this.readOnly.add(this.log.committed, ctx, this.id))',
    replace: 'if (this.readStates.push({ index: this.log.committed, ctx }) < 0)',
  },
  {
    name: 'g-apply-past-commit',
    what: 'entries applied past the commit index',
    file: LOG,
    find: 'Math.min(this.committed, this.stableLastIndex()) : this.committed;',
    replace: 'Math.min(this.committed, this.stableLastIndex()) : this.lastIndex();',
  },
  {
    name: 'h-apply-during-write-not-durable',
    what: 'entries applied during a write before they are durable here (Ready step 9 unbounded)',
    file: LOG,
    find: 'const hi = durableOnly ? Math.min(this.committed, this.stableLastIndex()) : this.committed;',
    replace: 'const hi = this.committed;',
  },
];

interface RunResult {
  failed: boolean;
  timedOut: boolean;
  ms: number;
  line: string;
}

/** Copies the built core and simulator to `root`, applying `m` (null: unmutated). */
function prepare(dist: string, root: string, m: Mutant | null): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'test'), { recursive: true });
  cpSync(join(dist, 'src'), join(root, 'src'), { recursive: true });
  cpSync(join(dist, 'test', 'sim'), join(root, 'test', 'sim'), { recursive: true });
  if (!m) return;
  const path = join(root, m.file);
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf(m.find);
  if (at < 0 || text.indexOf(m.find, at + 1) >= 0) {
    throw new Error(`mutant ${m.name}: the text to replace is not found exactly once in ${m.file}; update the guard`);
  }
  writeFileSync(path, text.slice(0, at) + m.replace + text.slice(at + m.find.length));
}

function runSim(root: string, seeds: number): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'test', 'sim', 'run.js'), '--seeds', String(seeds), '--stop-on-failure'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, MUTANT_RUN_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const first = /SEED=(\d+) FAILED: ([^\n]*)/.exec(out);
      const failed = first !== null;
      if (!failed && !timedOut && code !== 0) {
        // The copy did not run (e.g. a mutant broke the module): never counted as caught.
        resolve({ failed: false, timedOut, ms: performance.now() - t0, line: `simulator error (exit ${code}): ${out.trim().split('\n').slice(-3).join(' | ')}` });
        return;
      }
      const line = failed ? `seed ${first[1]}: ${first[2]!.slice(0, 140)}` : timedOut ? 'time limit reached' : `all ${seeds} seeds passed`;
      resolve({ failed, timedOut, ms: performance.now() - t0, line });
    });
  });
}

function args(argv: string[]): { seeds: number; only: string | null } {
  let seeds = SEEDS_DEFAULT;
  let only: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seeds') seeds = Number(argv[++i]);
    else if (argv[i] === '--only') only = argv[++i] ?? null;
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  if (!Number.isSafeInteger(seeds) || seeds < 1) throw new Error('--seeds must be a positive integer');
  return { seeds, only };
}

async function main(): Promise<number> {
  const { seeds, only } = args(process.argv.slice(2));
  // This file is dist/test/support/mutants.js.
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  if (!existsSync(join(dist, RAFT))) throw new Error(`no built core at ${join(dist, RAFT)}: run npm run build`);
  const work = join(dist, 'mutants');
  const base = join(work, 'unmutated');
  prepare(dist, base, null);
  const b = await runSim(base, seeds);
  if (b.failed || b.line.startsWith('simulator error')) {
    console.log(`unmutated: ${b.line}`);
    return 2;
  }
  console.log(`unmutated: ${b.line} (${(b.ms / 1000).toFixed(1)} s)`);
  let caught = 0;
  let missed = 0;
  for (const m of MUTANTS) {
    if (only !== null && m.name !== only) continue;
    const root = join(work, m.name);
    prepare(dist, root, m);
    const r = await runSim(root, seeds);
    if (r.failed) caught++;
    else missed++;
    console.log(`${r.failed ? 'caught' : 'MISSED'} ${m.name} (${m.what}): ${r.line} (${(r.ms / 1000).toFixed(1)} s)`);
    rmSync(root, { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
  console.log(`mutants: ${caught} caught, ${missed} missed`);
  return missed > 0 ? 1 : 0;
}

process.exitCode = await main();

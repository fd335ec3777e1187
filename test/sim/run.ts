/**
 * The simulator's command line.
 *
 *   npm run sim -- --seeds 10000 [--from 1] [--workers 2]   run seeds from..from+N-1 on worker threads
 *   npm run sim -- --seed 42 --trace                        replay one seed exactly, with an event trace
 *   --stop-on-failure                                       end a many-seed run at its first failing seed
 *   --machine ns                                            the state machine is the real namespace machine
 *                                                           (default kv: string registers)
 *
 * Any failure prints `SEED=<n>` and the violated invariant; the exit code is then 1.
 */
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSimulation, type SimMachineKind, type SimResult } from './simulation.js';

interface WorkerJob {
  seeds: number[];
  machine: SimMachineKind;
}

interface WorkerMsg {
  seed: number;
  ok: boolean;
  failure: string | null;
  events: number;
  opsOk: number;
}

function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const name = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out.set(name, next);
      i++;
    } else {
      out.set(name, 'true');
    }
  }
  return out;
}

function intArg(args: Map<string, string>, name: string, dflt: number): number {
  const v = args.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

function printFailure(r: Pick<SimResult, 'seed' | 'failure'>, machine: SimMachineKind): void {
  console.log(`SEED=${r.seed} FAILED: ${r.failure}`);
  console.log(`  replay: npm run sim -- --seed ${r.seed} --trace${machine === 'kv' ? '' : ` --machine ${machine}`}`);
}

async function runOne(seed: number, trace: boolean, machine: SimMachineKind): Promise<number> {
  const t0 = performance.now();
  const r = await runSimulation({ seed, trace, machine });
  const ms = performance.now() - t0;
  if (trace) for (const line of r.trace) console.log(line);
  console.log(`params: ${JSON.stringify(r.params)}`);
  console.log(`stats: ${JSON.stringify(r.stats)} (${ms.toFixed(0)} ms)`);
  if (!r.ok) {
    printFailure(r, machine);
    return 1;
  }
  console.log(`SEED=${seed} ok`);
  return 0;
}

async function runMany(from: number, count: number, workers: number, machine: SimMachineKind, stopOnFailure = false): Promise<number> {
  const t0 = performance.now();
  const buckets: number[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < count; i++) buckets[i % workers]!.push(from + i);
  let done = 0;
  let events = 0;
  let ops = 0;
  const failures: WorkerMsg[] = [];
  const running: Worker[] = [];
  let stopping = false;
  await Promise.all(
    buckets.map(
      (seeds) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { seeds, machine } satisfies WorkerJob });
          running.push(w);
          w.on('message', (m: WorkerMsg) => {
            done++;
            events += m.events;
            ops += m.opsOk;
            if (!m.ok) {
              failures.push(m);
              printFailure(m, machine);
              if (stopOnFailure && !stopping) {
                stopping = true;
                for (const r of running) void r.terminate();
              }
            }
            if (done % 1000 === 0) {
              const s = (performance.now() - t0) / 1000;
              console.log(`${done}/${count} seeds, ${failures.length} failed, ${(done / s).toFixed(1)} seeds/s`);
            }
          });
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 || stopping ? resolve() : reject(new Error(`worker exited with ${code}`))));
        }),
    ),
  );
  const s = (performance.now() - t0) / 1000;
  console.log(
    `${count} seeds (${from}..${from + count - 1}) in ${s.toFixed(1)} s: ${(count / s).toFixed(1)} seeds/s, ` +
      `${events} events, ${ops} client ops; ${failures.length} failed`,
  );
  if (failures.length > 0) {
    console.log(`failed seeds: ${failures.map((f) => f.seed).sort((a, b) => a - b).join(' ')}`);
    return 1;
  }
  return 0;
}

if (!isMainThread) {
  const job = workerData as WorkerJob;
  for (const seed of job.seeds) {
    const r = await runSimulation({ seed, machine: job.machine });
    const msg: WorkerMsg = { seed, ok: r.ok, failure: r.failure, events: r.stats.events, opsOk: r.stats.opsOk };
    parentPort!.postMessage(msg);
  }
} else {
  const args = parseArgs(process.argv.slice(2));
  const machine = args.get('machine') ?? 'kv';
  if (machine !== 'kv' && machine !== 'ns') throw new Error('--machine must be kv or ns');
  let code: number;
  if (args.has('seed')) {
    code = await runOne(intArg(args, 'seed', 1), args.has('trace'), machine);
  } else {
    const count = intArg(args, 'seeds', 100);
    const from = intArg(args, 'from', 1);
    const workers = Math.max(1, intArg(args, 'workers', Math.min(2, availableParallelism())));
    code = await runMany(from, count, workers, machine, args.has('stop-on-failure'));
  }
  process.exitCode = code;
}

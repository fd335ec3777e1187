/**
 * Runs the BUILT `cairn` CLI (dist/cli/cairn.js, `npm run build` first) as a real child process
 * for the cli-*.test.ts integration tests. The child's environment never inherits CAIRN_META or
 * CAIRN_TOKEN from ours: each test says where the cluster is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, systemClock, systemTimers } from '../../src/env/system.js';
import { packageRoot } from '../../src/server/local-process.js';

export const CLI_PATH = join(packageRoot(), 'dist', 'cli', 'cairn.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Extra environment (CAIRN_META, CAIRN_TOKEN, …) on top of ours minus CAIRN_*. */
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes for stdin (stdin is closed after them); without it stdin is empty. */
  input?: Buffer | string;
  /** Kill the child with SIGKILL after this long. @default 30000 */
  timeoutMs?: number;
}

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CAIRN_')) env[k] = v;
  return { ...env, ...extra };
}

export function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} missing: run \`npm run build\` first`);
}

/** Run `cairn args…` to completion and collect its output. */
export function runCli(args: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: o.cwd, env: cliEnv(o.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // the CLI may exit before reading all of stdin
    const timer = systemTimers.setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      timer.cancel();
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
  });
}

/** Expect a failure: non-zero exit and exactly one stderr line `cairn: <code>: …`; returns that line. */
export function failureLine(r: RunResult, code: string): string {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  if (r.code === 0 || r.code === null || lines.length !== 1 || !lines[0]!.startsWith(`cairn: ${code}: `)) {
    throw new Error(`expected one line 'cairn: ${code}: …' and a non-zero exit, got exit ${r.code} (${r.signal}) and stderr:\n${r.stderr}`);
  }
  return lines[0]!;
}

/** Expect success: exit 0 and nothing on stderr (no TTY, so no progress bar either). */
export function ok(r: RunResult): RunResult {
  if (r.code !== 0 || r.stderr !== '') throw new Error(`expected success, got exit ${r.code} (${r.signal}) and stderr:\n${r.stderr}`);
  return r;
}

/** `n` deterministic pseudo-random bytes (xorshift32), different for each seed. */
export function patternBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** A `cairn dev` started by runDev: its process and everything it printed so far. */
export interface RunningDev {
  proc: ChildProcess;
  output: () => string;
  /** SIGINT, then wait for it to exit (a no-op once it has). */
  stop: () => Promise<void>;
}

/** Start the built `cairn dev ARGS…` in `cwd` and wait (≤ 60 s) until it wrote .cairn/cluster.json. */
export async function runDev(cwd: string, args: string[]): Promise<RunningDev> {
  const proc = spawn(process.execPath, [CLI_PATH, 'dev', ...args], { cwd, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    await exited;
  };
  const deadline = systemClock.nowMs() + 60_000;
  while (!existsSync(join(cwd, '.cairn', 'cluster.json'))) {
    if (proc.exitCode !== null) throw new Error(`cairn dev exited early (${proc.exitCode}):\n${out}`);
    if (systemClock.nowMs() > deadline) {
      await stop();
      throw new Error(`cairn dev not ready within 60 s:\n${out}`);
    }
    await sleep(100);
  }
  return { proc, output: () => out, stop };
}

/**
 * One server of a local cluster as a real OS process: started from its full argv, stoppable
 * with a signal, restartable on the same data with the same argv. Used by `cairn dev`, the
 * integration tests and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemTimers } from '../env/system.js';

/** Set in every child's environment: the pid of the process that launched it. */
export const PARENT_PID_ENV = 'CAIRN_PARENT_PID';

/** The package root (holds package.json), found from this module whether run from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return dir;
}

/** argv prefix that runs the built `cairn` CLI with this Node binary. */
export function cairnArgv(...args: string[]): string[] {
  return [process.execPath, join(packageRoot(), 'dist', 'cli', 'cairn.js'), ...args];
}

/**
 * The environment minus the role-specific server settings (`CAIRN_META_*`, `CAIRN_CHUNK_*`,
 * `CAIRN_GATEWAY_*`, cli/server-config.ts): a server started here is defined by its argv alone,
 * so the same argv restarts it the same way from any shell.
 */
export function withoutServerSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!/^CAIRN_(META|CHUNK|GATEWAY)_/.test(k)) out[k] = v;
  return out;
}

export interface LocalProcessInit {
  id: string;
  argv: string[];
  /** Where the child's stderr goes: a file path (appended), 'inherit', or 'ignore'. @default 'ignore' */
  stderr?: 'inherit' | 'ignore' | number;
  env?: NodeJS.ProcessEnv;
  /** Called each time the process exits (code, or the signal that ended it). */
  onExit?: (e: ProcessExit) => void;
}

export interface ProcessExit {
  id: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class LocalProcess {
  readonly id: string;
  readonly argv: string[];
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);
  private readonly init: LocalProcessInit;

  constructor(init: LocalProcessInit) {
    this.id = init.id;
    this.argv = init.argv;
    this.init = init;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Exit code once it exited on its own (null while running, when killed by a signal, or never started). */
  get exitCode(): number | null {
    return this.child?.exitCode ?? null;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.id} is already running`);
    const [cmd, ...args] = this.argv;
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'ignore', this.init.stderr ?? 'ignore'],
      // The child stops by itself if this process dies (see cli/server-lifecycle.ts).
      env: { ...(this.init.env ?? withoutServerSettings(process.env)), [PARENT_PID_ENV]: String(process.pid) },
    });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.init.onExit?.({ id: this.id, pid: child.pid, code, signal });
        resolve(code);
      }),
    );
  }

  /**
   * Send a signal (SIGKILL for a crash, SIGTERM for a clean stop) and wait for the exit; a
   * process still running after graceMs gets SIGKILL.
   */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.exited;
    const child = this.child!;
    child.kill(signal);
    if (signal === 'SIGKILL') return this.exited;
    let timer: { cancel(): void } | null = null;
    const escalate = new Promise<void>((resolve) => {
      timer = systemTimers.setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    const code = await Promise.race([this.exited, escalate.then(() => this.exited)]);
    (timer as { cancel(): void } | null)?.cancel();
    return code;
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }
}

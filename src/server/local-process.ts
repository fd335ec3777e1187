/**
 * One server of a local cluster as a real OS process: started from its full argv, stoppable
 * with a signal, restartable on the same data with the same argv. Used by `cairn dev`, the
 * integration tests and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export interface LocalProcessInit {
  id: string;
  argv: string[];
  /** Where the child's stderr goes: a file path (appended), 'inherit', or 'ignore'. @default 'ignore' */
  stderr?: 'inherit' | 'ignore' | number;
  env?: NodeJS.ProcessEnv;
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

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) throw new Error(`${this.id} is already running`);
    const [cmd, ...args] = this.argv;
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'ignore', this.init.stderr ?? 'ignore'],
      env: this.init.env ?? process.env,
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Send a signal (SIGKILL for a crash, SIGTERM for a clean stop) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child!.kill(signal);
    return this.exited;
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }
}

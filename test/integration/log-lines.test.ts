/**
 * The servers' log lines are gathered before they are written (server/pino-logger.ts,
 * batchedLines): none may be lost when a server exits, and an idle server's last lines still
 * reach its log without waiting for more. A real child process writing to a real stderr pipe.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CHILD = join(import.meta.dirname, 'fixtures', 'log-child.mjs');

function run(lines: number, mode: 'exit' | 'stay'): { done: Promise<number | null>; stderr: () => string; stdout: () => string; kill: () => void } {
  const child = spawn(process.execPath, [CHILD, String(lines), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { done, stderr: () => err, stdout: () => out, kill: () => void child.kill('SIGKILL') };
}

const indexes = (text: string): number[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { i: number }).i);

describe('server log lines (a real process)', () => {
  it('every line gathered is written when the process exits at once after logging', async () => {
    const c = run(5000, 'exit');
    expect(await c.done).toBe(0);
    expect(indexes(c.stderr())).toEqual([...Array(5000).keys()]);
  }, 30_000);

  it('an idle process’s last lines reach stderr without more lines or an exit', async () => {
    const c = run(3, 'stay');
    try {
      const until = Date.now() + 10_000;
      while (indexes(c.stderr()).length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(c.stdout()).toBe('logged\n');
      expect(indexes(c.stderr())).toEqual([0, 1, 2]);
    } finally {
      c.kill();
      await c.done;
    }
  }, 30_000);
});

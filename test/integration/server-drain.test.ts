/**
 * How a server process ends on SIGTERM (cli/server-lifecycle.ts, built): exit 0 once its drain
 * finished; a drain that does not finish within its bound exits 1 with one line on stderr; a
 * second signal during the drain does not cut it short (Ctrl-C on `cairn dev` reaches every
 * server twice: from the terminal and from dev's own stop). A server whose launcher died
 * (CAIRN_PARENT_PID), or died while it was starting, stops by itself within the shorter orphan
 * bound.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PARENT_PID_ENV, packageRoot } from '../../src/server/local-process.js';
import { assertBuilt } from './cli-harness.js';

const LIFECYCLE = join(packageRoot(), 'dist', 'cli', 'server-lifecycle.js');

/** A process whose stop takes `stopMs` (null: never ends), drain bound `drainMs`; signalled with each of `signals`, 100 ms apart. */
async function run(stopMs: number | null, drainMs: number, signals: NodeJS.Signals[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const script = `
    const { stopOnSignalOrParentExit } = await import(${JSON.stringify(LIFECYCLE)});
    setInterval(() => {}, 1000);
    stopOnSignalOrParentExit((why) => {
      console.log('stopping: ' + why);
      ${stopMs === null ? '' : `setTimeout(() => process.exit(0), ${stopMs});`}
    }, ${drainMs});
    console.log('ready');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  while (!stdout.includes('ready')) await new Promise((r) => setTimeout(r, 20));
  for (const s of signals) {
    child.kill(s);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { code: await exited, stderr, stdout };
}

describe('server drain on SIGTERM', () => {
  it('exits 0 when the drain finishes, even when signalled again meanwhile', async () => {
    assertBuilt();
    const r = await run(400, 5000, ['SIGTERM', 'SIGINT']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.match(/stopping/g)).toHaveLength(1);
  }, 20_000);

  it('exits 1 with one line on stderr when the drain does not finish within its bound', async () => {
    const r = await run(null, 300, ['SIGTERM']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('cairn: still stopping after 300 ms (SIGTERM): exiting without finishing the drain\n');
  }, 20_000);

  it('a server whose launcher is killed stops by itself within the orphan bound, not the drain bound', async () => {
    // launcher → server (drain never ends; drain bound 60 s, orphan bound 300 ms). The server's
    // stderr is this test's pipe: it ends when the server exits, the launcher being gone already.
    const server = `
      const { stopOnSignalOrParentExit } = await import(${JSON.stringify(LIFECYCLE)});
      setInterval(() => {}, 1000);
      stopOnSignalOrParentExit(() => {}, 60_000, 300);
      console.error('ready ' + process.pid);`;
    const launcher = `
      const { spawn } = await import('node:child_process');
      spawn(process.execPath, ['--input-type=module', '-e', ${JSON.stringify(server)}], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ${PARENT_PID_ENV}: String(process.pid) } });
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', launcher], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const ended = new Promise<void>((resolve) => child.stderr.once('end', () => resolve()));
    for (let i = 0; i < 500 && !/ready \d+\n/.test(stderr); i++) await new Promise((r) => setTimeout(r, 20));
    const serverPid = Number(/ready (\d+)\n/.exec(stderr)?.[1]);
    expect(serverPid).toBeGreaterThan(0);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    try {
      // Seen within a poll (1 s), then the 300 ms bound; far below the 60 s drain bound.
      await Promise.race([ended, new Promise((r) => setTimeout(r, 15_000))]);
      const tookMs = Date.now() - killedAt;
      expect(stderr).toBe(`ready ${serverPid}\ncairn: still stopping after 300 ms (parent process ${child.pid} exited): exiting without finishing the drain\n`);
      expect(tookMs).toBeLessThan(10_000);
    } finally {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
  }, 30_000);

  it('a server whose launcher died while it was starting (its parent is not the one named) stops at once', async () => {
    // CAIRN_PARENT_PID names a live process that is not this server's parent: this test's parent.
    const script = `
      const { stopOnSignalOrParentExit } = await import(${JSON.stringify(LIFECYCLE)});
      setInterval(() => {}, 1000);
      stopOnSignalOrParentExit(() => {}, 60_000, 300);`;
    const named = process.ppid;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [PARENT_PID_ENV]: String(named) } });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(stderr).toBe(`cairn: still stopping after 300 ms (parent process ${named} exited before this server started): exiting without finishing the drain\n`);
  }, 30_000);
});

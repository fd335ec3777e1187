/**
 * How a server process ends on SIGTERM (cli/server-lifecycle.ts, built): exit 0 once its drain
 * finished; a drain that does not finish within its bound exits 1 with one line on stderr; a
 * second signal during the drain does not cut it short (Ctrl-C on `cairn dev` reaches every
 * server twice: from the terminal and from dev's own stop).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/server/local-process.js';
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
});

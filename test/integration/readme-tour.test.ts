/**
 * The README's five-minute tour, run literally: the shell block under "## A five-minute tour"
 * is executed line by line with bash (`set -eu`: any failing command fails the test) in a
 * directory where `npx cairn dev` runs, as a newcomer would after `npm install`. Only two things
 * differ from a newcomer's terminal: `npx cairn …` runs the built CLI of this checkout (npx would
 * resolve the same bin from a clone), and port 7000 becomes a free port base so the test cannot
 * collide with a real `cairn dev`.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng, systemTimers } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { packageRoot } from '../../src/server/local-process.js';
import { assertBuilt, CLI_PATH, cliEnv, runDev, type RunningDev } from './cli-harness.js';

const TOUR_HEADING = '## A five-minute tour';
const DEFAULT_PORT_BASE = '7000';

/** The first ```sh block after the tour's heading, as written in README.md. */
function tourScript(readme: string): string {
  const at = readme.indexOf(`\n${TOUR_HEADING}\n`);
  if (at < 0) throw new Error(`README.md has no "${TOUR_HEADING}" section`);
  const open = readme.indexOf('```sh\n', at);
  const close = readme.indexOf('\n```', open + 6);
  if (open < 0 || close < 0) throw new Error('the tour has no ```sh block');
  return readme.slice(open + 6, close + 1);
}

function run(script: string, cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = systemTimers.setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      timer.cancel();
      resolve({ code, out, err });
    });
  });
}

describe('README five-minute tour', () => {
  const root = packageRoot();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-tour-'));
  let dev: RunningDev | null = null;
  let portBase = 0;

  beforeAll(async () => {
    assertBuilt();
    // The tour uploads the clone's own files.
    copyFileSync(join(root, 'README.md'), join(cwd, 'README.md'));
    copyFileSync(join(root, 'package.json'), join(cwd, 'package.json'));
    portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    dev = await runDev(cwd, ['--port-base', String(portBase)]);
  }, 90_000);

  afterAll(async () => {
    await dev?.stop();
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('runs as written and does what its comments say', async () => {
    const tour = tourScript(readme);
    expect(tour).toContain('npx cairn put');
    const script = [
      'set -eu',
      `npx() { if [ "$1" != cairn ]; then echo "npx $1: not part of the tour" >&2; return 99; fi; shift; "${process.execPath}" "${CLI_PATH}" "$@"; }`,
      tour.replaceAll(`127.0.0.1:${DEFAULT_PORT_BASE}`, `127.0.0.1:${portBase}`),
    ].join('\n');
    const r = await run(script, cwd, 120_000);
    if (r.code !== 0) throw new Error(`the tour failed (exit ${r.code}):\nstdout:\n${r.out}\nstderr:\n${r.err}`);
    expect(r.out).toContain('same bytes');
    // The Range request printed the first 16 bytes of package.json.
    expect(r.out).toContain(readFileSync(join(cwd, 'package.json'), 'utf8').slice(0, 16));
    // The listing over HTTP named the uploaded file.
    expect(r.out).toContain('"name":"package.json"');
    // The tour cleans up after itself.
    expect(existsSync('/tmp/readme.md')).toBe(false);
  }, 150_000);
});

/**
 * The operators' walkthrough of docs/operations.md, run literally: every ```sh block marked
 * `<!-- walkthrough -->` (in README.md, then docs/operations.md), in order, in ONE bash with
 * `set -euo pipefail`, so any failing step fails the test. `cairn` on PATH is the built CLI of
 * this checkout (a script in a temp bin dir). Three machines are the loopback addresses
 * 127.0.0.1/2/3, each with its own directory. The only change to the text: the ports 7000–7999
 * on those addresses move to a free range, so the test cannot collide with a real cluster.
 * Whatever the script leaves running is killed at the end.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemRng, systemTimers } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { packageRoot } from '../../src/server/local-process.js';
import { assertBuilt, CLI_PATH, cliEnv } from './cli-harness.js';

const MARK = '<!-- walkthrough -->';

/** The ```sh blocks right after each MARK, in document order. */
function walkthroughBlocks(markdown: string): string[] {
  const out: string[] = [];
  for (let at = markdown.indexOf(MARK); at >= 0; at = markdown.indexOf(MARK, at + MARK.length)) {
    const open = markdown.indexOf('```sh\n', at);
    if (open < 0 || markdown.slice(at + MARK.length, open).trim() !== '') throw new Error(`a ${MARK} mark not followed by a \`\`\`sh block`);
    const close = markdown.indexOf('\n```', open + 6);
    out.push(markdown.slice(open + 6, close + 1));
  }
  return out;
}

/** Every pid file below `dir`. */
function pidFiles(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...pidFiles(p));
    else if (e.endsWith('.pid')) out.push(p);
  }
  return out;
}

function run(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = systemTimers.setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    // 'exit', not 'close': servers started in the background keep the pipes open.
    child.on('exit', (code) => {
      timer.cancel();
      resolve({ code, out });
    });
  });
}

describe('operators walkthrough (docs/operations.md)', () => {
  const root = packageRoot();
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-walkthrough-'));

  afterAll(() => {
    for (const f of pidFiles(cwd)) {
      const pid = Number(readFileSync(f, 'utf8').trim());
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${cwd}`);
    else rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('runs from secrets to a three-machine cluster and through every operation, as written', async () => {
    assertBuilt();
    const blocks = ['README.md', 'docs/operations.md'].flatMap((f) => walkthroughBlocks(readFileSync(join(root, f), 'utf8')));
    const text = blocks.join('\n');
    for (const step of ['cairn init', 'cairn put', 'curl', 'cairn drain', 'cairn remove-server', 'cairn meta add', 'cairn meta remove', 'cairn meta transfer-leader', '--join', 'restart', 'cairn backup', 'cairn restore', 'cairn status', '/metrics'])
      expect(text, `the walkthrough has no ${step}`).toContain(step);
    const bin = join(cwd, '.bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'cairn'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_PATH}" "$@"\n`);
    chmodSync(join(bin, 'cairn'), 0o755);
    const base = await findFreePortRange(1000, (n) => systemRng.int(n));
    const script = ['set -euo pipefail', text.replace(/(?<=127\.0\.0\.(?:[1-9]|\$m)):(7\d{3})\b/g, (_m, p: string) => `:${base + Number(p) - 7000}`)].join('\n');
    const env = cliEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` });
    // 140-170 s measured at load average 25-30 on 2 cores (other jobs running); less on a quiet machine.
    const r = await run(script, cwd, env, 300_000);
    if (r.code !== 0) throw new Error(`the walkthrough failed (exit ${r.code}):\n${r.out.slice(-6000)}`);
    expect(r.out).toContain('same bytes\n');
    expect(r.out).toContain('same bytes after the restarts\n');
    expect(r.out).toContain('hello\n'); // curl read back the file it stored
    expect(r.out).toMatch(/^cairn_meta_raft_term \d+$/m);
    expect(r.out).toMatch(/^cairn_repair_chunks_lost 0$/m);
    // The restore drill listed the backed-up files from the scratch group.
    expect(r.out).toMatch(/big\.bin\n/);
  }, 320_000);
});

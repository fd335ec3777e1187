/**
 * Faults for real processes (docs/chaos.md): a one-minute chaos run (kill -9, SIGSTOP/SIGCONT,
 * partitions through the fault proxies, slow links) whose history must check out, and progress
 * around a partial partition: a gateway cut from the leader alone keeps serving.
 * Runs the BUILT code (`npm run build` first): the servers load the built dial hook.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { packageRoot } from '../../src/server/local-process.js';
import { ChaosCluster } from '../support/chaos-cluster.js';

const RUNNER = join(packageRoot(), 'dist', 'test', 'support', 'chaos-run.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function runChaos(seed: number, durationSec: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, '--seed', String(seed), '--duration', String(durationSec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('chaos: real processes under faults', () => {
  it('a one-minute chaos run: 0 lost, 0 corrupt, no never-written bytes, linearizable', async () => {
    expect(existsSync(RUNNER), 'run npm run build first').toBe(true);
    const seed = 1 + systemRng.int(1_000_000);
    const r = await runChaos(seed, 60);
    const line = /CHAOS_RESULT (.*)/.exec(r.out);
    expect(line, r.out).not.toBeNull();
    const res = JSON.parse(line![1]!) as { ok: boolean; lost: number; corrupt: number; neverWritten: number; linearizable: boolean; acked: number; faults: number };
    // The seed replays the schedule: npm run chaos -- --seed S --duration 60
    expect({ seed, ...res }, r.out).toMatchObject({ seed, ok: true, lost: 0, corrupt: 0, neverWritten: 0, linearizable: true });
    expect(res.faults, r.out).toBeGreaterThanOrEqual(5);
    expect(res.acked, r.out).toBeGreaterThan(20);
    expect(r.code, r.out).toBe(0);
  }, 240_000);

  it('a gateway cut from the leader alone keeps serving: every request within seconds through a 20 s cut', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-partial-'));
    dirs.push(dir);
    const c = await ChaosCluster.start({ dir });
    try {
      const auth = { authorization: `Bearer ${c.token}` };
      const put = async (name: string, body: string): Promise<number> => (await fetch(`${c.gatewayUrl}/v1/files/partial/${name}`, { method: 'PUT', headers: auth, body, signal: AbortSignal.timeout(30_000) })).status;
      const get = async (name: string): Promise<string> => {
        const r = await fetch(`${c.gatewayUrl}/v1/files/partial/${name}`, { headers: auth, signal: AbortSignal.timeout(30_000) });
        return `${r.status} ${await r.text()}`;
      };
      expect(await put('warm', 'x')).toBe(201); // the gateway has found the leader
      let leader: string | null = null;
      for (let i = 0; i < 20 && leader === null; i++) leader = await c.leader();
      expect(leader).not.toBeNull();
      c.isolate('gateway', [leader!], true);
      const cutAt = systemClock.nowMs();
      const slowest: number[] = [];
      let n = 0;
      while (systemClock.nowMs() - cutAt < 20_000) {
        const t0 = systemClock.nowMs();
        const body = `file ${n} written while the gateway is cut from ${leader}`;
        expect(await put(`f${n}`, body), `put f${n}`).toBe(201);
        expect(await get(`f${n}`), `get f${n}`).toBe(`200 ${body}`);
        slowest.push(systemClock.nowMs() - t0);
        n++;
        await sleep(200);
      }
      c.isolate('gateway', [leader!], false);
      // Before followers forwarded, the first request stalled for the whole cut (21 s in 20).
      expect(n, `${n} put+get pairs in the 20 s cut, times ${slowest.map((ms) => Math.round(ms)).join(',')} ms`).toBeGreaterThanOrEqual(5);
      expect(Math.max(...slowest), `times ${slowest.map((ms) => Math.round(ms)).join(',')} ms`).toBeLessThan(10_000);
    } finally {
      await c.stop();
    }
  }, 120_000);
});

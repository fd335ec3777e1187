/**
 * `cairn dev` itself, as a real process tree: it starts a cluster under ./.cairn of its working
 * directory, writes cluster.json (fields as CONTRACT.md) once ready, serves `cairn put`/`get`
 * run in that directory with no other configuration, stops cleanly on SIGINT (every server
 * gone, cluster.json removed), and a restart on the same directory still has the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORPHAN_DRAIN_MS_DEFAULT } from '../../src/config/defaults.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import type { ClusterJson } from '../../src/server/dev-cluster.js';
import { assertBuilt, CLI_PATH, cliEnv, ok, patternBytes, runCli } from './cli-harness.js';

/**
 * How long a server whose `cairn dev` is gone may take to exit: its parent poll (1 s), then at
 * most the orphan drain bound; the rest is slack for a loaded machine.
 */
const ORPHAN_GONE_MS = 1000 + ORPHAN_DRAIN_MS_DEFAULT + 19_000;

/**
 * Running: the process exists, is not a zombie waiting to be reaped by its new parent, and is
 * still the one we started — its command line names `mark` (this test's directory). Every
 * thread takes a pid and pid_max is 32768 here; a full suite uses 20–60 a second, so a reuse
 * within one test is unlikely, and with this check impossible to mistake for a server.
 */
function alive(pid: number, mark: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(mark));
  } catch {
    return false;
  }
}

/** What a server still running looks like from outside: its state, its threads' waits, its log's last lines. */
function diagnose(pid: number, logPath: string): string {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      return `(${(e as Error).message})`;
    }
  };
  const state = /^State:.*$/m.exec(read(`/proc/${pid}/status`))?.[0] ?? '';
  let threads = '';
  try {
    threads = readdirSync(`/proc/${pid}/task`).map((t) => `${read(`/proc/${pid}/task/${t}/comm`).trim()}:${read(`/proc/${pid}/task/${t}/wchan`)}`).join(' ');
  } catch (e) {
    threads = `(${(e as Error).message})`;
  }
  const log = read(logPath).split('\n').slice(-15).join('\n');
  return `pid ${pid} ${state}\n  cmdline: ${read(`/proc/${pid}/cmdline`).split('\0').join(' ')}\n  threads: ${threads}\n  log ${logPath}:\n${log}`;
}

describe('cairn dev', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-dev-cli-'));
  const jsonPath = join(cwd, '.cairn', 'cluster.json');
  let portBase = 0;
  let dev: ChildProcess | null = null;
  let devOut = '';

  function startDev(): ChildProcess {
    devOut = '';
    const child = spawn(process.execPath, [CLI_PATH, 'dev', '--port-base', String(portBase), '--chunk-size', '65536', '--dead-after', '3'], {
      cwd,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (b: Buffer) => (devOut += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (devOut += b.toString()));
    return child;
  }

  async function waitClusterJson(child: ChildProcess): Promise<ClusterJson> {
    const deadline = systemClock.nowMs() + 60_000;
    while (systemClock.nowMs() < deadline) {
      if (existsSync(jsonPath)) return JSON.parse(readFileSync(jsonPath, 'utf8')) as ClusterJson;
      if (child.exitCode !== null) throw new Error(`cairn dev exited early (${child.exitCode}):\n${devOut}`);
      await sleep(100);
    }
    throw new Error(`no cluster.json within 60 s:\n${devOut}`);
  }

  function stopDev(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }

  beforeAll(async () => {
    assertBuilt();
    portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
  });

  afterAll(async () => {
    if (dev) await stopDev(dev, 'SIGKILL');
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('starts, writes cluster.json, serves put/get, stops on SIGINT, and a restart still has the file', async () => {
    dev = startDev();
    const j = await waitClusterJson(dev);
    // cluster.json as CONTRACT.md describes it.
    expect(Object.keys(j).sort()).toEqual(['chunks', 'gateway', 'meta', 'metaAddrs', 's3', 'token']);
    // The S3 endpoint, served by the gateway process, on a port in [P, P+999].
    expect(Object.keys(j.s3!).sort()).toEqual(['accessKeyId', 'argv', 'pid', 'region', 'secretAccessKey', 'url']);
    expect(j.s3!.region).toBe('us-east-1');
    expect(Number(new URL(j.s3!.url).port)).toBeGreaterThanOrEqual(portBase);
    expect(Number(new URL(j.s3!.url).port)).toBeLessThanOrEqual(portBase + 999);
    expect(j.meta).toHaveLength(3);
    expect(j.chunks).toHaveLength(4);
    expect(j.metaAddrs).toBe(j.meta.map((m) => m.addr).join(','));
    expect(typeof j.token).toBe('string');
    const pids: number[] = [];
    for (const s of [...j.meta, ...j.chunks]) {
      expect(Object.keys(s).sort()).toEqual(['addr', 'argv', 'dir', 'id', 'metrics', 'pid']);
      const port = Number(s.addr.split(':')[1]);
      expect(port).toBeGreaterThanOrEqual(portBase);
      expect(port).toBeLessThanOrEqual(portBase + 999);
      // Its metrics endpoint, also inside [P, P+999] (ops-status.test.ts scrapes them all).
      const metricsPort = Number(new URL(s.metrics).port);
      expect(s.metrics).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metricsPort).toBeGreaterThanOrEqual(portBase);
      expect(metricsPort).toBeLessThanOrEqual(portBase + 999);
      expect(s.argv[0]).toBe(process.execPath);
      for (const v of [s.id, s.addr, s.dir]) expect(s.argv).toContain(v);
      expect(statSync(s.dir).isDirectory()).toBe(true);
      expect(alive(s.pid!, cwd)).toBe(true);
      pids.push(s.pid!);
    }
    expect(devOut).toContain('ready');
    // The token stays out of the printout (and so out of terminal scrollback); its file is named.
    expect(devOut).not.toContain(j.token);
    expect(devOut).toContain(join(cwd, '.cairn', 'client.token'));
    // The HTTP gateway listens on 127.0.0.1:P and answers with the same token.
    expect(j.gateway!.url).toBe(`http://127.0.0.1:${portBase}`);
    expect(j.gateway!.metrics).toBe(`http://127.0.0.1:${portBase}/metrics`);
    expect(j.gateway!.argv[0]).toBe(process.execPath);
    expect(alive(j.gateway!.pid!, cwd)).toBe(true);
    pids.push(j.gateway!.pid!);
    expect((await fetch(`${j.gateway!.url}/v1/status`, { headers: { authorization: `Bearer ${j.token}` } })).status).toBe(200);

    // Commands run in the same directory find the cluster through ./.cairn/cluster.json.
    const data = patternBytes(3 * 65536 + 5, 42);
    ok(await runCli(['put', '-', '/dev/kept.bin'], { cwd, input: data }));
    expect(ok(await runCli(['get', '/dev/kept.bin', '-'], { cwd })).stdout.equals(data)).toBe(true);
    const st = JSON.parse(ok(await runCli(['status', '--json'], { cwd })).stdout.toString()) as { chunkServers: unknown[] };
    expect(st.chunkServers).toHaveLength(4);

    // SIGINT: a clean stop, every server gone, cluster.json removed.
    expect(await stopDev(dev, 'SIGINT')).toBe(0);
    expect(existsSync(jsonPath)).toBe(false);
    expect(pids.filter((p) => alive(p, cwd))).toEqual([]);

    // A restart on the same directory brings the file back.
    dev = startDev();
    const j2 = await waitClusterJson(dev);
    expect(j2.token).toBe(j.token);
    expect(ok(await runCli(['get', '/dev/kept.bin', '-'], { cwd })).stdout.equals(data)).toBe(true);
    expect(ok(await runCli(['ls', '/dev'], { cwd })).stdout.toString()).toBe('kept.bin\n');
    expect(await stopDev(dev, 'SIGTERM')).toBe(0);
    expect(existsSync(jsonPath)).toBe(false);
    // dev waits for each server's exit; one still starting when dev was stopped (and so never
    // stopped by it) notices dev is gone and stops within the orphan bound.
    const pids2 = [...j2.meta, ...j2.chunks, j2.gateway!].map((s) => s.pid!);
    const until2 = systemClock.nowMs() + ORPHAN_GONE_MS;
    while (pids2.some((p) => alive(p, cwd)) && systemClock.nowMs() < until2) await sleep(200);
    expect(pids2.filter((p) => alive(p, cwd))).toEqual([]);
  }, 150_000);

  it('servers stop by themselves when cairn dev is killed with SIGKILL (no orphans)', async () => {
    dev = startDev();
    const j = await waitClusterJson(dev);
    const servers = [...j.meta, ...j.chunks, { id: 'gateway', pid: j.gateway!.pid }];
    const running = (): typeof servers => servers.filter((s) => alive(s.pid!, cwd));
    expect(running()).toHaveLength(8);
    // A server that dies while the cluster runs gets one line on cairn dev's stderr.
    const victim = j.chunks[1]!;
    process.kill(victim.pid!, 'SIGKILL');
    const line = `cairn dev: ${victim.id} (pid ${victim.pid}) killed by SIGKILL; log: ${join(cwd, '.cairn', 'logs', `${victim.id}.log`)}\n`;
    const seenBy = systemClock.nowMs() + 10_000;
    while (!devOut.includes(line) && systemClock.nowMs() < seenBy) await sleep(50);
    expect(devOut).toContain(line);
    expect(devOut.split(line)).toHaveLength(2);
    await stopDev(dev, 'SIGKILL');
    // Each server notices within a second that its parent is gone and drains; a drain that waits
    // on calls to the other servers (gone at the same moment) is cut at ORPHAN_DRAIN_MS_DEFAULT.
    const deadline = systemClock.nowMs() + ORPHAN_GONE_MS;
    while (running().length > 0 && systemClock.nowMs() < deadline) await sleep(200);
    const left = running();
    if (left.length > 0) console.log(`cli-dev: still running after the drain bound:\n${left.map((s) => `${s.id}: ${diagnose(s.pid!, join(cwd, '.cairn', 'logs', `${s.id}.log`))}`).join('\n')}`);
    expect(left.map((s) => s.id)).toEqual([]);
  }, 90_000);
});

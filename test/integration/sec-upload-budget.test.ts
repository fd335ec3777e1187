/**
 * Security probe 6 (issue 17): 64 gateway PUTs claiming 1 TB, each sending 6 MiB and then
 * stalling, took the gateway from 91 to 484 MiB RSS. Replayed against a real `cairn gateway`
 * process (the built CLI) over a DevCluster, with a 64 MiB upload budget and a 3 s upload idle
 * timeout:
 *   - the gateway's RSS grows by less than RSS_GROWTH_BYTES_MAX (the budget, plus Node's
 *     per-connection stream buffers and the writers' chunk buffers rounding up), not 6 MiB × 64;
 *   - a new upload while the budget is full gets 503 + Retry-After with code "Unavailable";
 *   - every stalled upload is cut off within the idle timeout plus slack, and none is committed;
 *   - a normal upload then succeeds and reads back exactly.
 * The chunk servers the same way: 64 chunk PUTs that send part of their body and stall hold the
 * server's upload slots (a 65th gets 503) and are cut off by its socket idle timeout (`--idle-timeout-ms`, 8 s here),
 * storing nothing, with bounded RSS; then a chunk PUT works again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaSession } from '../../src/client/meta-session.js';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange, splitAddr } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { assertBuilt, cliEnv, CLI_PATH, patternBytes } from './cli-harness.js';

const MiB = 2 ** 20;
const BUDGET_BYTES = 64 * MiB;
const IDLE_MS = 3000;
const STALLERS = 64;
const SENT_BYTES = 6 * MiB;
/**
 * Four budgets: what the budget holds, plus the buffers of uploads already cut that the collector
 * has not freed yet (seen: +72…+213 MiB over full runs, depending on when it runs). Without the
 * budget the 64 stalled uploads hold 384 MiB at once (the probe saw +393 MiB): still far above.
 */
const RSS_GROWTH_BYTES_MAX = 4 * BUDGET_BYTES;
/**
 * The chunk server writes stalled bodies to temp files: only stream buffers stay in memory, plus
 * socket-read buffers the collector has not freed yet (measured +9…+74 MiB over full runs,
 * depending on when it runs). A server that held the bodies would grow by their 128 MiB (64 × 2 MiB).
 */
const CHUNK_RSS_GROWTH_BYTES_MAX = 96 * MiB;
/** The chunk servers' socket idle timeout (`--idle-timeout-ms`; 30 s by default), short so the test does not wait out the default. */
const CHUNK_IDLE_MS = 8_000;
/** The gateway's socket idle timeout, set far beyond the test so only the upload idle timeout cuts. */
const SOCKET_IDLE_MS = 300_000;
/**
 * All 64 cut within this: each is cut IDLE_MS after its last byte or after waiting IDLE_MS for
 * room in all, but the gateway reads the 384 MiB they sent only as room frees, on a loaded machine.
 */
const CUT_ALL_MS_MAX = 45_000;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

interface Staller {
  socket: Socket;
  /** When the server closed the connection (ms on systemClock); null while open. */
  closedAt: number | null;
  answer: string;
}

/** A raw HTTP request that sends its head and `body`, then nothing more. */
function stall(addr: string, head: string, body: Buffer): Staller {
  const { host, port } = splitAddr(addr);
  const socket = createConnection({ host, port });
  const s: Staller = { socket, closedAt: null, answer: '' };
  socket.on('error', () => {});
  socket.on('data', (b: Buffer) => (s.answer += b.toString('latin1')));
  socket.on('close', () => (s.closedAt = systemClock.nowMs()));
  socket.write(head);
  socket.write(body);
  return s;
}

describe('drip-fed uploads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sec-upload-'));
  let cluster: DevCluster;
  let gateway: ChildProcess;
  let gwAddr: string;
  let gwUrl: string;
  let auth: Record<string, string>;
  let s: MetaSession;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, heartbeatMs: 200, gateway: false, chunkIdleTimeoutMs: CHUNK_IDLE_MS });
    cluster.start();
    await cluster.waitReady(60_000);
    s = cluster.session({ callTimeoutMs: 2000, retryDeadlineMs: 15_000 });
    gwAddr = `127.0.0.1:${portBase + 995}`;
    gwUrl = `http://${gwAddr}`;
    auth = { authorization: `Bearer ${cluster.token}` };
    gateway = spawn(
      process.execPath,
      [CLI_PATH, 'gateway', '--listen', gwAddr, '--meta', cluster.metaAddrs.join(','), '--token-file', cluster.tokenFilePath, '--upload-buffer-bytes-max', String(BUDGET_BYTES), '--upload-idle-timeout-ms', String(IDLE_MS), '--per-client-inflight-max', '1000', '--idle-timeout-ms', String(SOCKET_IDLE_MS)],
      { env: cliEnv(), stdio: ['ignore', 'ignore', 'ignore'] },
    );
    for (let i = 0; ; i++) {
      const ok = await fetch(`${gwUrl}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 200) throw new Error('the gateway did not start');
      await sleep(100);
    }
  }, 120_000);

  afterAll(async () => {
    gateway?.kill('SIGTERM');
    s?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Waits (bounded) until the gateway's budget is full: its bytes at the maximum or an upload waiting for room. */
  async function untilBudgetFull(deadlineMs: number): Promise<void> {
    const figure = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    for (;;) {
      const text = await (await fetch(`${gwUrl}/metrics`, { headers: auth })).text();
      const held = figure(text, 'cairn_gateway_upload_buffer_bytes');
      const max = figure(text, 'cairn_gateway_upload_buffer_bytes_max');
      expect(max).toBe(BUDGET_BYTES);
      if (held >= max || figure(text, 'cairn_gateway_uploads_waiting_for_room') > 0) return;
      if (systemClock.nowMs() > deadlineMs) throw new Error(`the upload budget did not fill: ${held} of ${max} bytes held`);
      await sleep(50);
    }
  }

  it('a gateway holds at most its upload budget, refuses new uploads while full, cuts stalled ones, then serves', async () => {
    const pid = gateway.pid!;
    // Warm up (client connections, view) so the baseline is a serving gateway.
    const warm = patternBytes(3 * MiB, 1);
    expect((await fetch(`${gwUrl}/v1/files/warm`, { method: 'PUT', headers: auth, body: warm })).status).toBe(201);
    const rss0 = rssBytes(pid);
    const body = Buffer.alloc(SENT_BYTES, 7);
    const start = systemClock.nowMs();
    const stallers = Array.from({ length: STALLERS }, (_, i) =>
      stall(gwAddr, `PUT /v1/files/stall/f${i} HTTP/1.1\r\nHost: ${gwAddr}\r\nAuthorization: Bearer ${cluster.token}\r\nContent-Length: 1000000000000\r\n\r\n`, body),
    );
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
    try {
      // While they hold the budget (the gateway's metrics say so: a loaded machine takes a while
      // to accept and read 64 connections), a new upload is turned away at once.
      await untilBudgetFull(start + IDLE_MS * 4);
      const refused = await fetch(`${gwUrl}/v1/files/late`, { method: 'PUT', headers: auth, body: patternBytes(MiB, 2) });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'Unavailable', message: expect.stringContaining('upload buffers are full') as string });
      // Every stalled upload is cut off within the idle timeout and some slack.
      const deadline = start + CUT_ALL_MS_MAX;
      while (stallers.some((x) => x.closedAt === null) && systemClock.nowMs() < deadline) await sleep(100);
    } finally {
      clearInterval(sampler);
    }
    const open = stallers.filter((x) => x.closedAt === null).length;
    const lastCut = Math.max(...stallers.map((x) => x.closedAt ?? Infinity)) - start;
    console.log(`sec-upload-budget: gateway RSS ${(rss0 / MiB).toFixed(0)} MiB → peak ${(peak / MiB).toFixed(0)} MiB (+${((peak - rss0) / MiB).toFixed(0)}); all ${STALLERS} stalled uploads cut within ${lastCut.toFixed(0)} ms`);
    for (const x of stallers) x.socket.destroy();
    expect(open).toBe(0);
    // Cut by the gateway with an answer (503: cut off, or turned away), not left to a socket timeout.
    for (const x of stallers) expect(x.answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(peak - rss0).toBeLessThan(RSS_GROWTH_BYTES_MAX);
    // Nothing stalled was committed.
    for (let i = 0; i < STALLERS; i += 7) expect((await fetch(`${gwUrl}/v1/files/stall/f${i}`, { method: 'HEAD', headers: auth })).status).toBe(404);
    expect((await fetch(`${gwUrl}/v1/files/late`, { method: 'HEAD', headers: auth })).status).toBe(404);
    // The budget is free again: a normal upload succeeds and reads back exactly.
    const data = patternBytes(10 * MiB + 5, 3);
    const put = await fetch(`${gwUrl}/v1/files/after`, { method: 'PUT', headers: auth, body: data });
    expect(put.status).toBe(201);
    const got = Buffer.from(await (await fetch(`${gwUrl}/v1/files/after`, { headers: auth })).arrayBuffer());
    expect(got.equals(data)).toBe(true);
  }, 120_000);

  it('a chunk server gives stalled chunk PUTs no more than their upload slots and cuts them off', async () => {
    const target = cluster.chunks[0]!;
    const pid = target.proc.pid!;
    interface Alloc {
      chunks: Array<{ id: string; targets: Array<{ id: string; addr: string; token: string }> }>;
    }
    // Chunk ids with a write token for the first server (the grant's targets are placed by the leader).
    const grants: Array<{ id: string; token: string }> = [];
    while (grants.length < 65) {
      const alloc = (await s.call('fs.alloc', { count: 16 })) as Alloc;
      for (const c of alloc.chunks) {
        const t = c.targets.find((x) => x.id === target.id);
        if (t) grants.push({ id: c.id, token: t.token });
      }
    }
    const rss0 = rssBytes(pid);
    const start = systemClock.nowMs();
    const part = Buffer.alloc(2 * MiB, 9);
    const stallers = grants.slice(0, 64).map((g) =>
      stall(target.addr, `PUT /chunks/${g.id} HTTP/1.1\r\nHost: ${target.addr}\r\nx-cairn-token: ${g.token}\r\nContent-Length: ${8 * MiB}\r\n\r\n`, part),
    );
    await sleep(2000);
    const rssStalled = rssBytes(pid);
    // The 65th finds every upload slot taken.
    const extra = grants[64]!;
    const busy = await fetch(`http://${target.addr}/chunks/${extra.id}`, { method: 'PUT', headers: { 'x-cairn-token': extra.token }, body: part });
    expect(busy.status).toBe(503);
    // Cut CHUNK_IDLE_MS after each one's last byte arrived; 64 × 2 MiB reach a loaded server slowly.
    const deadline = start + CHUNK_IDLE_MS + 30_000;
    while (stallers.some((x) => x.closedAt === null) && systemClock.nowMs() < deadline) await sleep(250);
    const lastCut = Math.max(...stallers.map((x) => x.closedAt ?? Infinity)) - start;
    console.log(`sec-upload-budget: chunk server RSS ${(rss0 / MiB).toFixed(0)} MiB → ${(rssStalled / MiB).toFixed(0)} MiB with 64 stalled PUTs; cut within ${lastCut.toFixed(0)} ms`);
    for (const x of stallers) x.socket.destroy();
    expect(stallers.filter((x) => x.closedAt === null)).toHaveLength(0);
    expect(lastCut).toBeGreaterThanOrEqual(CHUNK_IDLE_MS - 1000);
    expect(rssStalled - rss0).toBeLessThan(CHUNK_RSS_GROWTH_BYTES_MAX);
    // Nothing stored, no temp file left behind.
    const root = join(target.dir, 'chunks');
    for (const g of grants.slice(0, 64)) expect(existsSync(join(root, g.id.slice(0, 2), g.id))).toBe(false);
    const tmp = join(target.dir, 'tmp');
    // A cut upload's temp file is removed once its abort has run, which may come just after the
    // socket closed (under a full suite's load, 14 were still there at that moment once): bounded wait.
    const leftovers = (): string[] => (existsSync(tmp) ? readdirSync(tmp) : []);
    for (const until = systemClock.nowMs() + 5000; leftovers().length > 0 && systemClock.nowMs() < until; ) await sleep(100);
    expect(leftovers()).toEqual([]);
    // Slots free again: a chunk PUT works.
    const ok = await fetch(`http://${target.addr}/chunks/${extra.id}`, { method: 'PUT', headers: { 'x-cairn-token': extra.token }, body: part });
    expect(ok.status).toBe(201);
  }, 90_000);
});

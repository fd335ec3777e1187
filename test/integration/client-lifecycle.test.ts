/**
 * The client library's lifecycle and the servers' logs, against a real cluster (3 metadata + 3
 * chunk server processes and the gateway, logging at debug):
 * - a job that never calls close() still exits once its work is done;
 * - close() fails a read and a write in flight with Closed (the write leaves no file), and
 *   every later call;
 * - list() of a file answers the file at its own path, in the library and GET /v1/ls/{file};
 * - a chunk upload cut off by its client is logged at info by the chunk server and its downstream;
 * - every log line has each key once, an ISO time and a level name; one PUT's request id shows
 *   up in the gateway's, the chunk servers' and a metadata server's log.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, isCairnError, resolveClientConfig, type CairnClient } from '../../src/index.js';
import { secureRandomBytes, sleep, systemClock, systemRng, systemTimers, wallClockMs } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { parseHostPort } from '../../src/proto/addr.js';
import { formatPipeline } from '../../src/proto/chunk-http.js';
import { ChunkToken } from '../../src/proto/chunk-token.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { packageRoot } from '../../src/server/local-process.js';
import { repeatedKeys } from '../support/json-lines.js';

const CHUNK = 64 * 1024;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('client library lifecycle and server logs (real processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-lifecycle-'));
  let cluster: DevCluster;
  let client: CairnClient;
  const newClient = (): CairnClient => createCairnClient(resolveClientConfig({ meta: cluster.metaAddrs.join(','), token: cluster.token, env: {} }), { callTimeoutMs: 3000, chunkIdleTimeoutMs: 5000 });

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 3, chunkSize: CHUNK, heartbeatMs: 200 });
    // The servers inherit our environment: debug lines carry the per-request ids.
    const level = process.env.CAIRN_LOG_LEVEL;
    process.env.CAIRN_LOG_LEVEL = 'debug';
    try {
      cluster.start();
    } finally {
      if (level === undefined) delete process.env.CAIRN_LOG_LEVEL;
      else process.env.CAIRN_LOG_LEVEL = level;
    }
    await cluster.waitReady(30_000);
    client = newClient();
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await cluster?.stop(5000);
    if (process.env.CAIRN_KEEP_TEST_DIR) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('a job that uses the library and never calls close() exits by itself', async () => {
    const script = join(dir, 'job.mjs');
    const lib = pathToFileURL(join(packageRoot(), 'dist', 'src', 'index.js')).href;
    writeFileSync(
      script,
      `import { createCairnClient, resolveClientConfig } from ${JSON.stringify(lib)};
const client = createCairnClient(resolveClientConfig({ meta: ${JSON.stringify(cluster.metaAddrs.join(','))}, token: ${JSON.stringify(cluster.token)}, env: {} }));
const data = Buffer.alloc(${3 * CHUNK + 7}, 7);
await client.put('/job/out.bin', data, { overwrite: true });
const parts = [];
for await (const c of client.createReadStream('/job/out.bin')) parts.push(c);
if (!Buffer.concat(parts).equals(data)) throw new Error('read back differs');
for await (const e of client.ls('/job')) console.log(e.path);
`,
    );
    const started = systemClock.nowMs();
    const result = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      // A client that keeps the process alive is caught here: the job would never exit.
      const timer = systemTimers.setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => {
        timer.cancel();
        resolve({ code, out, err });
      });
    });
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toBe('/job/out.bin\n');
    expect(systemClock.nowMs() - started).toBeLessThan(20_000);
  }, 30_000);

  /** `p`'s outcome, or 'pending' when it has not settled within `ms`. */
  async function within(p: Promise<unknown>, ms: number): Promise<unknown> {
    let timer: { cancel(): void } | null = null;
    const late = new Promise((resolve) => (timer = systemTimers.setTimeout(() => resolve('pending'), ms)));
    try {
      return await Promise.race([p.then(() => 'resolved', (e: unknown) => e), late]);
    } finally {
      (timer as { cancel(): void } | null)?.cancel();
    }
  }

  it('close() fails a read in flight with Closed, even one paused with nothing left to fetch', async () => {
    const data = Buffer.alloc(40 * CHUNK, 3);
    await client.put('/life/read.bin', data, { overwrite: true });
    const reader = newClient();
    const stream = reader.createReadStream('/life/read.bin');
    const failed = new Promise((_resolve, reject) => stream.once('error', reject));
    failed.catch(() => undefined);
    let got = 0;
    stream.on('data', (c: Buffer) => {
      got += c.length;
      stream.pause();
    });
    // Paused with its buffer full: the reader has no request in flight any more.
    const deadline = systemClock.nowMs() + 10_000;
    while (stream.readableLength < stream.readableHighWaterMark && systemClock.nowMs() < deadline) await sleep(20);
    expect(stream.readableLength).toBeGreaterThanOrEqual(stream.readableHighWaterMark);
    reader.close();
    const e = await within(failed, 5000);
    expect(isCairnError(e, 'Closed')).toBe(true);
    expect(got).toBeLessThan(data.length);
    // Every later call fails the same way, at once.
    expect(isCairnError(await rejection(reader.stat('/life/read.bin')), 'Closed')).toBe(true);
  }, 30_000);

  it('close() fails a write in flight with Closed, and it leaves no file', async () => {
    // A write stream holding half a chunk (nothing sent yet): close() must still end it.
    const idle = newClient();
    const ws = idle.createWriteStream('/life/idle.bin');
    ws.on('error', () => undefined);
    ws.write(Buffer.alloc(CHUNK / 2, 1));
    await sleep(100);
    idle.close();
    expect(isCairnError(await within(ws.done, 5000), 'Closed')).toBe(true);

    // A put streaming from an endless source.
    const writer = newClient();
    let sent = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        sent += CHUNK;
        if (sent === 5 * CHUNK) writer.close();
        yield Buffer.alloc(CHUNK, 9);
        await sleep(1);
      }
    }
    expect(isCairnError(await within(writer.put('/life/write.bin', endless()), 10_000), 'Closed')).toBe(true);
    for (const path of ['/life/idle.bin', '/life/write.bin']) expect(isCairnError(await rejection(client.stat(path)), 'NotFound')).toBe(true);

  }, 30_000);

  it('a chunk upload its client abandons mid-body (a Ctrl-C of a put) is logged at info, here and downstream', async () => {
    const secret = readFileSync(join(dir, 'cluster.secret'), 'utf8').trim();
    const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
    const id = secureRandomBytes(16).toString('hex');
    const [first, second] = [cluster.member('c1'), cluster.member('c2')];
    const rid = `test-abort-${systemRng.int(1e9)}`;
    const { host, port } = parseHostPort(first.addr);
    const req = request({
      host,
      port,
      method: 'PUT',
      path: `/chunks/${id}`,
      headers: {
        // Unknown length: streamed through to the downstream server as it arrives.
        'transfer-encoding': 'chunked',
        'x-cairn-token': tokens.signFor('write', id, 60_000),
        'x-cairn-pipeline': formatPipeline([{ addr: second.addr, token: tokens.signFor('write', id, 60_000) }]),
        'x-request-id': rid,
      },
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(CHUNK, 1));
    await sleep(300);
    req.destroy(); // half the body sent: the client is gone

    const linesOf = (m: { id: string }): Array<{ level: string; msg: string; rid?: string; err?: string; component?: string }> =>
      readFileSync(join(dir, 'logs', `${m.id}.log`), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: string; msg: string });
    const gone = (l: { msg: string; err?: string; rid?: string }): boolean => l.rid === rid && /client went away/.test(`${l.msg} ${l.err ?? ''}`);
    const until = systemClock.nowMs() + 10_000;
    while (!(linesOf(first).some(gone) && linesOf(second).some(gone)) && systemClock.nowMs() < until) await sleep(100);
    for (const m of [first, second]) {
      const lines = linesOf(m);
      expect(lines.filter(gone).length, m.id).toBeGreaterThan(0);
      expect(lines.filter((l) => (l.rid === rid || l.component === 'chunk-http') && l.level !== 'info' && l.level !== 'debug'), m.id).toEqual([]);
    }
  }, 30_000);

  it('list() of a file answers the file at its own path (library and GET /v1/ls/{file})', async () => {
    await client.put('/h/a.txt', Buffer.from('hello'), { overwrite: true });
    const page = await client.list('/h/a.txt');
    expect(page.entries.map((e) => [e.name, e.path, e.type, e.size])).toEqual([['a.txt', '/h/a.txt', 'file', 5]]);
    const res = await fetch(`${cluster.gatewayUrl}/v1/ls/h/a.txt`, { headers: { authorization: `Bearer ${cluster.token}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { entries: Array<{ name: string; path: string }> };
    expect(body.entries.map((e) => [e.name, e.path])).toEqual([['a.txt', '/h/a.txt']]);
  }, 30_000);

  it('logs: each key once, ISO times, level names; one PUT’s request id in the gateway, chunk server and metadata server logs', async () => {
    const rid = `test-put-${systemRng.int(1e9)}`;
    const res = await fetch(`${cluster.gatewayUrl}/v1/files/logs/traced.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${cluster.token}`, 'x-request-id': rid },
      body: Buffer.alloc(2 * CHUNK + 1, 5),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe(rid);
    // A malformed id is replaced by one of the gateway's own.
    const other = await fetch(`${cluster.gatewayUrl}/v1/status`, { headers: { authorization: `Bearer ${cluster.token}`, 'x-request-id': 'bad id with spaces' } });
    await other.arrayBuffer();
    expect(other.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);

    const logDir = join(dir, 'logs');
    const read = (id: string): string[] => readFileSync(join(logDir, `${id}.log`), 'utf8').split('\n').filter((l) => l !== '');
    const withRid = (id: string): Array<Record<string, unknown>> => read(id).map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.rid === rid);
    // Lines are written asynchronously: wait until every process has logged the request.
    const deadline = systemClock.nowMs() + 10_000;
    const seen = (): { gateway: boolean; chunks: string[]; meta: string[] } => ({
      gateway: withRid('gateway').some((o) => o.msg === 'http' && o.status === 201),
      chunks: cluster.chunks.map((c) => c.id).filter((id) => withRid(id).some((o) => o.msg === 'chunk request' && o.method === 'PUT')),
      meta: cluster.meta.map((m) => m.id).filter((id) => withRid(id).some((o) => o.msg === 'rpc' && o.method === 'fs.commit')),
    });
    let s = seen();
    while ((!s.gateway || s.chunks.length < 3 || s.meta.length < 1) && systemClock.nowMs() < deadline) {
      await sleep(200);
      s = seen();
    }
    expect(s.gateway).toBe(true);
    expect(s.chunks).toHaveLength(3); // replication 3: every chunk server stored a chunk of it
    expect(s.meta.length).toBeGreaterThanOrEqual(1);

    const files = readdirSync(logDir).filter((f) => f.endsWith('.log'));
    expect(files.sort()).toEqual([...cluster.meta, ...cluster.chunks].map((m) => `${m.id}.log`).concat('gateway.log').sort());
    let lines = 0;
    for (const f of files) {
      for (const line of read(f.slice(0, -'.log'.length))) {
        lines++;
        expect(repeatedKeys(line), `${f}: ${line}`).toEqual([]);
        const o = JSON.parse(line) as { level: unknown; time: unknown };
        expect(['debug', 'info', 'warn', 'error', 'fatal', 'trace'], `${f}: ${line}`).toContain(o.level);
        expect(o.time, `${f}: ${line}`).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
    }
    expect(lines).toBeGreaterThan(20);
    expect(existsSync(join(logDir, 'm1.log'))).toBe(true);
  }, 40_000);
});

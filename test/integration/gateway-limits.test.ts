/**
 * The gateway's limits, timeouts and access log over real HTTP, against a real DevCluster
 * (3 metadata, 4 chunk servers; no gateway process): each case starts an in-process gateway
 * (startGateway, the same composition root `cairn gateway` runs) with one tight limit.
 */
import { request, type IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/server/gateway.js';
import { silentLogger, type Logger } from '../../src/util/logger.js';
import { patternBytes } from './cli-harness.js';

const CHUNK = 64 * 1024;

interface Raw {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One request with node:http; `body` is written whole, then the request ends. */
function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer }): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Records every log line (message + fields) the gateway writes. */
function recordingLogger(lines: Array<{ msg: string; fields: Record<string, unknown> }>): Logger {
  const rec = (msg: string, fields?: Record<string, unknown>): void => void lines.push({ msg, fields: fields ?? {} });
  const l: Logger = { debug: rec, info: rec, warn: rec, error: rec, child: () => l };
  return l;
}

describe('HTTP gateway limits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-gateway-limits-'));
  let cluster: DevCluster;
  let auth: Record<string, string> = {};
  const running: RunningGateway[] = [];

  const gateway = async (o: Partial<GatewayOptions>, logger: Logger = silentLogger): Promise<RunningGateway> => {
    const gw = await startGateway({ listen: '127.0.0.1:0', metaAddrs: cluster.metaAddrs, token: cluster.token, ...o }, logger);
    running.push(gw);
    return gw;
  };
  const exists = async (gw: RunningGateway, path: string): Promise<number> => (await fetch(`${gw.url}/v1/files/${path}`, { method: 'HEAD', headers: auth })).status;

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, gateway: false });
    cluster.start();
    await cluster.waitReady(60_000);
    auth = { authorization: `Bearer ${cluster.token}` };
  }, 90_000);

  afterAll(async () => {
    for (const gw of running) await gw.close().catch(() => undefined);
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('global in-flight limit: 503 + Retry-After for anyone while full (counted in /metrics); /healthz still answers', async () => {
    const gw = await gateway({ limits: { inflightMax: 1 } });
    const slow = request(`${gw.url}/v1/files/lim/slow`, { method: 'PUT', headers: { ...auth, 'content-length': '8' } });
    const slowStatus = new Promise<number>((resolve, reject) => {
      slow.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      slow.on('error', reject);
    });
    slow.write('1234');
    await sleep(200);
    const r = await fetch(`${gw.url}/v1/ls/`, { headers: auth });
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(await r.json()).toEqual({ error: { code: 'Unavailable', message: expect.stringContaining('request limit') } });
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    slow.end('5678');
    expect(await slowStatus).toBe(201);
    const m = await (await fetch(`${gw.url}/metrics`, { headers: auth })).text();
    expect(m).toMatch(/cairn_gateway_overload_rejections_total\{limit="global"\} 1\n/);
  });

  it('upload size limit: 413 TooLarge for a declared Content-Length over it and for a chunked body that grows past it; no file', async () => {
    const gw = await gateway({ limits: { uploadBytesMax: 2 * CHUNK } });
    const big = patternBytes(2 * CHUNK + 1, 1);
    const declared = await raw(`${gw.url}/v1/files/lim/declared`, { method: 'PUT', headers: { ...auth, 'content-length': String(big.length) }, body: big });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('TooLarge');
    // No Content-Length: the limit trips mid-stream (the body is small enough to be sent whole
    // before the answer, so the client reads the 413 rather than a reset).
    const chunked = await raw(`${gw.url}/v1/files/lim/chunked`, { method: 'PUT', headers: { ...auth, 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('TooLarge');
    const ok = await raw(`${gw.url}/v1/files/lim/fits`, { method: 'PUT', headers: { ...auth, 'transfer-encoding': 'chunked' }, body: big.subarray(0, 2 * CHUNK) });
    expect(ok.status).toBe(201);
    expect(await exists(gw, 'lim/declared')).toBe(404);
    expect(await exists(gw, 'lim/chunked')).toBe(404);
    expect(await exists(gw, 'lim/fits')).toBe(200);
  });

  it('request headers over 16 KiB → 431; the gateway keeps serving', async () => {
    const gw = await gateway({});
    const r = await raw(`${gw.url}/v1/status`, { headers: { ...auth, 'x-pad': 'p'.repeat(20 * 1024) } });
    expect(r.status).toBe(431);
    expect((await fetch(`${gw.url}/v1/status`, { headers: auth })).status).toBe(200);
  });

  it('an upload that stalls mid-body is cut after the idle timeout and leaves no file', async () => {
    const gw = await gateway({ idleTimeoutMs: 1000 });
    const t0 = performance.now();
    const outcome = await new Promise<string>((resolve) => {
      const req = request(`${gw.url}/v1/files/lim/stalled`, { method: 'PUT', headers: { ...auth, 'content-length': String(4 * CHUNK) } });
      req.on('response', (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on('error', (e) => resolve(`error ${e.message}`));
      req.on('close', () => resolve('closed'));
      req.write(patternBytes(CHUNK + 10, 2)); // then nothing: the client stalls
    });
    const waited = performance.now() - t0;
    expect(outcome).not.toMatch(/status 2/);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(10_000);
    await sleep(300);
    expect(await exists(gw, 'lim/stalled')).toBe(404);
  });

  it('multipart limits: too many fields, an over-long filename and an oversized part header fail the whole request, storing nothing', async () => {
    const gw = await gateway({ limits: { multipartFieldsMax: 2, filenameBytesMax: 20 } });
    const boundary = 'cairnlimits';
    const part = (headers: string[], data: string): string => `--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n${data}\r\n`;
    const file = (name: string, data: string): string => part([`Content-Disposition: form-data; name="f"; filename="${name}"`], data);
    const field = (i: number): string => part([`Content-Disposition: form-data; name="x${i}"`], 'v');
    const post = (parts: string[]): Promise<Raw> =>
      raw(`${gw.url}/v1/files/mpl`, { method: 'POST', headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.from(`${parts.join('')}--${boundary}--\r\n`) });

    const fields = await post([file('a', 'A'), field(1), field(2), field(3)]);
    expect(fields.status).toBe(413);
    expect(JSON.parse(fields.body).error.code).toBe('TooLarge');
    const longName = await post([file('a', 'A'), file('n'.repeat(21), 'B')]);
    expect(longName.status).toBe(400);
    expect(JSON.parse(longName.body).error.code).toBe('InvalidPath');
    // A part's header block over 16 KiB (busboy's bound) fails the request.
    const headers = await post([file('a', 'A'), part(['Content-Disposition: form-data; name="g"; filename="b"', `X-Pad: ${'p'.repeat(17 * 1024)}`], 'B')]);
    expect(headers.status).toBe(400);
    expect(JSON.parse(headers.body).error.code).toBe('InvalidArgument');
    expect(await exists(gw, 'mpl/a')).toBe(404);
    expect(await exists(gw, 'mpl/b')).toBe(404);
    const ok = await post([file('a', 'A'), field(1), file('n'.repeat(20), 'B')]);
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body).files.map((f: { path: string }) => f.path)).toEqual(['/mpl/a', `/mpl/${'n'.repeat(20)}`]);
  });

  it('access log: one structured line per request with method, route, status, bytes and latency', async () => {
    const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
    const gw = await gateway({}, recordingLogger(lines));
    const body = Buffer.from('logged');
    expect((await raw(`${gw.url}/v1/files/lim/logged`, { method: 'PUT', headers: auth, body })).status).toBe(201);
    expect((await raw(`${gw.url}/v1/files/lim/logged`, { headers: auth })).status).toBe(200);
    expect((await raw(`${gw.url}/v1/files/lim/nothing`, { headers: auth })).status).toBe(404);
    expect((await raw(`${gw.url}/v1/status`, {})).status).toBe(401);
    await sleep(100);
    const access = lines.filter((l) => l.msg === 'http').map((l) => l.fields);
    expect(access).toHaveLength(4);
    expect(access.map((a) => [a.method, a.route, a.status])).toEqual([
      ['PUT', 'files.put', 201],
      ['GET', 'files.get', 200],
      ['GET', 'files.get', 404],
      ['GET', 'unmatched', 401],
    ]);
    for (const a of access) {
      expect(a.ms).toEqual(expect.any(Number));
      expect(a.remote).toBe('127.0.0.1');
    }
    expect(access[0]!.bytesIn as number).toBeGreaterThan(body.length);
    expect(access[1]!.bytesOut as number).toBeGreaterThan(body.length);
  });
});

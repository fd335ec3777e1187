/**
 * The HTTP API of CONTRACT.md over real HTTP, against a real DevCluster (3 metadata, 4 chunk
 * servers and the `cairn gateway` process): every route and error code, Range edge cases,
 * conditional requests, multipart, paging, aborted uploads, auth, and overload (a second,
 * in-process gateway with tight limits on the same cluster).
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { startGateway, type RunningGateway } from '../../src/server/gateway.js';
import { silentLogger } from '../../src/util/logger.js';
import { assertBuilt, patternBytes } from './cli-harness.js';

const CHUNK = 64 * 1024;

describe('HTTP gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-gateway-'));
  let cluster: DevCluster;
  let base = '';
  let auth: Record<string, string> = {};

  const url = (p: string): string => `${base}${p}`;
  const call = (p: string, init: RequestInit = {}): Promise<Response> => fetch(url(p), { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
  const json = async (r: Response): Promise<Record<string, unknown>> => (await r.json()) as Record<string, unknown>;
  const errCode = async (r: Response): Promise<string> => ((await json(r)).error as { code: string }).code;
  const bytes = async (r: Response): Promise<Buffer> => Buffer.from(await r.arrayBuffer());
  const put = (p: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> => call(p, { method: 'PUT', body, headers });

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK });
    cluster.start();
    await cluster.waitReady(60_000);
    base = cluster.gatewayUrl!;
    auth = { authorization: `Bearer ${cluster.token}` };
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('cluster.json names the gateway on 127.0.0.1:P with its argv', () => {
    const j = cluster.clusterJson();
    expect(j.gateway?.url).toBe(base);
    expect(base).toBe(`http://127.0.0.1:${Number(new URL(base).port)}`);
    expect(j.gateway?.argv).toContain('gateway');
    expect(typeof j.gateway?.pid).toBe('number');
  });

  it('auth: /healthz is open; everything else needs the bearer token (401 JSON otherwise)', async () => {
    expect((await fetch(url('/healthz'))).status).toBe(200);
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-token-123456' }, { authorization: `Basic ${cluster.token}` }];
    for (const headers of attempts) {
      for (const p of ['/v1/status', '/v1/files/x', '/v1/ls/', '/metrics']) {
        const r = await fetch(url(p), { headers });
        expect(r.status, `${p} ${JSON.stringify(headers)}`).toBe(401);
        expect(await errCode(r)).toBe('Unauthorized');
      }
    }
    const r = await fetch(url('/v1/files/x'), { method: 'PUT', body: 'data' });
    expect(r.status).toBe(401);
    expect((await call('/v1/files/x')).status).toBe(404);
  });

  it('PUT then GET is byte-exact for 0, 1, chunk-1, chunk, chunk+1 and many-chunk bodies; HEAD gives the same headers', async () => {
    for (const [i, size] of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 77].entries()) {
      const data = patternBytes(size, i + 1);
      const r = await put(`/v1/files/sizes/f${size}`, data);
      expect(r.status).toBe(201);
      const body = await json(r);
      expect(body).toEqual({ path: `/sizes/f${size}`, size, etag: expect.any(String) });
      expect(r.headers.get('etag')).toBe(`"${body.etag as string}"`);
      const g = await call(`/v1/files/sizes/f${size}`);
      expect(g.status).toBe(200);
      expect(g.headers.get('content-length')).toBe(String(size));
      expect(g.headers.get('etag')).toBe(`"${body.etag as string}"`);
      expect(g.headers.get('accept-ranges')).toBe('bytes');
      expect((await bytes(g)).equals(data)).toBe(true);
      const h = await call(`/v1/files/sizes/f${size}`, { method: 'HEAD' });
      expect(h.status).toBe(200);
      expect(h.headers.get('content-length')).toBe(String(size));
      expect(h.headers.get('etag')).toBe(g.headers.get('etag'));
      expect((await bytes(h)).length).toBe(0);
    }
  });

  it('PUT replaces atomically; If-None-Match: * refuses an existing file (412) and creates a new one', async () => {
    expect((await put('/v1/files/rep/a', Buffer.from('one'))).status).toBe(201);
    expect((await put('/v1/files/rep/a', Buffer.from('two'))).status).toBe(201);
    expect((await bytes(await call('/v1/files/rep/a'))).toString()).toBe('two');
    const r = await put('/v1/files/rep/a', Buffer.from('three'), { 'if-none-match': '*' });
    expect(r.status).toBe(412);
    expect(await errCode(r)).toBe('PreconditionFailed');
    expect((await bytes(await call('/v1/files/rep/a'))).toString()).toBe('two');
    expect((await put('/v1/files/rep/b', Buffer.from('new'), { 'if-none-match': '*' })).status).toBe(201);
    expect((await put('/v1/files/rep/c', Buffer.from('x'), { 'if-match': '"abc"' })).status).toBe(400);
  });

  it('Range: a-b, a-, -n, 0-0, the last byte, suffix longer than the file, 416 past the end, several ranges → 200', async () => {
    const data = patternBytes(3 * CHUNK + 10, 9);
    const size = data.length;
    await put('/v1/files/range/f', data);
    const get = (range: string): Promise<Response> => call('/v1/files/range/f', { headers: { range } });
    const cases: Array<[string, number, number]> = [
      ['bytes=10-19', 10, 20],
      ['bytes=0-0', 0, 1],
      [`bytes=${size - 1}-${size - 1}`, size - 1, size],
      [`bytes=${CHUNK - 5}-${2 * CHUNK + 5}`, CHUNK - 5, 2 * CHUNK + 6],
      [`bytes=${CHUNK}-`, CHUNK, size],
      ['bytes=-100', size - 100, size],
      [`bytes=-${size + 1000}`, 0, size],
      [`bytes=5-${size + 1000}`, 5, size],
    ];
    for (const [range, start, end] of cases) {
      const r = await get(range);
      expect(r.status, range).toBe(206);
      expect(r.headers.get('content-range'), range).toBe(`bytes ${start}-${end - 1}/${size}`);
      expect(r.headers.get('content-length'), range).toBe(String(end - start));
      expect((await bytes(r)).equals(data.subarray(start, end)), range).toBe(true);
    }
    for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`, 'bytes=-0']) {
      const r = await get(range);
      expect(r.status, range).toBe(416);
      expect(r.headers.get('content-range')).toBe(`bytes */${size}`);
      expect(await errCode(r)).toBe('RangeNotSatisfiable');
    }
    for (const range of ['bytes=0-1,5-6', 'bytes=abc', 'items=0-1', 'bytes=9-3']) {
      const r = await get(range);
      expect(r.status, range).toBe(200);
      expect((await bytes(r)).length).toBe(size);
    }
    await put('/v1/files/range/empty', Buffer.alloc(0));
    expect((await call('/v1/files/range/empty', { headers: { range: 'bytes=0-' } })).status).toBe(416);
    const h = await call('/v1/files/range/f', { method: 'HEAD', headers: { range: 'bytes=1-2' } });
    expect(h.status).toBe(206);
    expect(h.headers.get('content-length')).toBe('2');
  });

  it('conditional GET: If-None-Match → 304, If-Match mismatch → 412, match → 200', async () => {
    const r = await put('/v1/files/cond/f', Buffer.from('hello'));
    const etag = `"${(await json(r)).etag as string}"`;
    expect((await call('/v1/files/cond/f', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await call('/v1/files/cond/f', { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
    expect((await call('/v1/files/cond/f', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    const bad = await call('/v1/files/cond/f', { headers: { 'if-match': '"other"' } });
    expect(bad.status).toBe(412);
    expect(await errCode(bad)).toBe('PreconditionFailed');
    expect((await call('/v1/files/cond/f', { headers: { 'if-match': etag } })).status).toBe(200);
    expect((await call('/v1/files/cond/f', { headers: { 'if-match': '*' } })).status).toBe(200);
  });

  it('errors: bad paths 400, missing 404, a directory 409, unknown method 405, unknown route 404 — all JSON', async () => {
    for (const p of ['/v1/files/a/%ZZ', '/v1/files/a/%01b', '/v1/files/a//b', '/v1/files/a/b/', '/v1/ls/a%2F..']) {
      const r = await call(p);
      expect(r.status, p).toBe(400);
      expect(await errCode(r)).toBe('InvalidPath');
    }
    // A literal ".." segment, sent as is (fetch would normalise it away).
    const raw = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(base);
      const req = request({ host: u.hostname, port: u.port, path: '/v1/files/a/../b', headers: auth }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(raw.status).toBe(400);
    expect(JSON.parse(raw.body).error.code).toBe('InvalidPath');
    const nf = await call('/v1/files/no/such/file');
    expect(nf.status).toBe(404);
    expect(await errCode(nf)).toBe('NotFound');
    await put('/v1/files/d/inner', Buffer.from('x'));
    const isDir = await call('/v1/files/d');
    expect(isDir.status).toBe(409);
    expect(await errCode(isDir)).toBe('IsADirectory');
    const notDir = await put('/v1/files/d/inner/x', Buffer.from('x'));
    expect(notDir.status).toBe(409);
    expect(await errCode(notDir)).toBe('NotADirectory');
    const m = await call('/v1/files/d/inner', { method: 'PATCH' });
    expect(m.status).toBe(405);
    expect(m.headers.get('allow')).toContain('PUT');
    expect(await errCode(m)).toBe('MethodNotAllowed');
    expect((await call('/v2/nothing')).status).toBe(404);
  });

  it('DELETE: a file → 204; a non-empty directory needs ?recursive=true (409 NotEmpty); missing → 404', async () => {
    await put('/v1/files/del/a/f', Buffer.from('x'));
    await put('/v1/files/del/g', Buffer.from('y'));
    expect((await call('/v1/files/del/g', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/v1/files/del/g')).status).toBe(404);
    const ne = await call('/v1/files/del', { method: 'DELETE' });
    expect(ne.status).toBe(409);
    expect(await errCode(ne)).toBe('NotEmpty');
    expect((await call('/v1/files/del?recursive=true', { method: 'DELETE' })).status).toBe(204);
    expect((await call('/v1/files/del/a/f')).status).toBe(404);
    expect((await call('/v1/files/del', { method: 'DELETE' })).status).toBe(404);
  });

  it('GET /v1/ls pages in name order with limit and cursor; POST /v1/mv renames atomically', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    for (const n of [...names].reverse()) await put(`/v1/files/ls/${n}`, Buffer.from(n));
    await put('/v1/files/ls/sub/x', Buffer.from('x'));
    const seen: unknown[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const r = await call(`/v1/ls/ls?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.status).toBe(200);
      const page = (await r.json()) as { entries: Array<Record<string, unknown>>; cursor: string | null };
      expect(page.entries.length).toBeLessThanOrEqual(3);
      seen.push(...page.entries);
      cursor = page.cursor;
      if (cursor === null) break;
    }
    expect(seen.map((e) => (e as { name: string }).name)).toEqual([...names, 'sub']);
    expect(seen[0]).toEqual({ name: 'n00', path: '/ls/n00', type: 'file', size: 3, mtime: expect.any(Number) });
    expect(seen[7]).toMatchObject({ name: 'sub', path: '/ls/sub', type: 'dir' });
    expect((await call('/v1/ls/ls?limit=0')).status).toBe(400);
    expect((await call('/v1/ls/ls?limit=abc')).status).toBe(400);
    expect((await call('/v1/ls/nothing-here')).status).toBe(404);
    const root = (await json(await call('/v1/ls/'))) as { entries: Array<{ name: string }> };
    expect(root.entries.map((e) => e.name)).toContain('ls');

    const mv = await call('/v1/mv', { method: 'POST', body: JSON.stringify({ from: '/ls', to: '/moved' }), headers: { 'content-type': 'application/json' } });
    expect(mv.status).toBe(200);
    expect((await bytes(await call('/v1/files/moved/sub/x'))).toString()).toBe('x');
    expect((await call('/v1/ls/ls')).status).toBe(404);
    const into = await call('/v1/mv', { method: 'POST', body: JSON.stringify({ from: '/moved', to: '/moved/sub/deeper' }) });
    expect(into.status).toBe(400);
    for (const body of ['not json', '{"from":"/a"}', '{"from":"a","to":"/b"}']) {
      const r = await call('/v1/mv', { method: 'POST', body });
      expect(r.status, body).toBe(400);
    }
  });

  it('GET /v1/status is the object of `cairn status --json`; /metrics is Prometheus text', async () => {
    const st = await json(await call('/v1/status'));
    // CONTRACT's keys (the same object as `cairn status --json`), then the leader's detail.
    expect(Object.keys(st).sort()).toEqual(['chunkServerDetail', 'chunkServers', 'chunks', 'health', 'leader', 'meta', 'metaDetail', 'raft', 'repair', 'totals']);
    expect(st.chunkServers).toHaveLength(4);
    const m = await call('/metrics');
    expect(m.headers.get('content-type')).toContain('text/plain');
    const text = await m.text();
    for (const name of ['cairn_gateway_requests_total{', 'cairn_gateway_request_duration_seconds_bucket{', 'cairn_gateway_bytes_in_total', 'cairn_gateway_bytes_out_total', 'cairn_gateway_requests_in_flight']) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/cairn_gateway_requests_total\{route="files.put",method="PUT",status="201"\} \d+/);
    // The cluster's repair progress, from the metadata leader. Its repair scan runs every second
    // and can land between a commit and the replicas' reports of it, so a chunk written just now
    // may count as under-replicated for a scan; wait (bounded) for the settled figures.
    // Counters as counters, gauges as gauges.
    expect(text).toMatch(/^# TYPE cairn_repair_copies_confirmed_total counter\ncairn_repair_copies_confirmed_total \d+$/m);
    expect(text).toMatch(/^# TYPE cairn_repair_copy_bytes_total counter$/m);
    expect(text).toMatch(/^# TYPE cairn_repair_copies_queued gauge$/m);
    let settled = text;
    for (let i = 0; i < 20 && !/^cairn_repair_chunks_under_replicated 0$/m.test(settled); i++) {
      await sleep(500);
      settled = await (await call('/metrics')).text();
    }
    expect(settled).toMatch(/^# TYPE cairn_repair_chunks_under_replicated gauge\ncairn_repair_chunks_under_replicated 0$/m);
    expect(settled).toMatch(/^cairn_repair_chunks_lost 0$/m);
  });

  const form = (parts: Array<{ name: string; filename?: string; data: string | Buffer }>): { body: Buffer; type: string } => {
    const boundary = `----cairn${Math.random().toString(16).slice(2)}`;
    const chunks: Buffer[] = [];
    for (const p of parts) {
      const disp = `form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.filename === undefined ? '' : 'Content-Type: application/octet-stream\r\n'}\r\n`));
      chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data));
      chunks.push(Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
  };
  const postForm = (dir: string, f: { body: Buffer; type: string }): Promise<Response> => call(`/v1/files/${dir}`, { method: 'POST', body: f.body, headers: { 'content-type': f.type } });

  it('multipart: each file part stored as {dir}/{filename}; a bad part stores nothing', async () => {
    const big = patternBytes(2 * CHUNK + 3, 5);
    const ok = await postForm('mp', form([
      { name: 'a', filename: 'one.bin', data: big },
      { name: 'note', data: 'a plain field is ignored' },
      { name: 'b', filename: 'two.txt', data: 'second' },
    ]));
    expect(ok.status).toBe(201);
    const files = ((await json(ok)).files as Array<{ path: string; size: number; etag: string }>).map((f) => [f.path, f.size]);
    expect(files).toEqual([['/mp/one.bin', big.length], ['/mp/two.txt', 6]]);
    expect((await bytes(await call('/v1/files/mp/one.bin'))).equals(big)).toBe(true);
    expect((await bytes(await call('/v1/files/mp/two.txt'))).toString()).toBe('second');

    // A bad filename anywhere in the request: 400 and not even the good parts are visible.
    for (const bad of ['../evil', 'a/b', '..', '', 'x\u0001y']) {
      const r = await postForm('mp2', form([{ name: 'a', filename: 'good.bin', data: big }, { name: 'b', filename: bad, data: 'x' }]));
      expect(r.status, JSON.stringify(bad)).toBe(400);
      // A control character already breaks the part's header: busboy refuses the body itself.
      expect(await errCode(r), JSON.stringify(bad)).toBe(bad.includes('\u0001') ? 'InvalidArgument' : 'InvalidPath');
    }
    const dup = await postForm('mp2', form([{ name: 'a', filename: 'same', data: '1' }, { name: 'b', filename: 'same', data: '2' }]));
    expect(dup.status).toBe(400);
    const none = await postForm('mp2', form([{ name: 'note', data: 'no files' }]));
    expect(none.status).toBe(400);
    const tooMany = await postForm('mp2', form(Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, filename: `f${i}`, data: 'x' }))));
    expect(tooMany.status).toBe(413);
    expect(await errCode(tooMany)).toBe('TooLarge');
    expect((await call('/v1/ls/mp2')).status).toBe(404);
    const notForm = await call('/v1/files/mp2', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(notForm.status).toBe(400);
  });

  it('an upload cut off mid-body leaves no file, and the gateway keeps serving', async () => {
    const total = 4 * CHUNK;
    await new Promise<void>((resolve) => {
      const req = request(url('/v1/files/cut/f'), { method: 'PUT', headers: { ...auth, 'content-length': String(total) } });
      req.on('error', () => resolve());
      req.on('response', () => resolve());
      req.write(patternBytes(2 * CHUNK + 100, 3), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => resolve());
    });
    // The same for a multipart upload whose second part never ends.
    const f = form([{ name: 'a', filename: 'whole', data: 'complete' }, { name: 'b', filename: 'partial', data: patternBytes(CHUNK * 2, 4) }]);
    await new Promise<void>((resolve) => {
      const req = request(url('/v1/files/cut'), { method: 'POST', headers: { ...auth, 'content-type': f.type, 'content-length': String(f.body.length) } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(f.body.subarray(0, f.body.length - 1000), () => setTimeout(() => req.destroy(), 200));
    });
    await sleep(500);
    expect((await call('/v1/files/cut/f')).status).toBe(404);
    expect((await call('/v1/ls/cut')).status).toBe(404);
    expect((await put('/v1/files/cut/after', Buffer.from('ok'))).status).toBe(201);
  });

  it('overload: a client over its concurrency limit gets 503 with Retry-After, then is served again', async () => {
    let gw: RunningGateway | null = null;
    try {
      gw = await startGateway({ listen: '127.0.0.1:0', metaAddrs: cluster.metaAddrs, token: cluster.token, limits: { perClientInflightMax: 1 } }, silentLogger);
      const slow = request(`${gw.url}/v1/files/over/slow`, { method: 'PUT', headers: { ...auth, 'content-length': '10' } });
      const slowDone = new Promise<number>((resolve, reject) => {
        slow.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        slow.on('error', reject);
      });
      slow.write('12345');
      await sleep(200);
      const r = await fetch(`${gw.url}/v1/status`, { headers: auth });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(await errCode(r)).toBe('Unavailable');
      slow.end('67890');
      expect(await slowDone).toBe(201);
      expect((await fetch(`${gw.url}/v1/status`, { headers: auth })).status).toBe(200);
    } finally {
      await gw?.close();
    }
  });
});

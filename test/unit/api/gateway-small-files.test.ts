/**
 * The gateway's small-file path over a client whose leader is faked in this process (inlining
 * up to LEADER_MAX; three real chunk servers for the files above it): a PUT with a small
 * Content-Length is read whole and stored with one fs.put, a GET of an inline file is one fs.open
 * answered with one buffer, and both answer exactly as for a chunked file (status, headers,
 * validators, preconditions, errors). Every route against a real cluster is in
 * test/integration/gateway-api.test.ts and inline-files.test.ts.
 */
import type { AddressInfo } from 'node:net';
import { request, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUFFERED_BODY_BYTES_MAX } from '../../../src/api/file-routes.js';
import { createGatewayApp } from '../../../src/api/gateway-app.js';
import type { CairnClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/env/system.js';
import { inlineEtag } from '../../../src/util/inline-etag.js';
import { silentLogger } from '../../../src/util/logger.js';
import { bytes } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes } from '../client/fake-meta.js';

const CHUNK = 256 * 1024;
const LEADER_MAX = 64 * 1024;
const auth = { authorization: 'Bearer t' };

describe('gateway: small files', () => {
  let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
  let meta: FakeMeta;
  let client: CairnClient;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    cluster = await startChunkNodes(3);
    meta = new FakeMeta(cluster.nodes, { replicas: 2, chunkSize: CHUNK, inlineBytesMax: LEADER_MAX });
    client = clientOver(meta);
    const { app } = createGatewayApp({ client, token: 't', logger: silentLogger, clock: systemClock });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    client.close();
    await cluster.close();
  });
  beforeEach(() => {
    meta.calls.length = 0;
  });

  const put = (path: string, body: Buffer, headers: Record<string, string> = {}): Promise<Response> => fetch(`${base}/v1/files${path}`, { method: 'PUT', body, headers: { ...auth, ...headers } });
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> => fetch(`${base}/v1/files${path}`, { method, headers: { ...auth, ...headers } });
  /** The response headers that describe the content (not Date or connection management). */
  const described = (r: Response): Record<string, string | null> => Object.fromEntries(['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges', 'content-range'].map((h) => [h, r.headers.get(h)]));

  it('a small PUT is one fs.put and answers 201 with the file’s path, size and ETag', async () => {
    const body = bytes(4096, 1);
    const res = await put('/s/a.bin', body);
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBe(`"${inlineEtag(body)}"`);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ path: '/s/a.bin', size: 4096, etag: inlineEtag(body) });
    expect(meta.methods()).toEqual(['fs.put']);
    expect(Buffer.from(meta.files.get('/s/a.bin')!.inline!.data).equals(body)).toBe(true);
    // At the limit of the buffered path, and an empty body, store the same bytes.
    const edge = bytes(BUFFERED_BODY_BYTES_MAX, 2);
    expect((await put('/s/edge', edge)).status).toBe(201);
    expect(Buffer.from(await (await get('/s/edge')).arrayBuffer()).equals(edge)).toBe(true);
    expect(await (await put('/s/empty', Buffer.alloc(0))).json()).toMatchObject({ path: '/s/empty', size: 0 });
    expect((await get('/s/empty')).headers.get('content-length')).toBe('0');
  });

  it('a GET of an inline file is one fs.open and answers with the same headers as for a chunked file', async () => {
    const small = bytes(5000, 3);
    const big = bytes(CHUNK + 10, 4);
    await put('/g/small', small);
    await put('/g/big', big);
    meta.calls.length = 0;
    const s = await get('/g/small');
    expect(s.status).toBe(200);
    expect(Buffer.from(await s.arrayBuffer()).equals(small)).toBe(true);
    expect(meta.methods()).toEqual(['fs.open']);
    const b = await get('/g/big');
    expect(Buffer.from(await b.arrayBuffer()).equals(big)).toBe(true);
    const f = meta.files.get('/g/small')!;
    expect(described(s)).toEqual({ 'content-type': 'application/octet-stream', 'content-length': '5000', etag: `"${f.etag}"`, 'last-modified': new Date(f.mtime).toUTCString(), 'accept-ranges': 'bytes', 'content-range': null });
    const g = meta.files.get('/g/big')!;
    expect(described(b)).toEqual({ ...described(s), 'content-length': String(big.length), etag: `"${g.etag}"`, 'last-modified': new Date(g.mtime).toUTCString() });
    expect(described(await get('/g/small', {}, 'HEAD'))).toEqual(described(s));
  });

  it('a Range GET of an inline file is one fs.open, a slice of its bytes; of a chunked file, the range opened after the size', async () => {
    const small = bytes(5000, 10);
    const big = bytes(CHUNK * 2 + 10, 11);
    await put('/r/small', small);
    await put('/r/big', big);
    meta.calls.length = 0;
    const r = await get('/r/small', { range: 'bytes=100-199' });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe('bytes 100-199/5000');
    expect(r.headers.get('content-length')).toBe('100');
    expect(Buffer.from(await r.arrayBuffer()).equals(small.subarray(100, 200))).toBe(true);
    expect(meta.methods()).toEqual(['fs.open']);
    const suffix = await get('/r/small', { range: 'bytes=-10' });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(small.subarray(4990))).toBe(true);
    const whole = await get('/r/small', { range: 'bytes=7-3' }); // invalid: ignored, the whole file
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(small)).toBe(true);
    const past = await get('/r/small', { range: 'bytes=5000-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */5000');
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe('RangeNotSatisfiable');
    meta.calls.length = 0;
    const part = await get('/r/big', { range: `bytes=${CHUNK - 5}-${CHUNK + 4}` });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes ${CHUNK - 5}-${CHUNK + 4}/${big.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(big.subarray(CHUNK - 5, CHUNK + 5))).toBe(true);
    expect(meta.methods()).toEqual(['fs.open', 'fs.open']);
    const all = await get('/r/big', { range: 'bytes=0-' });
    expect(all.status).toBe(206);
    expect(Buffer.from(await all.arrayBuffer()).equals(big)).toBe(true);
    const nm = await get('/r/small', { range: 'bytes=0-9', 'if-none-match': `"${meta.files.get('/r/small')!.etag}"` });
    expect(nm.status).toBe(304);
  });

  it('conditional requests: If-None-Match gives 304 without a body, a failed If-Match 412, If-None-Match: * on PUT 412 for an existing file', async () => {
    const body = bytes(3000, 5);
    await put('/c/f', body);
    const etag = `"${inlineEtag(body)}"`;
    const nm = await get('/c/f', { 'if-none-match': `"other", ${etag}` });
    expect(nm.status).toBe(304);
    expect(nm.headers.get('etag')).toBe(etag);
    expect((await nm.arrayBuffer()).byteLength).toBe(0);
    const im = await get('/c/f', { 'if-match': '"other"' });
    expect(im.status).toBe(412);
    expect(((await im.json()) as { error: { code: string } }).error.code).toBe('PreconditionFailed');
    expect((await get('/c/f', { 'if-match': etag })).status).toBe(200);
    const again = await put('/c/f', bytes(10, 6), { 'if-none-match': '*' });
    expect(again.status).toBe(412);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('PreconditionFailed');
    expect((await put('/c/new', bytes(10, 7), { 'if-none-match': '*' })).status).toBe(201);
    expect(Buffer.from(await (await get('/c/f')).arrayBuffer()).equals(body)).toBe(true);
  });

  it('errors are JSON with their code: a PUT to / and a GET of a missing file', async () => {
    const root = await put('/', bytes(10, 8));
    expect(root.status).toBe(409);
    expect(((await root.json()) as { error: { code: string } }).error.code).toBe('IsADirectory');
    const missing = await get('/c/nope');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NotFound');
  });

  it('a small upload cut off mid-body stores nothing, and the gateway keeps serving', async () => {
    await new Promise<void>((resolve) => {
      const req = request(`${base}/v1/files/cut/f`, { method: 'PUT', headers: { ...auth, 'content-length': '10000' } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.write(bytes(5000, 9), () => setTimeout(() => req.destroy(), 100));
    });
    expect((await get('/cut/f')).status).toBe(404);
    expect(meta.methods().filter((m) => m !== 'fs.open')).toEqual([]);
    expect((await put('/cut/after', Buffer.from('ok'))).status).toBe(201);
  });
});

/**
 * The gateway's content surface (CONTRACT.md, HTTP API) against a real DevCluster: stored
 * Content-Type (PUT and multipart parts), Content-Disposition on downloads, X-Cairn-Crc32c and a
 * content-derived ETag on GET and HEAD, and POST /v1/mkdir/{path}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { crc32c, crcToHex } from '../../src/util/crc32c.js';
import { assertBuilt, patternBytes } from './cli-harness.js';

const CHUNK = 64 * 1024;

describe('HTTP gateway: content type, checksums, mkdir', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-gw-content-'));
  let cluster: DevCluster;
  let base = '';
  let auth: Record<string, string> = {};

  const call = (p: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${p}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
  const put = (p: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> => call(`/v1/files${p}`, { method: 'PUT', body, headers });
  const errCode = async (r: Response): Promise<string> => ((await r.json()) as { error: { code: string } }).error.code;

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

  it('PUT stores the Content-Type (small and streamed bodies); GET and HEAD return it with the disposition; an overwrite replaces it', async () => {
    const small = Buffer.from('{"hello":"cairn"}');
    expect((await put('/ct/a.json', small, { 'content-type': 'application/json' })).status).toBe(201);
    const big = patternBytes(3 * CHUNK + 5, 1);
    // No Content-Length: the streamed path.
    const streamed = await call('/v1/files/ct/b%20c%C3%A9.txt', {
      method: 'PUT',
      body: new Blob([big]).stream(),
      duplex: 'half',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    } as RequestInit);
    expect(streamed.status).toBe(201);
    for (const method of ['GET', 'HEAD']) {
      const a = await call('/v1/files/ct/a.json', { method });
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toBe('application/json');
      expect(a.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''a.json");
      const b = await call('/v1/files/ct/b%20c%C3%A9.txt', { method });
      expect(b.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(b.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''b%20c%C3%A9.txt");
      expect(b.headers.get('content-length')).toBe(String(big.length));
    }
    expect(Buffer.from(await (await call('/v1/files/ct/a.json')).arrayBuffer()).equals(small)).toBe(true);
    // Absent: nothing stored, answered as application/octet-stream; an overwrite replaces the type.
    expect((await put('/ct/a.json', small)).status).toBe(201);
    expect((await call('/v1/files/ct/a.json', { method: 'HEAD' })).headers.get('content-type')).toBe('application/octet-stream');
    expect((await put('/ct/a.json', small, { 'content-type': 'image/png' })).status).toBe(201);
    expect((await call('/v1/files/ct/a.json')).headers.get('content-type')).toBe('image/png');
    // A type the attribute bounds refuse: 400, nothing stored.
    const long = await put('/ct/long', small, { 'content-type': `text/${'x'.repeat(1100)}` });
    expect(long.status).toBe(400);
    expect(await errCode(long)).toBe('InvalidArgument');
    expect((await call('/v1/files/ct/long', { method: 'HEAD' })).status).toBe(404);
    // The type survives a rename.
    expect((await call('/v1/mv', { method: 'POST', body: JSON.stringify({ from: '/ct/b cé.txt', to: '/ct/moved.txt' }) })).status).toBe(200);
    expect((await call('/v1/files/ct/moved.txt', { method: 'HEAD' })).headers.get('content-type')).toBe('text/plain; charset=utf-8');
  });

  it('multipart POST stores each part’s Content-Type', async () => {
    const boundary = 'cairn-boundary-77';
    const part = (name: string, type: string, body: string): string =>
      `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n${body}\r\n`;
    const body = `${part('x.csv', 'text/csv', 'a,b\n1,2')}${part('y.bin', 'application/x-thing', 'zzz')}--${boundary}--\r\n`;
    const r = await call('/v1/files/mp', { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(r.status).toBe(201);
    expect((await call('/v1/files/mp/x.csv', { method: 'HEAD' })).headers.get('content-type')).toBe('text/csv');
    expect((await call('/v1/files/mp/y.bin')).headers.get('content-type')).toBe('application/x-thing');
  });

  it('GET and HEAD send X-Cairn-Crc32c (the whole file, also on a 206) and an ETag that only the bytes decide', async () => {
    const data = patternBytes(2 * CHUNK + 99, 7);
    const first = await put('/sum/one', data);
    const second = await put('/sum/two', data);
    const firstEtag = ((await first.json()) as { etag: string }).etag;
    expect(((await second.json()) as { etag: string }).etag).toBe(firstEtag);
    const want = crcToHex(crc32c(data));
    for (const method of ['GET', 'HEAD']) {
      const r = await call('/v1/files/sum/two', { method });
      expect(r.headers.get('x-cairn-crc32c')).toBe(want);
      expect(r.headers.get('etag')).toBe(`"${firstEtag}"`);
    }
    const part = await call('/v1/files/sum/one', { headers: { range: 'bytes=10-20' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('x-cairn-crc32c')).toBe(want);
    // An inline-sized file and its HEAD.
    const tiny = Buffer.from('tiny');
    await put('/sum/tiny', tiny);
    expect((await call('/v1/files/sum/tiny', { method: 'HEAD' })).headers.get('x-cairn-crc32c')).toBe(crcToHex(crc32c(tiny)));
    const other = Buffer.from(data);
    other[5] = other[5]! ^ 0xff;
    const changed = await put('/sum/three', other);
    expect(((await changed.json()) as { etag: string }).etag).not.toBe(firstEtag);
  });

  it('POST /v1/mkdir/{path}: 201 created, 200 when that directory exists, 409 for a file, parents on request', async () => {
    const created = await call('/v1/mkdir/mk/a', { method: 'POST' });
    expect(created.status).toBe(404); // no parent and no ?parents=true
    expect(await errCode(created)).toBe('NotFound');
    const withParents = await call('/v1/mkdir/mk/a/b%20c?parents=true', { method: 'POST' });
    expect(withParents.status).toBe(201);
    expect(await withParents.json()).toEqual({ path: '/mk/a/b c' });
    const again = await call('/v1/mkdir/mk/a/b%20c', { method: 'POST' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ path: '/mk/a/b c' });
    expect((await call('/v1/mkdir/mk/d', { method: 'POST' })).status).toBe(201);
    const ls = (await (await call('/v1/ls/mk')).json()) as { entries: Array<{ name: string; type: string }> };
    expect(ls.entries.map((e) => [e.name, e.type])).toEqual([
      ['a', 'dir'],
      ['d', 'dir'],
    ]);
    await put('/mk/file', Buffer.from('x'));
    const onFile = await call('/v1/mkdir/mk/file', { method: 'POST' });
    expect(onFile.status).toBe(409);
    expect(await errCode(onFile)).toBe('AlreadyExists');
    expect((await call('/v1/mkdir/mk/file/sub?parents=true', { method: 'POST' })).status).toBe(409);
    expect((await call('/v1/mkdir/mk/x?parents=maybe', { method: 'POST' })).status).toBe(400);
    expect((await call('/v1/mkdir/mk/a%00b', { method: 'POST' })).status).toBe(400);
    expect((await fetch(`${base}/v1/mkdir/mk/noauth`, { method: 'POST' })).status).toBe(401);
  });
});

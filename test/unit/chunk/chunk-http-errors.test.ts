/**
 * Error codes cross the chunk data plane exactly (src/proto/chunk-http.ts): a real server on
 * loopback names each error's code in X-Cairn-Error and in the body, and the client gives back
 * that code even where the status alone would say something else.
 */
import { request } from 'node:http';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { ChunkToken } from '../../../src/proto/chunk-token.js';
import { wallClockMs } from '../../../src/env/system.js';
import { H_ERROR, H_TOKEN } from '../../../src/proto/chunk-http.js';
import type { ChunkStore } from '../../../src/storage/chunk-store.js';
import { isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';
import { answeredAndClosed, refusedThenHealthz } from '../../support/raw-http.js';
import { SEG, bytes, cid, openStore, pieces, tempDir } from './helpers.js';

const secret = 'chunk-http-errors-test-secret';
const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
let store: ChunkStore;
let server: ChunkHttpServer;
let addr: string;
let dir: string;
let cleanup: () => void;
const client = new ChunkClient({ logger: silentLogger });

beforeAll(async () => {
  ({ dir, cleanup } = tempDir('chunk-http-errors'));
  store = await openStore(dir);
  server = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger }, { secret });
  addr = await server.start();
  await store.put(cid(1), pieces(bytes(2 * SEG, 1)));
  await store.put(cid(2), pieces(bytes(2 * SEG, 2)));
  truncateSync(join(dir, 'chunks', cid(2).slice(0, 2), cid(2)), SEG); // damaged: stat and read fail Corrupt
});
afterAll(async () => {
  client.close();
  await server.close();
  cleanup();
});

function raw(method: string, id: string, token: string): Promise<{ status: number; code: string | undefined; body: string }> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path: `/chunks/${id}`, headers: { [H_TOKEN]: token } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers[H_ERROR] as string | undefined, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  return isCairnError(e) ? e.code : String(e);
}

describe('chunk server error answers', () => {
  it('name their code in X-Cairn-Error and in the body, HEAD included', async () => {
    const get = await raw('GET', cid(9), tokens.signFor('read', cid(9), 60_000));
    expect(get).toMatchObject({ status: 404, code: 'NotFound' });
    expect(JSON.parse(get.body)).toMatchObject({ error: { code: 'NotFound' } });
    const head = await raw('HEAD', cid(1), tokens.signFor('delete', cid(1), 60_000));
    expect(head).toEqual({ status: 401, code: 'Unauthorized', body: '' });
    const corrupt = await raw('HEAD', cid(2), tokens.signFor('read', cid(2), 60_000));
    expect(corrupt).toEqual({ status: 500, code: 'Corrupt', body: '' });
  });

  it('reach the client with their own code where the status is shared', async () => {
    // 500 is Corrupt or Internal: a HEAD (no body) still says which.
    expect(await codeOf(client.headChunk(addr, cid(2), tokens.signFor('read', cid(2), 60_000)))).toBe('Corrupt');
    expect(await codeOf(client.getChunk(addr, cid(2), tokens.signFor('read', cid(2), 60_000)))).toBe('Corrupt');
    expect(await codeOf(client.headChunk(addr, cid(1), 'not-a-token'))).toBe('Unauthorized');
    expect(await client.headChunk(addr, cid(9), tokens.signFor('read', cid(9), 60_000))).toBeNull();
  });

  it('a write grant stores chunks under its prefix only, downstream included, and never reads', async () => {
    const prefix = 'feedfacecafe0001';
    const grant = tokens.signGrantFor(prefix, 60_000);
    const mine = `${prefix}${'0'.repeat(15)}1`;
    const data = bytes(3000, 5);
    const put = await client.putChunk(mine, [{ addr, token: grant }], pieces(data), { size: data.length });
    expect(put.ok).toBe(true);
    expect((await client.headChunk(addr, mine, tokens.signFor('read', mine, 60_000)))?.size).toBe(3000);
    // Another chunk: refused, as a pipeline's downstream entry too (verified before forwarding).
    const other = cid(7);
    const refused = await client.putChunk(other, [{ addr, token: grant }], pieces(data), { size: data.length });
    expect(refused.results[0]).toMatchObject({ ok: false, error: { code: 'Unauthorized' } });
    const down = await client.putChunk(other, [{ addr, token: tokens.signFor('write', other, 60_000) }, { addr, token: grant }], pieces(data), { size: data.length });
    expect(down.results[0]).toMatchObject({ ok: false, error: { code: 'Unauthorized' } });
    expect(await codeOf(client.headChunk(addr, mine, grant))).toBe('Unauthorized');
    expect(await raw('DELETE', mine, grant)).toMatchObject({ status: 401, code: 'Unauthorized' });
  });

  it('a refused PUT whose body was not read: a body up to 8 MiB is dropped after the answer and the connection kept; a longer or chunked one closes it', async () => {
    const port = Number(addr.split(':')[1]);
    const refusedPut = (framing: string): string => `PUT /chunks/${cid(8)} HTTP/1.1\r\nHost: h\r\n${H_TOKEN}: not-a-token\r\n${framing}\r\n\r\n`;
    // The client sends the body only after the answer came (as one still sending would), then one more request.
    const r = await refusedThenHealthz(port, refusedPut(`Content-Length: ${2 << 20}`), '"Unauthorized"', 2 << 20);
    expect(r.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.answer.toLowerCase()).not.toContain('connection: close');
    expect(r.text).toMatch(/HTTP\/1\.1 200 /);
    expect(r.closed).toBe(false);
    for (const framing of [`Content-Length: ${1 << 30}`, 'Transfer-Encoding: chunked']) {
      const text = await answeredAndClosed(port, refusedPut(framing));
      expect(text).toMatch(/^HTTP\/1\.1 401 /);
      expect(text.toLowerCase()).toContain('connection: close');
    }
  });
});

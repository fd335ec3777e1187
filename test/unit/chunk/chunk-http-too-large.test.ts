/**
 * A chunk PUT with a chunked body (no Content-Length) that runs past the chunk limit is answered
 * 413 TooLarge — not 503 "client went away", which would invite a retry of the same body — and
 * nothing is kept.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { wallClockMs } from '../../../src/env/system.js';
import { H_ERROR, H_TOKEN } from '../../../src/proto/chunk-http.js';
import { ChunkToken } from '../../../src/proto/chunk-token.js';
import type { ChunkStore } from '../../../src/storage/chunk-store.js';
import { silentLogger } from '../../../src/util/logger.js';
import { cid, openStore, tempDir } from './helpers.js';

const secret = 'chunk-http-too-large-secret';
const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
const LIMIT = 256 * 1024;
let store: ChunkStore;
let server: ChunkHttpServer;
let addr: string;
let cleanup: () => void;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = tempDir('chunk-http-too-large'));
  store = await openStore(dir, { chunkBytesMax: LIMIT });
  server = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger }, { secret });
  addr = await server.start();
});
afterAll(async () => {
  await server.close();
  cleanup();
});

/**
 * PUT `total` bytes in 16 KiB pieces with Transfer-Encoding: chunked, writing until the server
 * answers; with `end: false` the body is never finished (the server must answer without its end).
 */
function chunkedPut(id: string, total: number, end = true): Promise<{ status: number; code: string | undefined; body: string }> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method: 'PUT', path: `/chunks/${id}`, headers: { [H_TOKEN]: tokens.signFor('write', id, 60_000), 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers[H_ERROR] as string | undefined, body: Buffer.concat(parts).toString() }));
    });
    let answered = false;
    req.on('error', reject);
    const piece = Buffer.alloc(16 * 1024, 7);
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < total) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      if (!answered && end) req.end();
    };
    pump();
  });
}

describe('a chunked PUT over the chunk limit', () => {
  it('is answered 413 TooLarge as soon as it passes the limit, and keeps nothing', async () => {
    const r = await chunkedPut(cid(1), LIMIT + 64 * 1024, false);
    expect(r).toMatchObject({ status: 413, code: 'TooLarge' });
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'TooLarge' } });
    expect(await store.stat(cid(1))).toBeNull();
  });

  it('that stops right after the limit is answered the same', async () => {
    expect(await chunkedPut(cid(2), LIMIT + 16 * 1024)).toMatchObject({ status: 413, code: 'TooLarge' });
  });

  it('leaves a chunked PUT within the limit stored', async () => {
    expect(await chunkedPut(cid(3), LIMIT)).toMatchObject({ status: 201 });
  });
});

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { silentLogger } from '../../../src/util/logger.js';
import { cid, pieces } from './helpers.js';

/**
 * A stand-in chunk server that answers the first PUT of each connection (keep-alive) and cuts
 * the connection on the next one without answering: the race of a server closing an idle
 * kept-alive socket just as the client reuses it.
 */
function cuttingServer(): { server: Server; seen: () => number; listen: () => Promise<string> } {
  let requests = 0;
  const perSocket = new WeakMap<object, number>();
  const server = createServer((req: IncomingMessage, res) => {
    requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    let size = 0;
    req.on('data', (b: Buffer) => (size += b.length));
    req.on('end', () => {
      const body = JSON.stringify({ id: 'x', size, crc32c: '00000000', created: true, results: [{ addr: 'a', ok: true }] });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  return {
    server,
    seen: () => requests,
    listen: () =>
      new Promise((resolve) => {
        server.listen(0, '127.0.0.1', () => {
          const a = server.address();
          resolve(`127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
        });
      }),
  };
}

describe('ChunkClient PUT', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  it('sends a whole buffer again on a fresh socket when a kept-alive one turns out closed', async () => {
    const s = cuttingServer();
    const addr = await s.listen();
    const client = new ChunkClient({ logger: silentLogger }, { socketsPerHostMax: 1 });
    closers.push(() => client.close(), () => s.server.close());
    const data = Buffer.alloc(300_000, 7);
    const target = [{ addr, token: 't' }];
    expect((await client.putChunk(cid(1), target, data, { size: data.length })).ok).toBe(true);
    // The same kept-alive socket is reused and cut: one more attempt on a new connection succeeds.
    expect((await client.putChunk(cid(2), target, data, { size: data.length })).ok).toBe(true);
    expect(s.seen()).toBe(3);
  });

  it('reports a stream it cannot replay as failed on that socket (the caller re-sends)', async () => {
    const s = cuttingServer();
    const addr = await s.listen();
    const client = new ChunkClient({ logger: silentLogger }, { socketsPerHostMax: 1 });
    closers.push(() => client.close(), () => s.server.close());
    const data = Buffer.alloc(300_000, 7);
    const target = [{ addr, token: 't' }];
    expect((await client.putChunk(cid(1), target, pieces(data), { size: data.length })).ok).toBe(true);
    const out = await client.putChunk(cid(2), target, pieces(data), { size: data.length });
    expect(out.ok).toBe(false);
    expect(out.results[0]?.error?.code).toBe('Unavailable');
    expect(s.seen()).toBe(2);
  });
});

describe('ChunkClient kept-alive sockets', () => {
  it('closes a socket idle for 2 s itself, well before the server would (5 s)', async () => {
    const connections: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ results: [{ addr: 'a', ok: true }] });
        res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      });
    });
    server.keepAliveTimeout = 5000;
    server.on('connection', () => connections.push(connections.length));
    const addr = await new Promise<string>((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const a = server.address();
        resolve(`127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
      }),
    );
    const client = new ChunkClient({ logger: silentLogger }, { socketsPerHostMax: 1 });
    try {
      const data = Buffer.alloc(1000, 1);
      expect((await client.putChunk(cid(1), [{ addr, token: 't' }], data)).ok).toBe(true);
      expect((await client.putChunk(cid(2), [{ addr, token: 't' }], data)).ok).toBe(true);
      expect(connections.length).toBe(1); // back to back: the socket is reused
      await new Promise((r) => setTimeout(r, 2600));
      expect((await client.putChunk(cid(3), [{ addr, token: 't' }], data)).ok).toBe(true);
      expect(connections.length).toBe(2);
    } finally {
      client.close();
      server.close();
    }
  });
});

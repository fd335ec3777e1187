import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectGet, type DirectGetRequest } from '../../../src/net/index.js';
import { isCairnError } from '../../../src/util/errors.js';

/** A raw TCP server: `answer` gets each request head (one per socket turn) and writes what it likes. */
async function rawServer(answer: (s: Socket, head: string, n: number) => void): Promise<{ server: Server; port: number; connections: () => number; open: () => number }> {
  let conns = 0;
  let open = 0;
  let n = 0;
  const server = createServer((s) => {
    conns++;
    open++;
    s.on('close', () => open--);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      // Each turn answers one complete request head.
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(s, head, n++);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return { server, port: a.port, connections: () => conns, open: () => open };
}

function body(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function ok(b: Buffer, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\nx-test: yes\r\n${extra}\r\n`, 'latin1'), b]);
}

const servers: Server[] = [];
const clients: DirectGet[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function request(port: number, into: Buffer | null, more: Partial<DirectGetRequest> = {}): DirectGetRequest {
  return { host: '127.0.0.1', port, path: '/x', headers: { 'x-a': '1' }, idleTimeoutMs: 5000, bodyInto: (_h, len) => into ?? Buffer.alloc(len), ...more };
}

describe('DirectGet', () => {
  it('reads bodies into the caller’s buffer, in pieces and across reads, reusing one keep-alive socket', async () => {
    const payloads = [body(3 * 1024 * 1024, 1), body(10, 2), body(0, 3), body(70_000, 4)];
    const srv = await rawServer((s, head, n) => {
      expect(head).toMatch(/^GET \/x HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\nx-a: 1$/);
      const out = ok(payloads[n]!);
      // Dribble the answer: the head split in two, the body in uneven writes.
      s.write(out.subarray(0, 7));
      setTimeout(() => {
        for (let off = 7; off < out.length; off += 50_000) s.write(out.subarray(off, off + 50_000));
      }, 5);
    });
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    for (const p of payloads) {
      const into = Buffer.alloc(p.length);
      const pieces: Buffer[] = [];
      const r = await dg.get(request(srv.port, into, { onBody: (b) => pieces.push(Buffer.from(b)) }));
      expect(r.head.status).toBe(200);
      expect(r.head.headers.get('x-test')).toBe('yes');
      expect(r.body).toBe(into);
      expect(into.equals(p)).toBe(true);
      expect(Buffer.concat(pieces).equals(p)).toBe(true);
    }
    expect(srv.connections()).toBe(1);
  });

  it('a body cut short fails with the bytes already in place', async () => {
    const p = body(200_000);
    const srv = await rawServer((s) => {
      const out = ok(p);
      s.end(out.subarray(0, out.length - 1000));
    });
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    const into = Buffer.alloc(p.length);
    const e = await dg.get(request(srv.port, into)).catch((x: unknown) => x);
    expect(isCairnError(e, 'Unavailable')).toBe(true);
    const received = (e as { detail: { received: number } }).detail.received;
    expect(received).toBe(p.length - 1000);
    expect(into.subarray(0, received).equals(p.subarray(0, received))).toBe(true);
  });

  it('more bytes than announced, no Content-Length, or a broken status line are ProtocolErrors', async () => {
    const answers = [
      Buffer.concat([ok(body(10)), Buffer.from('surplus')]),
      Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'),
      Buffer.from('NOTHTTP 200\r\ncontent-length: 0\r\n\r\n'),
    ];
    for (const a of answers) {
      const srv = await rawServer((s) => s.write(a));
      servers.push(srv.server);
      const dg = new DirectGet();
      clients.push(dg);
      const e = await dg.get(request(srv.port, null)).catch((x: unknown) => x);
      expect(isCairnError(e, 'ProtocolError')).toBe(true);
    }
  });

  it('a non-2xx answer comes back with its own body; bodyInto is not asked', async () => {
    const srv = await rawServer((s) => s.write('HTTP/1.1 404 Not Found\r\ncontent-length: 13\r\nx-cairn-error: NotFound\r\n\r\n{"error":"x"}'));
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    let asked = false;
    const r = await dg.get(request(srv.port, null, { bodyInto: () => ((asked = true), Buffer.alloc(0)) }));
    expect(asked).toBe(false);
    expect(r.head.status).toBe(404);
    expect(r.body.toString()).toBe('{"error":"x"}');
  });

  it('a pooled socket the server closed is replaced once, and the request succeeds', async () => {
    const p = body(1000);
    const srv = await rawServer((s, _h, n) => {
      if (n === 0) s.end(ok(p, 'connection: keep-alive\r\n'));
      else s.write(ok(p));
    });
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    expect((await dg.get(request(srv.port, null))).body.equals(p)).toBe(true);
    // The server ended the first socket after its answer; the next request finds out and retries.
    await new Promise((r) => setTimeout(r, 50));
    expect((await dg.get(request(srv.port, null))).body.equals(p)).toBe(true);
    expect(srv.connections()).toBe(2);
  });

  it('a silent server times out; an abort ends the request at once', async () => {
    const srv = await rawServer(() => undefined);
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    const e = await dg.get(request(srv.port, null, { idleTimeoutMs: 100 })).catch((x: unknown) => x);
    expect(isCairnError(e, 'Timeout')).toBe(true);
    const ac = new AbortController();
    const pending = dg.get(request(srv.port, null, { signal: ac.signal })).catch((x: unknown) => x);
    ac.abort(new Error('stop'));
    expect(((await pending) as Error).message).toBe('stop');
  });

  it('a header with a line break, or a buffer of the wrong size, fails the request and drops its socket', async () => {
    const srv = await rawServer((s) => s.write(ok(body(100))));
    servers.push(srv.server);
    const dg = new DirectGet();
    clients.push(dg);
    const bad = await dg.get(request(srv.port, null, { headers: { 'x-a': 'one\r\nx-b: two' } })).catch((x: unknown) => x);
    expect(isCairnError(bad, 'InvalidArgument')).toBe(true);
    const wrong = await dg.get(request(srv.port, null, { bodyInto: () => Buffer.alloc(7) })).catch((x: unknown) => x);
    expect(isCairnError(wrong, 'Internal')).toBe(true);
    // Neither socket is kept: the next request opens a fresh one, the only one left open.
    expect((await dg.get(request(srv.port, null))).body.equals(body(100))).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(srv.open()).toBe(1);
  });
});

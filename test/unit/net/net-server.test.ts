import { afterEach, describe, expect, it } from 'vitest';
import { systemTimers } from '../../../src/env/system.js';
import { encodeFrame } from '../../../src/net/frame.js';
import type { NetServer, RpcHandler } from '../../../src/net/net-server.js';
import { RpcClient } from '../../../src/net/rpc-client.js';
import { CairnError } from '../../../src/util/errors.js';
import { RawConn, SECRET, TOKEN, sleep, startServer, until } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function server(...args: Parameters<typeof startServer>): Promise<{ server: NetServer; addr: string }> {
  const s = await startServer(...args);
  cleanups.push(() => s.server.close());
  return s;
}

function client(addr: string, token = TOKEN, extra: Partial<ConstructorParameters<typeof RpcClient>[1]> = {}): RpcClient {
  const c = new RpcClient({ timers: systemTimers }, { addr, clientToken: token, ...extra });
  cleanups.push(() => c.close());
  return c;
}

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    return e as CairnError;
  }
  throw new Error('expected a rejection');
}

const echo: RpcHandler = async (method, body) => {
  if (method === 'echo') return body;
  if (method === 'fail') throw new CairnError('NotLeader', 'not me', { leader: 'm2', leaderAddr: '127.0.0.1:1' });
  if (method === 'crash') throw new Error('secret internals /etc/passwd');
  if (method === 'corrupt') throw new CairnError('Corrupt', 'chunk abc at /data/x failed', { path: '/data/x' });
  if (method === 'slow') return new Promise((r) => setTimeout(() => r(body), 300));
  throw new CairnError('InvalidArgument', `unknown method ${method}`);
};

describe('NetServer handshake and auth', () => {
  it('accepts a client with the right token and answers calls', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const c = client(addr);
    expect(await c.call('echo', { a: 1, b: [1, 2], bytes: new Uint8Array([1, 2]) })).toEqual({ a: 1, b: [1, 2], bytes: Buffer.from([1, 2]) });
    expect(srv.counters.connectionsAccepted).toBe(1);
    expect(srv.counters.requests).toBe(1);
  });

  it('accepts a service (cluster secret + id) and tells the handler who calls; refuses a service using the client token', async () => {
    const seen: unknown[] = [];
    const { addr } = await server({ rpc: async (_m, _b, ctx) => void seen.push(ctx.caller) });
    await client(addr, SECRET, { serviceId: 'c7' }).call('echo', 1);
    await client(addr).call('echo', 1);
    expect(seen).toEqual([{ role: 'service', id: 'c7' }, { role: 'client' }]);
    const err = await rejection(client(addr, TOKEN, { serviceId: 'c7' }).call('echo', 1));
    expect(err.code).toBe('Unauthorized');
  });

  it('refuses a wrong client token with Unauthorized', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const err = await rejection(client(addr, 'wrong-token').call('echo', 1));
    expect(err.code).toBe('Unauthorized');
    expect(srv.counters.authFailures).toBe(1);
  });

  it('sends an Unauthorized error frame and closes for a wrong peer secret, a wrong id, or a client using the peer secret', async () => {
    const { addr, server: srv } = await server({ onPeerFrame: () => {} });
    const cases: Array<[('peer' | 'client'), string]> = [['peer', 'wrong'], ['client', SECRET], ['peer', TOKEN]];
    for (const [role, cred] of cases) {
      const c = await RawConn.authed(addr, role, cred);
      expect(await c.next()).toMatchObject({ t: 'error', code: 'Unauthorized' });
      await c.waitClosed();
    }
    // A mac for id p1 presented as id p2: the id is bound into the mac.
    const c = await RawConn.open(addr);
    const hello = (await c.next()) as { nonce: Uint8Array };
    const { computeMac } = await import('../../../src/net/handshake.js');
    c.send({ t: 'auth', role: 'peer', id: 'p2', mac: computeMac(SECRET, hello.nonce, 'peer', 'p1') });
    expect(await c.next()).toMatchObject({ t: 'error', code: 'Unauthorized' });
    await c.waitClosed();
    expect(srv.counters.authFailures).toBe(4);
  });

  it('refuses peers and clients when no secret/token is configured', async () => {
    const { addr } = await server({}, { clusterSecret: null, clientToken: null });
    for (const role of ['peer', 'client'] as const) {
      const c = await RawConn.authed(addr, role, role === 'peer' ? SECRET : TOKEN);
      expect(await c.next()).toMatchObject({ code: 'Unauthorized' });
    }
  });

  it('uses a fresh nonce per connection (a replayed auth frame fails)', async () => {
    const { addr } = await server({ onPeerFrame: () => {} });
    const a = await RawConn.open(addr);
    const b = await RawConn.open(addr);
    const na = ((await a.next()) as { nonce: Uint8Array }).nonce;
    const nb = ((await b.next()) as { nonce: Uint8Array }).nonce;
    expect(Buffer.from(na).equals(Buffer.from(nb))).toBe(false);
    const { computeMac } = await import('../../../src/net/handshake.js');
    b.send({ t: 'auth', role: 'peer', id: 'p1', mac: computeMac(SECRET, na, 'peer', 'p1') });
    expect(await b.next()).toMatchObject({ code: 'Unauthorized' });
  });

  it('closes and counts garbage before the handshake (HTTP request, oversize length, non-msgpack, wrong shape)', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const http = await RawConn.open(addr);
    http.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await http.waitClosed();
    const junk = await RawConn.open(addr);
    junk.socket.write(encodeFrame(new Uint8Array([0xc1, 0xc1, 0xc1])));
    await junk.waitClosed();
    const shape = await RawConn.open(addr);
    shape.send({ t: 'auth', role: 'admin', mac: new Uint8Array(32) });
    await shape.waitClosed();
    const arr = await RawConn.open(addr);
    arr.send([1, 2, 3]);
    await arr.waitClosed();
    expect(srv.counters.malformedFrames).toBe(4);
    expect(srv.counters.oversizeFrames).toBe(1);
    // The server still serves others.
    expect(await client(addr).call('echo', 'still here')).toBe('still here');
  });

  it('closes a connection that does not authenticate in time (after parking it unread)', async () => {
    const { addr, server: srv } = await server({}, { handshakeTimeoutMs: 100, handshakeParkMs: 300 });
    const c = await RawConn.open(addr);
    await until(() => srv.counters.handshakesParked === 1);
    expect(c.closed).toBe(false);
    await c.waitClosed();
    expect(srv.counters.handshakeTimeouts).toBe(1);
    expect(srv.counters.connectionsOpen).toBe(0);
    expect(srv.counters.handshakesParked).toBe(0);
  });

  it('refuses authenticated connections beyond connectionsMax with Unavailable', async () => {
    const { addr, server: srv } = await server({ rpc: echo }, { connectionsMax: 2 });
    const a = await RawConn.authed(addr, 'client', TOKEN);
    const b = await RawConn.authed(addr, 'client', TOKEN);
    expect(await a.next()).toEqual({ t: 'ok' });
    expect(await b.next()).toEqual({ t: 'ok' });
    // Unauthenticated connections do not count against it.
    const idle = await RawConn.open(addr);
    await idle.next();
    const c = await RawConn.authed(addr, 'client', TOKEN);
    expect(await c.next()).toMatchObject({ t: 'error', code: 'Unavailable' });
    await c.waitClosed();
    expect(srv.counters.connectionsRefused).toBe(1);
    a.destroy();
    await until(() => srv.counters.connectionsOpen === 2);
    expect(await client(addr).call('echo', 5)).toBe(5);
  });

  it('keeps strangers to their own budget: the oldest of a full source is parked, fresh dialers from it still get in', async () => {
    const { addr, server: srv } = await server({ rpc: echo }, { handshakesMax: 8, handshakesPerAddrMax: 4 });
    const raw: RawConn[] = [];
    for (let i = 0; i < 6; i++) raw.push(await RawConn.open(addr));
    await until(() => srv.counters.handshakesEvicted === 2);
    expect(srv.counters.handshakesParked).toBe(2);
    // The two oldest were parked (no longer read), the four newest are still in their handshake.
    expect(await client(addr).call('echo', 'fresh')).toBe('fresh');
    expect(srv.counters.handshakesEvicted).toBe(3);
    for (const r of raw) r.destroy();
  });
});

describe('NetServer peer stream', () => {
  it('delivers peer frames in order with the authenticated id, frames split at every byte boundary', async () => {
    const got: Array<[string, number[]]> = [];
    const { addr, server: srv } = await server({ onPeerFrame: (from, p) => got.push([from, [...p]]) });
    const c = await RawConn.authed(addr, 'peer', SECRET, 'm7');
    expect(await c.next()).toEqual({ t: 'ok' });
    const payloads = Array.from({ length: 20 }, (_v, i) => new Uint8Array(i).fill(i));
    const wire = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    // One byte per write, each its own TCP segment (noDelay), with pauses so chunks stay split.
    for (let i = 0; i < wire.length; i++) {
      c.socket.write(wire.subarray(i, i + 1));
      if (i % 50 === 0) await sleep(1);
    }
    await until(() => got.length === 20);
    expect(got).toEqual(payloads.map((p) => ['m7', [...p]]));
    // Many frames in one chunk.
    c.socket.write(wire);
    await until(() => got.length === 40);
    expect(got.slice(20)).toEqual(got.slice(0, 20));
    expect(srv.counters.peerFrames).toBe(40);
  });

  it('closes a peer connection on an oversize frame and keeps serving other peers', async () => {
    const got: string[] = [];
    const { addr, server: srv } = await server({ onPeerFrame: (from) => got.push(from) }, { frameBytesMax: 1000 });
    const bad = await RawConn.authed(addr, 'peer', SECRET, 'bad');
    const good = await RawConn.authed(addr, 'peer', SECRET, 'good');
    await bad.next();
    await good.next();
    bad.socket.write(encodeFrame(new Uint8Array(1001), 1 << 20));
    await bad.waitClosed();
    good.socket.write(encodeFrame(new Uint8Array(1000), 1 << 20));
    await until(() => got.length === 1);
    expect(got).toEqual(['good']);
    expect(srv.counters.oversizeFrames).toBe(1);
    expect(good.closed).toBe(false);
  });

  it('closes a peer connection whose frame the handler rejects with a CairnError, garbage after the handshake too', async () => {
    const { addr, server: srv } = await server({
      onPeerFrame: (_from, p) => {
        if (p[0] === 0xff) throw new CairnError('ProtocolError', 'bad raft message');
      },
    });
    const c = await RawConn.authed(addr, 'peer', SECRET);
    await c.next();
    c.socket.write(encodeFrame(new Uint8Array([0xff])));
    await c.waitClosed();
    const d = await RawConn.authed(addr, 'peer', SECRET);
    await d.next();
    d.socket.write('garbage garbage garbage');
    await d.waitClosed();
    expect(srv.counters.malformedFrames).toBe(2);
  });
});

describe('RPC', () => {
  it('maps errors: CairnError kept with detail, non-CairnError → Internal without leaking, unexposed messages hidden', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const c = client(addr);
    const nl = await rejection(c.call('fail', null));
    expect(nl.code).toBe('NotLeader');
    expect(nl.message).toBe('not me');
    expect(nl.detail).toEqual({ leader: 'm2', leaderAddr: '127.0.0.1:1' });
    const internal = await rejection(c.call('crash', null));
    expect(internal.code).toBe('Internal');
    expect(internal.message).not.toContain('passwd');
    const corrupt = await rejection(c.call('corrupt', null));
    expect(corrupt.code).toBe('Corrupt');
    expect(corrupt.message).not.toContain('/data');
    expect(corrupt.detail).toBeUndefined();
    expect(srv.counters.requestErrors).toBe(3);
  });

  it('answers unknown methods with InvalidArgument (method set or no handler)', async () => {
    let ran = 0;
    const { addr } = await server({
      methods: ['echo'],
      rpc: async (m, b) => {
        ran++;
        return echo(m, b, {} as never);
      },
    });
    expect((await rejection(client(addr).call('nope', 1))).code).toBe('InvalidArgument');
    expect(ran).toBe(0);
    const bare = await server({});
    expect((await rejection(client(bare.addr).call('echo', 1))).code).toBe('InvalidArgument');
  });

  it('runs many calls concurrently on one connection and matches responses by id', async () => {
    const { addr, server: srv } = await server({
      rpc: async (_m, body) => {
        const n = body as number;
        await sleep((n * 7) % 23);
        return n * 2;
      },
    });
    const c = client(addr);
    const out = await Promise.all(Array.from({ length: 200 }, (_v, i) => c.call('double', i)));
    expect(out).toEqual(Array.from({ length: 200 }, (_v, i) => i * 2));
    expect(c.counters.connects).toBe(1);
    expect(srv.counters.connectionsAccepted).toBe(1);
  });

  it('bounds requests in flight per connection', async () => {
    let running = 0;
    let peak = 0;
    const { addr } = await server(
      {
        rpc: async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(10);
          running--;
          return null;
        },
      },
      { requestsInflightMax: 4 },
    );
    const c = client(addr);
    await Promise.all(Array.from({ length: 40 }, () => c.call('x', null)));
    expect(peak).toBe(4);
  });

  it('times out a slow call with Timeout and ignores the late answer; the connection stays usable', async () => {
    const { addr } = await server({ rpc: echo });
    const c = client(addr);
    const err = await rejection(c.call('slow', 1, { timeoutMs: 50 }));
    expect(err.code).toBe('Timeout');
    await sleep(350);
    expect(await c.call('echo', 2)).toBe(2);
    expect(c.counters.connects).toBe(1);
  });

  it('rejects with Unavailable when nothing listens, when the server goes away mid-call, and after close()', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const c = client(addr);
    expect(await c.call('echo', 1)).toBe(1);
    const inflight = c.call('slow', 1, { timeoutMs: 5000 });
    await sleep(20);
    await srv.close();
    expect((await rejection(inflight)).code).toBe('Unavailable');
    expect((await rejection(c.call('echo', 1))).code).toBe('Unavailable');
    c.close();
    expect((await rejection(c.call('echo', 1))).code).toBe('Unavailable');
  });

  it('reconnects on the next call after the connection broke', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const c = client(addr);
    expect(await c.call('echo', 1)).toBe(1);
    await srv.close();
    const port = Number(addr.split(':')[1]);
    const again = await server({ rpc: echo }, { port });
    expect(again.addr).toBe(addr);
    await until(() => srv.counters.connectionsOpen === 0);
    // The first call may race the close notification; a retry must succeed.
    let out: unknown = null;
    for (let i = 0; i < 3 && out === null; i++) out = await c.call('echo', 'back').catch(() => null);
    expect(out).toBe('back');
  });

  it('supports abort signals', async () => {
    const { addr } = await server({ rpc: echo });
    const c = client(addr);
    const ac = new AbortController();
    const p = c.call('slow', 1, { signal: ac.signal });
    ac.abort();
    const err = await rejection(p);
    expect(err.code).toBe('Unavailable');
    expect(err.detail).toEqual({ aborted: true });
  });

  it('refuses a request larger than the frame limit locally, and closes a client that sends one', async () => {
    const { addr, server: srv } = await server({ rpc: echo }, { frameBytesMax: 1000 });
    const small = client(addr, TOKEN, { frameBytesMax: 1000 });
    expect((await rejection(small.call('echo', new Uint8Array(2000)))).code).toBe('InvalidArgument');
    const big = client(addr, TOKEN, { frameBytesMax: 1 << 20 });
    expect((await rejection(big.call('echo', new Uint8Array(2000)))).code).toBe('Unavailable');
    expect(srv.counters.oversizeFrames).toBe(1);
    expect(await small.call('echo', 'ok')).toBe('ok');
  });

  it('closes a client connection that sends a malformed request', async () => {
    const { addr, server: srv } = await server({ rpc: echo });
    const c = await RawConn.authed(addr, 'client', TOKEN);
    expect(await c.next()).toEqual({ t: 'ok' });
    c.send({ id: 'x', method: 'echo', body: 1 });
    await c.waitClosed();
    const d = await RawConn.authed(addr, 'client', TOKEN);
    await d.next();
    d.send({ id: 1, method: 'echo', body: 'raw' });
    expect(await d.next()).toEqual({ id: 1, ok: true, body: 'raw' });
    expect(srv.counters.malformedFrames).toBe(1);
  });

  it('a client that never reads responses does not make the server buffer without bound', async () => {
    const big = new Uint8Array(128 << 10);
    const { addr, server: srv } = await server({ rpc: async () => big }, { requestsInflightMax: 4 });
    const c = await RawConn.authed(addr, 'client', TOKEN);
    await c.next();
    c.socket.pause();
    // 1000 requests asking for 128 KiB each = 125 MiB if the server buffered everything.
    for (let i = 0; i < 1000; i++) c.send({ id: i, method: 'get', body: null });
    await sleep(500);
    const served = srv.counters.requests;
    expect(served).toBeLessThan(150);
    c.socket.resume();
    await until(() => srv.counters.requests === 1000, 20_000, 'all requests served');
  });

  it('holds each request to the limits of the method it names before decoding it', async () => {
    const small = { bytesMax: 200, elementsMax: 20, depthMax: 4 };
    const large = { bytesMax: 100_000, elementsMax: 20, depthMax: 4 };
    const { addr, server: srv } = await server({ rpc: echo, requestLimits: (m) => (m === 'echo' ? large : small) }, {});
    const c = client(addr);
    expect(((await c.call('echo', new Uint8Array(50_000))) as Uint8Array).length).toBe(50_000);
    // Over the size of its method: refused from its first bytes, connection closed.
    expect((await rejection(c.call('other', new Uint8Array(1000)))).code).toBe('Unavailable');
    expect(srv.counters.oversizeFrames).toBe(1);
    // Over the elements or the depth: refused by the scan.
    expect((await rejection(c.call('echo', new Array(30).fill(0)))).code).toBe('Unavailable');
    expect((await rejection(c.call('echo', [[[[[1]]]]]))).code).toBe('Unavailable');
    expect(srv.counters.malformedFrames).toBe(3);
    // A frame naming its method after its body gets the limits of an unnamed request.
    const raw = await RawConn.authed(addr, 'client', TOKEN);
    await raw.next();
    raw.send({ body: new Uint8Array(1000), id: 1, method: 'echo' });
    await raw.waitClosed();
    expect(srv.counters.oversizeFrames).toBe(2);
    expect(await c.call('echo', 'still serving')).toBe('still serving');
  });
});

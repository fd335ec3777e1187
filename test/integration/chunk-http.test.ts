/**
 * The chunk data plane over real HTTP on loopback with real chunk files: pipelined writes through
 * three servers, Range reads, tokens, corruption, aborts, limits and malformed input.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../src/chunk/chunk-client.js';
import { ChunkHttpServer, type ChunkHttpServerOptions } from '../../src/chunk/chunk-http-server.js';
import { ChunkToken, type ChunkOp } from '../../src/proto/chunk-token.js';
import { wallClockMs } from '../../src/env/system.js';
import type { ChunkStore, ChunkStoreOptions } from '../../src/storage/chunk-store.js';
import { crc32c } from '../../src/util/crc32c.js';
import { isCairnError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { SEG, bytes, cid, collect, openStore, pieces, tempDir } from '../unit/chunk/helpers.js';

const secret = 'integration-test-cluster-secret';
const clock = { nowMs: wallClockMs };
const tokens = new ChunkToken({ clock }, { secret });
const tok = (op: ChunkOp, id: string, ttlMs = 60_000): string => tokens.signFor(op, id, ttlMs);

interface Node {
  dir: string;
  store: ChunkStore;
  server: ChunkHttpServer;
  addr: string;
}

const cleanups: Array<() => void | Promise<void>> = [];
let nodes: Node[] = [];
let client: ChunkClient;

async function startNode(storeOpts: Partial<ChunkStoreOptions> = {}, serverOpts: Partial<ChunkHttpServerOptions> = {}): Promise<Node> {
  const { dir, cleanup } = tempDir('chunk-http');
  const store = await openStore(dir, { chunkBytesMax: 8 * 1024 * 1024, ...storeOpts });
  const server = new ChunkHttpServer({ store, clock, logger: silentLogger }, { secret, ...serverOpts });
  const addr = await server.start();
  cleanups.push(async () => {
    await server.close();
    cleanup();
  });
  return { dir, store, server, addr };
}

/** An address nothing listens on (a server started and stopped). */
async function deadAddr(): Promise<string> {
  const n = await startNode();
  await n.server.close();
  return n.addr;
}

beforeAll(async () => {
  nodes = [await startNode(), await startNode(), await startNode()];
  client = new ChunkClient({ logger: silentLogger });
});

afterAll(async () => {
  client.close();
  for (const c of cleanups.reverse()) await c();
});

const targets = (id: string, ns: Array<Node | string>, op: ChunkOp = 'write'): Array<{ addr: string; token: string }> =>
  ns.map((n) => ({ addr: typeof n === 'string' ? n : n.addr, token: tok(op, id) }));

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(addr: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Raw> {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, headers }, (res) => {
      collect(res).then((b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }), reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (r: Raw): { error?: { code: string; message: string; failed?: string }; results?: Array<{ addr: string; ok: boolean }> } & Record<string, unknown> =>
  JSON.parse(r.body.toString('utf8'));

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(cond(), 'condition not reached in time').toBe(true);
}

const tmpOf = (n: Node): string[] => readdirSync(join(n.dir, 'tmp'));

describe('chunk HTTP data plane', () => {
  it('writes through a pipeline of 3 servers and reads back every size from every replica', async () => {
    for (const size of [0, 1, SEG - 1, SEG, SEG + 1, 3 * 1024 * 1024 + 5]) {
      const data = bytes(size, size + 100);
      const id = cid(0x1000 + size);
      const known = size % 2 === 0; // alternate Content-Length and chunked uploads
      const out = await client.putChunk(id, targets(id, nodes), pieces(data, 50_000), known ? { size, crc32c: crc32c(data) } : {});
      expect(out.ok, JSON.stringify(out)).toBe(true);
      expect(out.results.map((r) => r.addr)).toEqual(nodes.map((n) => n.addr));
      expect(out.size).toBe(size);
      expect(out.crc32c).toBe(crc32c(data));
      for (const n of nodes) {
        const got = await client.getChunk(n.addr, id, tok('read', id));
        expect(got.size).toBe(size);
        expect((await collect(got.stream)).equals(data)).toBe(true);
        expect(await client.headChunk(n.addr, id, tok('read', id))).toEqual({ size, crc32c: crc32c(data) });
      }
    }
    for (const n of nodes) expect(tmpOf(n)).toEqual([]);
  });

  it('serves Range reads (a-b, a-, -n) as 206 and unsatisfiable ranges as 416', async () => {
    const size = 5 * SEG + 123;
    const data = bytes(size, 9);
    const id = cid(0x2000);
    expect((await client.putChunk(id, targets(id, [nodes[0]!]), pieces(data), { size })).ok).toBe(true);
    const a = nodes[0]!.addr;
    const path = `/chunks/${id}`;
    const h = { 'x-cairn-token': tok('read', id) };
    let r = await raw(a, 'GET', path, { ...h, range: `bytes=${SEG - 2}-${SEG + 1}` });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes ${SEG - 2}-${SEG + 1}/${size}`);
    expect(r.body.equals(data.subarray(SEG - 2, SEG + 2))).toBe(true);
    r = await raw(a, 'GET', path, { ...h, range: `bytes=${size - 10}-` });
    expect(r.status).toBe(206);
    expect(r.body.equals(data.subarray(size - 10))).toBe(true);
    r = await raw(a, 'GET', path, { ...h, range: 'bytes=-7' });
    expect(r.body.equals(data.subarray(size - 7))).toBe(true);
    r = await raw(a, 'GET', path, { ...h, range: `bytes=${size}-` });
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${size}`);
    expect(json(r).error?.code).toBe('RangeNotSatisfiable');
    r = await raw(a, 'GET', path, h);
    expect(r.status).toBe(200);
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['x-cairn-crc32c']).toBe(crc32c(data).toString(16).padStart(8, '0'));
    expect(r.body.equals(data)).toBe(true);
    r = await raw(a, 'HEAD', path, h);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(size));
    expect(r.body.length).toBe(0);
    const part = await client.getChunk(a, id, tok('read', id), { range: { start: 3 * SEG + 1, end: 4 * SEG + 9 } });
    expect([part.start, part.end]).toEqual([3 * SEG + 1, 4 * SEG + 9]);
    expect((await collect(part.stream)).equals(data.subarray(3 * SEG + 1, 4 * SEG + 9))).toBe(true);
  });

  it('reports which server failed when a downstream server is dead', async () => {
    const dead = await deadAddr();
    const data = bytes(300_000, 3);
    let id = cid(0x3000);
    let out = await client.putChunk(id, targets(id, [nodes[0]!, nodes[1]!, dead]), pieces(data), { size: data.length });
    expect(out.ok).toBe(false);
    expect(out.results.map((r) => [r.addr, r.ok, r.error?.code])).toEqual([
      [nodes[0]!.addr, true, undefined],
      [nodes[1]!.addr, true, undefined],
      [dead, false, 'Unavailable'],
    ]);
    // The healthy servers kept their durable copies; re-sending to them and a replacement completes it.
    for (const n of [nodes[0]!, nodes[1]!]) expect(await n.store.stat(id)).toMatchObject({ size: data.length });
    out = await client.putChunk(id, targets(id, [nodes[0]!, nodes[1]!, nodes[2]!]), pieces(data), { size: data.length });
    expect(out.ok).toBe(true);
    expect(out.results.map((r) => r.ok)).toEqual([true, true, true]);

    // A dead server in the middle: later servers are not attempted.
    id = cid(0x3001);
    const r = await raw(nodes[0]!.addr, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id), 'x-cairn-pipeline': `${dead} ${tok('write', id)}, ${nodes[2]!.addr} ${tok('write', id)}` }, data);
    expect(r.status).toBe(503);
    expect(json(r).error).toMatchObject({ code: 'Unavailable', failed: dead });
    expect(json(r).results?.map((x) => x.ok)).toEqual([true, false, false]);
    expect(await nodes[2]!.store.stat(id)).toBeNull();

    // The first server itself unreachable.
    out = await client.putChunk(id, targets(id, [dead, nodes[1]!]), pieces(data));
    expect(out.results.map((x) => [x.ok, x.error?.code])).toEqual([
      [false, 'Unavailable'],
      [false, 'Unavailable'],
    ]);
  });

  it('reports a downstream that accepts the connection but never answers, after the idle timeout', async () => {
    // A black hole: accepts TCP connections, never reads, never answers.
    const held: Socket[] = [];
    const hole = createNetServer((s) => {
      s.pause();
      held.push(s);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', () => r()));
    const holeAddr = `127.0.0.1:${(hole.address() as { port: number }).port}`;
    try {
      const n = await startNode({}, { idleTimeoutMs: 400, pipelineTimeoutExtensionMs: 1000 });
      const id = cid(0x3100);
      const data = bytes(4 * 1024 * 1024, 31); // more than the socket buffers can swallow
      const t0 = performance.now();
      const out = await client.putChunk(id, targets(id, [n, holeAddr]), pieces(data), { size: data.length });
      expect(performance.now() - t0).toBeLessThan(10_000);
      expect(out.results.map((r) => [r.ok, r.error?.code])).toEqual([
        [true, undefined],
        [false, 'Timeout'],
      ]);
      expect((await collect((await client.getChunk(n.addr, id, tok('read', id))).stream)).equals(data)).toBe(true);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => hole.close(() => r()));
    }
  });

  it('refuses bad, expired, wrong-op and wrong-chunk tokens with 401 and stores nothing', async () => {
    const id = cid(0x4000);
    const a = nodes[0]!.addr;
    const body = bytes(1000);
    const cases: Array<[string, Record<string, string>]> = [
      ['missing', {}],
      ['garbage', { 'x-cairn-token': 'not-a-token' }],
      ['expired', { 'x-cairn-token': tokens.sign('write', id, wallClockMs() - 120_000) }],
      ['wrong op', { 'x-cairn-token': tok('read', id) }],
      ['wrong chunk', { 'x-cairn-token': tok('write', cid(0x4001)) }],
      ['other cluster', { 'x-cairn-token': new ChunkToken({ clock }, { secret: 'some-other-cluster-secret' }).signFor('write', id, 60_000) }],
    ];
    for (const [what, h] of cases) {
      const r = await raw(a, 'PUT', `/chunks/${id}`, h, body);
      expect(r.status, what).toBe(401);
      expect(json(r).error?.code, what).toBe('Unauthorized');
    }
    // A valid first token with a forged downstream token is refused before anything is stored or forwarded.
    let r = await raw(a, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id), 'x-cairn-pipeline': `${nodes[1]!.addr} ${tok('read', id)}` }, body);
    expect(r.status).toBe(401);
    expect(await nodes[0]!.store.stat(id)).toBeNull();
    expect((await client.putChunk(id, targets(id, [nodes[0]!]), pieces(body))).ok).toBe(true);
    r = await raw(a, 'GET', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) });
    expect(r.status).toBe(401);
    r = await raw(a, 'DELETE', `/chunks/${id}`, { 'x-cairn-token': tok('read', id) });
    expect(r.status).toBe(401);
    await expect(client.getChunk(a, id, tok('read', cid(0x4001)))).rejects.toMatchObject({ code: 'Unauthorized' });
    expect(await client.deleteChunk(a, id, tok('delete', id))).toBe(true);
    expect(await client.deleteChunk(a, id, tok('delete', id))).toBe(false);
  });

  it('answers Expect: 100-continue only after the token passed', async () => {
    const id = cid(0x4100);
    const [host, port] = nodes[0]!.addr.split(':');
    const attempt = (token: string): Promise<{ continued: boolean; status: number }> =>
      new Promise((resolve, reject) => {
        let continued = false;
        const body = bytes(2 * 1024 * 1024, 41);
        const req = request({ host, port: Number(port), method: 'PUT', path: `/chunks/${id}`, headers: { expect: '100-continue', 'content-length': String(body.length), 'x-cairn-token': token } });
        req.on('continue', () => {
          continued = true;
          req.end(body);
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ continued, status: res.statusCode ?? 0 }));
          if (!continued) req.destroy();
        });
        req.on('error', (e) => (continued ? reject(e) : undefined));
        req.flushHeaders();
      });
    expect(await attempt(tok('read', id))).toEqual({ continued: false, status: 401 });
    expect(await attempt(tok('write', id))).toEqual({ continued: true, status: 201 });
  });

  it('refuses ids that could escape the chunk directory', async () => {
    const a = nodes[0]!.addr;
    for (const path of ['/chunks/..%2F..%2Fetc%2Fpasswd', '/chunks/../../etc/passwd', `/chunks/${'A'.repeat(32)}`, '/chunks/', '/chunks/%00', `/chunks/${cid(1)}/x`, '/etc/passwd']) {
      const r = await raw(a, 'GET', path, { 'x-cairn-token': tok('read', cid(1)) });
      expect([400, 404], path).toContain(r.status);
      expect(json(r).error?.code).toMatch(/InvalidArgument|NotFound/);
    }
  });

  it('is idempotent for the same bytes and refuses different bytes under the same id', async () => {
    const id = cid(0x5000);
    const data = bytes(70_000, 5);
    const a = nodes[1]!.addr;
    let r = await raw(a, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) }, data);
    expect(r.status).toBe(201);
    expect(json(r)).toMatchObject({ id, size: data.length, created: true });
    r = await raw(a, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) }, data);
    expect(r.status).toBe(201);
    expect(json(r)).toMatchObject({ created: false });
    r = await raw(a, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) }, bytes(70_000, 6));
    expect(r.status).toBe(409);
    expect(json(r).error?.code).toBe('AlreadyExists');
    r = await raw(a, 'PUT', `/chunks/${cid(0x5001)}`, { 'x-cairn-token': tok('write', cid(0x5001)), 'x-cairn-crc32c': '00000000' }, data);
    expect(json(r).error?.code).toBe('Corrupt');
    r = await raw(a, 'PUT', `/chunks/${cid(0x5001)}`, { 'x-cairn-token': tok('write', cid(0x5001)), 'x-cairn-size': '5' }, data);
    expect(r.status).toBe(400);
    r = await raw(a, 'PUT', `/chunks/${cid(0x5001)}`, { 'x-cairn-token': tok('write', cid(0x5001)), 'content-length': String(9 * 1024 * 1024) });
    expect(r.status).toBe(413);
    expect(await nodes[1]!.store.stat(cid(0x5001))).toBeNull();
    expect(tmpOf(nodes[1]!)).toEqual([]);
  });

  it('answers 507 NoSpace when the disk is below its reserve, leaving nothing behind', async () => {
    const free = (await nodes[0]!.store.space()).freeBytes;
    const full = await startNode({ reserveBytes: free + 2 ** 40 });
    const id = cid(0x6000);
    const data = bytes(200_000);
    const r = await raw(full.addr, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) }, data);
    expect(r.status).toBe(507);
    expect(json(r).error?.code).toBe('NoSpace');
    // As a downstream: the client learns exactly which server is full.
    const out = await client.putChunk(id, targets(id, [nodes[2]!, full]), pieces(data), { size: data.length });
    expect(out.results.map((x) => [x.ok, x.error?.code])).toEqual([
      [true, undefined],
      [false, 'NoSpace'],
    ]);
    expect(tmpOf(full)).toEqual([]);
    expect(await full.store.stat(id)).toBeNull();
  });

  it('an upload cut off mid-stream leaves nothing on any server of the pipeline', async () => {
    const id = cid(0x7000);
    const src = new PassThrough();
    const ac = new AbortController();
    const p = client.putChunk(id, targets(id, [nodes[0]!, nodes[1]!]), src, { signal: ac.signal });
    src.write(bytes(1024 * 1024));
    await waitFor(() => tmpOf(nodes[0]!).length === 1 && tmpOf(nodes[1]!).length === 1);
    ac.abort();
    await expect(p).rejects.toThrow();
    await waitFor(() => tmpOf(nodes[0]!).length === 0 && tmpOf(nodes[1]!).length === 0);
    await waitFor(() => nodes[0]!.server.uploadsInFlight === 0 && nodes[1]!.server.uploadsInFlight === 0);
    expect(await nodes[0]!.store.stat(id)).toBeNull();
    expect(await nodes[1]!.store.stat(id)).toBeNull();
  });

  it('detects a flipped byte on disk: early segment → 500 Corrupt, later segment → response cut, good ranges still served; a whole read is left to a reader that checks it', async () => {
    const n = nodes[2]!;
    const id = cid(0x8000);
    const size = 40 * SEG; // more than one read batch, so a late error happens after headers are out
    const data = bytes(size, 8);
    expect((await client.putChunk(id, targets(id, [n]), pieces(data), { size })).ok).toBe(true);
    const file = join(n.dir, 'chunks', id.slice(0, 2), id);
    const f = readFileSync(file);
    f[30 * SEG + 7] = f[30 * SEG + 7]! ^ 1;
    writeFileSync(file, f);
    const failure = (s: Parameters<typeof collect>[0]): Promise<unknown> =>
      collect(s).then(
        () => null,
        (e: unknown) => e,
      );
    // The client checks a whole chunk against its CRC itself (X-Cairn-Verify: reader): the server
    // sends the segments unchecked and the client finds the flip.
    const checkedByReader = await client.getChunk(n.addr, id, tok('read', id));
    expect(await failure(checkedByReader.stream)).toMatchObject({ code: 'Corrupt' });
    expect(n.store.corruptChunks()).toEqual([]);
    const rawWhole = await raw(n.addr, 'GET', `/chunks/${id}`, { 'x-cairn-token': tok('read', id), 'x-cairn-verify': 'reader' });
    expect(rawWhole.status).toBe(200);
    expect(rawWhole.body.length).toBe(size);
    expect(crc32c(rawWhole.body)).not.toBe(Number.parseInt(String(rawWhole.headers['x-cairn-crc32c']), 16));
    // A reader that does not check: the server checks every segment and cuts the response.
    const whole = await client.getChunk(n.addr, id, tok('read', id), { verifyCrc: false });
    expect(await failure(whole.stream)).not.toBeNull();
    expect(n.store.corruptChunks()).toEqual([id]);
    const good = await client.getChunk(n.addr, id, tok('read', id), { range: { start: 0, end: 30 * SEG } });
    expect((await collect(good.stream)).equals(data.subarray(0, 30 * SEG))).toBe(true);
    await expect(client.getChunk(n.addr, id, tok('read', id), { range: { start: 30 * SEG, end: 30 * SEG + 1 } })).rejects.toMatchObject({ code: 'Corrupt' });
    // A range is checked by the server whatever the reader says.
    const r = await raw(n.addr, 'GET', `/chunks/${id}`, { 'x-cairn-token': tok('read', id), range: `bytes=${30 * SEG}-`, 'x-cairn-verify': 'reader' });
    expect(r.status).toBe(500);
    expect(json(r).error?.code).toBe('Corrupt');
  });

  it('survives malformed requests and limits concurrent uploads', async () => {
    const n = await startNode({}, { uploadsMax: 1 });
    // Garbage instead of HTTP.
    const reply = await new Promise<string>((resolve) => {
      const [host, port] = n.addr.split(':');
      const s = connect(Number(port), host, () => s.write('THIS IS NOT HTTP\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    // Bad header values.
    const id = cid(0x9000);
    const bad: Array<Record<string, string>> = [{ 'x-cairn-crc32c': 'xyz' }, { 'x-cairn-size': '-1' }, { 'x-cairn-pipeline': 'nonsense' }];
    for (const h of bad) {
      const r = await raw(n.addr, 'PUT', `/chunks/${id}`, { 'x-cairn-token': tok('write', id), ...h }, Buffer.from('abc'));
      expect(r.status).toBe(400);
    }
    expect((await raw(n.addr, 'POST', `/chunks/${id}`, { 'x-cairn-token': tok('write', id) })).status).toBe(400);
    // One upload in flight occupies the only slot; a second is refused with 503, then accepted after.
    const src = new PassThrough();
    const p = client.putChunk(id, targets(id, [n.addr]), src);
    src.write(bytes(1000));
    await waitFor(() => n.server.uploadsInFlight === 1);
    const second = await raw(n.addr, 'PUT', `/chunks/${cid(0x9001)}`, { 'x-cairn-token': tok('write', cid(0x9001)) }, bytes(10));
    expect(second.status).toBe(503);
    expect(second.headers['retry-after']).toBe('1');
    src.end(bytes(1000, 2));
    expect((await p).ok).toBe(true);
    expect((await raw(n.addr, 'PUT', `/chunks/${cid(0x9001)}`, { 'x-cairn-token': tok('write', cid(0x9001)) }, bytes(10))).status).toBe(201);
    expect((await raw(n.addr, 'GET', '/healthz')).status).toBe(200);
  });

  it('closes slow-loris connections that never finish their headers', async () => {
    const n = await startNode({}, { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 100 });
    const t0 = performance.now();
    const closedAfterMs = await new Promise<number>((resolve) => {
      const [host, port] = n.addr.split(':');
      const s = connect(Number(port), host, () => s.write(`GET /chunks/${cid(1)} HTTP/1.1\r\nHost: x\r\n`));
      s.on('data', () => undefined);
      s.on('close', () => resolve(performance.now() - t0));
      s.on('error', () => undefined);
    });
    expect(closedAfterMs).toBeLessThan(5000);
    expect((await raw(n.addr, 'GET', '/healthz')).status).toBe(200);
  });

  it('getChunk errors carry the server code; a missing chunk is NotFound', async () => {
    const e = await client.getChunk(nodes[0]!.addr, cid(0xdead), tok('read', cid(0xdead))).catch((x: unknown) => x);
    expect(isCairnError(e, 'NotFound')).toBe(true);
    expect(await client.headChunk(nodes[0]!.addr, cid(0xdead), tok('read', cid(0xdead)))).toBeNull();
  });
});

/**
 * The gateway's GET body from pooled pieces (api/file-routes.ts sendOpened), over a client whose leader is
 * faked in this process and three real chunk servers: a client that stops reading holds only a
 * bounded number of pieces (nothing more is fetched), a client that goes away mid-body gets every
 * piece given back (and the next GET works), and a chunk no replica can give verified bytes for
 * cuts the response — unless it is the first, which is answered as a JSON error. The routes' headers and statuses are pinned in gateway-small-files.test.ts
 * and test/integration/gateway-api.test.ts.
 */
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Agent, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayApp } from '../../../src/api/gateway-app.js';
import type { CairnClient } from '../../../src/client/index.js';
import { FileReader, type OpenRange, type OpenResult } from '../../../src/client/file-reader.js';
import type { PiecePool } from '../../../src/client/piece-pool.js';
import type { PathArg } from '../../../src/client/cairn-client.js';
import { systemClock } from '../../../src/env/system.js';
import { silentLogger } from '../../../src/util/logger.js';
import { bytes } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes } from '../client/fake-meta.js';

const CHUNK = 1024 * 1024;
/** More than the kernel's socket buffers on both sides of loopback can absorb. */
const BIG_CHUNKS = 40;
const READ_AHEAD = 2;
const auth = { authorization: 'Bearer t' };

/** What the test sees of each reader the gateway opened: pieces taken, and those not yet given back. */
interface Watched {
  reader: FileReader;
  taken: number;
  out: number;
  outMax: number;
}

describe('gateway: GET bodies from pooled pieces', () => {
  let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
  let meta: FakeMeta;
  let client: CairnClient;
  let server: Server;
  let port: number;
  const big = bytes(BIG_CHUNKS * CHUNK + 123, 1);
  const readers: Watched[] = [];

  beforeAll(async () => {
    cluster = await startChunkNodes(3);
    meta = new FakeMeta(cluster.nodes, { replicas: 2, chunkSize: CHUNK });
    client = clientOver(meta, { readAhead: READ_AHEAD });
    // Every reader the routes open is watched through its public piece API.
    const open = client.open.bind(client);
    client.open = async (path: PathArg, range?: OpenRange): Promise<OpenResult> => {
      const o = await open(path, range);
      if (o.inline === null && o.stream instanceof FileReader) readers.push(watch(o.stream));
      return o;
    };
    const { app } = createGatewayApp({ client, token: 't', logger: silentLogger, clock: systemClock });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    port = (server.address() as AddressInfo).port;
    await meta.storeFile('/big', big);
  }, 60_000);
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    client.close();
    await cluster.close();
  });

  function watch(reader: FileReader): Watched {
    const w: Watched = { reader, taken: 0, out: 0, outMax: 0 };
    const next = reader.nextPiece.bind(reader);
    reader.nextPiece = async () => {
      const p = await next();
      if (p === null) return null;
      w.taken++;
      w.outMax = Math.max(w.outMax, ++w.out);
      const { release, drop } = p;
      return {
        bytes: p.bytes,
        release: () => {
          w.out--;
          release();
        },
        drop: () => {
          w.out--;
          drop();
        },
      };
    };
    return w;
  }

  /**
   * Buffers the reader's pool has lent and not had back (private: there is no public figure). The
   * pool is the gateway client's, shared by its readers: each test here has one read in flight.
   */
  const poolLent = (w: Watched): number => (w.reader as unknown as { pool: PiecePool }).pool.lentCount;

  /** A raw HTTP/1.1 GET whose answer the test reads (or not) itself. */
  function rawGet(path: string, headers: Record<string, string> = {}): Socket {
    const s = connect(port, '127.0.0.1');
    const lines = [`GET /v1/files${path} HTTP/1.1`, `host: 127.0.0.1:${port}`, `authorization: ${auth.authorization}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    s.write(`${lines.join('\r\n')}\r\n\r\n`);
    return s;
  }

  /**
   * The body of a GET on a keep-alive connection as far as it came, and whether it came whole
   * (a body cut short without closing the connection would leave it waiting: 'hung').
   */
  function getBody(path: string, waitMs = 20_000): Promise<{ status: number; body: Buffer; complete: boolean | 'hung' }> {
    const agent = new Agent({ keepAlive: true });
    return new Promise<{ status: number; body: Buffer; complete: boolean | 'hung' }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/v1/files${path}`, headers: auth, agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        const done = (): void => resolve({ status: res.statusCode!, body: Buffer.concat(parts), complete: res.complete });
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
        setTimeout(() => resolve({ status: res.statusCode!, body: Buffer.concat(parts), complete: 'hung' }), waitMs).unref();
      });
      req.on('error', reject);
      req.end();
    }).finally(() => agent.destroy());
  }

  async function until(what: string | (() => string), cond: () => boolean, ms = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting until ${typeof what === 'string' ? what : what()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  /** Stores `f` at `path` with chunk `index` corrupt at byte `at` on both its replicas; the watched readers start over. */
  async function storeWithBadChunk(path: string, f: Buffer, index: number, at: number): Promise<void> {
    await meta.storeFile(path, f);
    const id = meta.files.get(path)!.chunks[index]![0];
    const holders = cluster.nodes.filter((n) => n.has(id));
    expect(holders.length).toBe(2);
    for (const n of holders) n.corrupt(id, at);
    readers.length = 0;
  }

  it('whole and ranged GETs of a chunked file come out byte-exact, every piece given back', async () => {
    readers.length = 0;
    const whole = await getBody('/big');
    expect(whole).toMatchObject({ status: 200, complete: true });
    expect(whole.body.equals(big)).toBe(true);
    const s = rawGet('/big', { range: `bytes=${CHUNK - 7}-${3 * CHUNK + 8}` });
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    await until('the ranged answer arrived', () => {
      const all = Buffer.concat(got);
      const at = all.indexOf('\r\n\r\n');
      return at >= 0 && all.length - at - 4 >= 2 * CHUNK + 16;
    });
    s.destroy();
    const all = Buffer.concat(got);
    const at = all.indexOf('\r\n\r\n');
    expect(all.subarray(0, at).toString('latin1')).toMatch(/^HTTP\/1\.1 206 .*\r\n(.*\r\n)*content-length: 2097168\r\n/i);
    expect(all.subarray(at + 4).equals(big.subarray(CHUNK - 7, 3 * CHUNK + 9))).toBe(true);
    await until('every piece is back', () => readers.every((w) => w.out === 0 && poolLent(w) === 0));
    // The whole file's 41 pieces; the range's first open (dropped once the range is decided), then its 4 pieces.
    expect(readers.map((w) => w.taken)).toEqual([BIG_CHUNKS + 1, 0, 4]);
  });

  it('a client that stops reading holds a bounded number of pieces: nothing more is fetched', async () => {
    readers.length = 0;
    const s = rawGet('/big');
    s.pause(); // reads nothing: the kernel's buffers fill, then the gateway's writes stall
    await until('the reader opened', () => readers.length === 1);
    const w = readers[0]!;
    // Wait until the taking stops for a while (the sockets' buffers are full).
    let last = -1;
    for (let i = 0; i < 30 && (w.taken !== last || w.taken === 0); i++) {
      last = w.taken;
      await settle(700);
    }
    expect(w.taken).toBe(last);
    expect(w.taken).toBeLessThan(BIG_CHUNKS);
    // The piece being written plus the one taken while it drains; the pool lends the read-ahead besides.
    expect(w.outMax).toBeLessThanOrEqual(2);
    expect(poolLent(w)).toBeLessThanOrEqual(READ_AHEAD + 2);
    // Reading again, the client gets the whole file.
    const got: Buffer[] = [];
    let n = 0;
    s.on('data', (b: Buffer) => {
      got.push(b);
      n += b.length;
    });
    s.resume();
    await until(() => `the whole answer arrived (${n} bytes so far, ${w.taken} pieces taken)`, () => n > big.length, 30_000);
    await settle(100);
    const all = Buffer.concat(got);
    expect(all.subarray(all.indexOf('\r\n\r\n') + 4).equals(big)).toBe(true);
    s.destroy();
    await until('every piece is back', () => w.out === 0 && poolLent(w) === 0);
  }, 60_000);

  it('a client that goes away mid-body gets every piece given back (its reader destroyed, the read-ahead returned); the next GET works', async () => {
    readers.length = 0;
    const s = rawGet('/big');
    let n = 0;
    await new Promise<void>((resolve) => {
      s.on('data', (b: Buffer) => {
        n += b.length;
        if (n > 3 * CHUNK) {
          s.pause();
          resolve();
        }
      });
    });
    const w = readers[0]!;
    // Stalled with read-ahead fetched (pieces waiting in the reader's queue, not only those being
    // written), then gone. At least one such piece, not exactly READ_AHEAD: on a loaded machine
    // the reader may still be fetching when the client goes.
    await until('some read-ahead is fetched', () => poolLent(w) > w.out && poolLent(w) <= READ_AHEAD + w.out, 20_000);
    await settle(300);
    s.destroy();
    await until('every piece is back', () => w.out === 0 && poolLent(w) === 0 && w.reader.destroyed);
    await settle(300);
    expect(w.taken).toBeLessThan(BIG_CHUNKS);
    expect(poolLent(w)).toBe(0);
    const next = await getBody('/big');
    expect(next).toMatchObject({ status: 200, complete: true });
    expect(next.body.equals(big)).toBe(true);
  }, 60_000);

  it('a first chunk with no good copy is answered as a JSON error, without the file\'s headers', async () => {
    await storeWithBadChunk('/badfirst', bytes(3 * CHUNK, 3), 0, 10);
    for (const range of [undefined, 'bytes=5-2000000']) {
      const r = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/files/badfirst', headers: { ...auth, ...(range ? { range } : {}) } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'Corrupt' } });
      expect(r.headers['content-type']).toMatch(/json/);
      expect(r.headers.etag).toBeUndefined();
      expect(r.headers['content-range']).toBeUndefined();
      expect(r.headers['x-request-id']).toBeTruthy();
    }
    await until('every piece is back', () => readers.every((w) => w.out === 0 && poolLent(w) === 0));
    expect((await getBody('/big')).body.equals(big)).toBe(true);
  }, 60_000);

  it('a chunk with no good copy cuts the response after the verified bytes before it', async () => {
    const f = bytes(6 * CHUNK, 2);
    await storeWithBadChunk('/bad', f, 3, 1000);
    const r = await getBody('/bad', 5000);
    expect(r.status).toBe(200);
    expect(r.complete).toBe(false);
    // Only bytes of the chunks before the bad one, all of them right.
    expect(r.body.length).toBeLessThanOrEqual(3 * CHUNK);
    expect(r.body.equals(f.subarray(0, r.body.length))).toBe(true);
    await until('every piece is back', () => readers.every((w) => w.out === 0 && poolLent(w) === 0));
    expect((await getBody('/big')).body.equals(big)).toBe(true);
  }, 60_000);
});

/**
 * Small PUTs (Content-Length up to the server's buffered-body limit) are received whole and sent
 * on as one buffer per hop: the pipeline's outcome, per-target errors and clean-up are those of
 * a streamed PUT. Small GETs are answered from the verified bytes in one write.
 */
import { connect } from 'node:net';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkClient } from '../../../src/chunk/chunk-client.js';
import { ChunkHttpServer } from '../../../src/chunk/chunk-http-server.js';
import { ChunkToken } from '../../../src/proto/chunk-token.js';
import { wallClockMs } from '../../../src/env/system.js';
import { H_TOKEN } from '../../../src/proto/chunk-http.js';
import type { ChunkStore } from '../../../src/storage/chunk-store.js';
import { crc32c } from '../../../src/util/crc32c.js';
import { silentLogger } from '../../../src/util/logger.js';
import { bytes, cid, collect, openStore, pieces, tempDir, waitUntil } from './helpers.js';

const secret = 'chunk-http-small-put-test-secret';
const tokens = new ChunkToken({ clock: { nowMs: wallClockMs } }, { secret });
const stores: ChunkStore[] = [];
const servers: ChunkHttpServer[] = [];
const addrs: string[] = [];
const dirs: string[] = [];
const cleanups: (() => void)[] = [];
const client = new ChunkClient({ logger: silentLogger });

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const { dir, cleanup } = tempDir(`chunk-small-put-${i}`);
    dirs.push(dir);
    cleanups.push(cleanup);
    const store = await openStore(dir);
    const server = new ChunkHttpServer({ store, clock: { nowMs: wallClockMs }, logger: silentLogger }, { secret });
    stores.push(store);
    servers.push(server);
    addrs.push(await server.start());
  }
});
afterAll(async () => {
  client.close();
  for (const s of servers) await s.close();
  for (const c of cleanups) c();
});

const targets = (id: string): { addr: string; token: string }[] => addrs.map((addr) => ({ addr, token: tokens.signFor('write', id, 60_000) }));

describe('small pipelined PUTs', () => {
  it('a whole buffer and a stream of the same small chunk both land on every server of the pipeline', async () => {
    const data = bytes(4096, 1);
    const viaBuffer = await client.putChunk(cid(1), targets(cid(1)), data, { size: data.length, crc32c: crc32c(data) });
    expect(viaBuffer).toMatchObject({ ok: true, size: 4096, crc32c: crc32c(data) });
    expect(viaBuffer.results.map((r) => r.addr)).toEqual(addrs);
    const viaStream = await client.putChunk(cid(2), targets(cid(2)), pieces(data, 1000), { size: data.length });
    expect(viaStream.ok).toBe(true);
    for (const store of stores) {
      expect((await collect((await store.read(cid(1))).stream)).equals(data)).toBe(true);
      expect((await collect((await store.read(cid(2))).stream)).equals(data)).toBe(true);
    }
  });

  it('a downstream server that refuses is named in the results; the servers before it keep their copies', async () => {
    await stores[2]!.put(cid(3), bytes(4096, 99)); // a different replica under this id: AlreadyExists there
    const data = bytes(4096, 3);
    const out = await client.putChunk(cid(3), targets(cid(3)), data, { size: data.length });
    expect(out.ok).toBe(false);
    expect(out.results.map((r) => [r.addr, r.ok, r.error?.code])).toEqual([
      [addrs[0], true, undefined],
      [addrs[1], true, undefined],
      [addrs[2], false, 'AlreadyExists'],
    ]);
    expect(await stores[0]!.stat(cid(3))).toMatchObject({ size: 4096, crc32c: crc32c(data) });
    expect(await stores[1]!.stat(cid(3))).toMatchObject({ size: 4096, crc32c: crc32c(data) });
  });

  it('a CRC that does not match keeps nothing anywhere', async () => {
    const data = bytes(4096, 4);
    const out = await client.putChunk(cid(4), targets(cid(4)), data, { size: data.length, crc32c: (crc32c(data) ^ 1) >>> 0 });
    expect(out.ok).toBe(false);
    expect(out.results[0]!.error?.code).toBe('Corrupt');
    for (const store of stores) expect(await store.stat(cid(4))).toBeNull();
  });

  it('a client that goes away before the whole small body arrived leaves nothing behind', async () => {
    const id = cid(5);
    const [host, port] = addrs[0]!.split(':');
    const sock = connect(Number(port), host);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(`PUT /chunks/${id} HTTP/1.1\r\nHost: x\r\n${H_TOKEN}: ${tokens.signFor('write', id, 60_000)}\r\nContent-Length: 4096\r\n\r\n`);
    sock.write(bytes(1000, 5));
    await waitUntil(() => servers[0]!.uploadsInFlight === 1);
    sock.destroy();
    await waitUntil(() => servers[0]!.uploadsInFlight === 0);
    expect(await stores[0]!.stat(id)).toBeNull();
    expect(readdirSync(join(dirs[0]!, 'tmp'))).toEqual([]);
  });

  it('a small chunk reads back whole (200) and by range (206) from every server', async () => {
    const data = bytes(4096, 1); // cid(1), stored by the first test
    for (const addr of addrs) {
      const whole = await client.getChunk(addr, cid(1), tokens.signFor('read', cid(1), 60_000));
      expect(whole).toMatchObject({ size: 4096, crc32c: crc32c(data), start: 0, end: 4096 });
      expect((await collect(whole.stream)).equals(data)).toBe(true);
      const part = await client.getChunk(addr, cid(1), tokens.signFor('read', cid(1), 60_000), { range: { start: 1000, end: 1100 } });
      expect([part.start, part.end]).toEqual([1000, 1100]);
      expect((await collect(part.stream)).equals(data.subarray(1000, 1100))).toBe(true);
    }
  });

  it('every downstream token is checked by the first server, also when it repeats one: a bad one refuses the whole PUT', async () => {
    const id = cid(6);
    const grant = tokens.signGrantFor(id.slice(0, 16), 60_000);
    const good = await client.putChunk(id, addrs.map((addr) => ({ addr, token: grant })), bytes(100, 6), { size: 100 });
    expect(good.ok).toBe(true);
    const id2 = cid(7);
    const bad = [{ addr: addrs[0]!, token: tokens.signFor('write', id2, 60_000) }, { addr: addrs[1]!, token: tokens.signFor('write', id2, 60_000) }, { addr: addrs[2]!, token: tokens.signFor('write', cid(8), 60_000) }];
    const out = await client.putChunk(id2, bad, bytes(100, 7), { size: 100 });
    expect(out.ok).toBe(false);
    expect(out.results[0]!.error?.code).toBe('Unauthorized');
    for (const store of stores) expect(await store.stat(id2)).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { CairnClient, type MetaCaller } from '../../../src/client/cairn-client.js';
import { SeededRng } from '../../../src/env/rng.js';
import { createCairnClient, RemotePath } from '../../../src/index.js';
import { CairnError, isCairnError } from '../../../src/util/errors.js';

// CairnClient over a scripted metadata caller: which calls carry a request id, which may be
// retried, what goes on the wire, and what a malformed answer does.

interface Call {
  method: string;
  body: Record<string, unknown>;
  idempotent: boolean;
}

function scripted(answer: (method: string, body: Record<string, unknown>) => unknown = () => ({})): { meta: MetaCaller; calls: Call[]; closed: () => boolean } {
  const calls: Call[] = [];
  let closed = false;
  return {
    calls,
    closed: () => closed,
    meta: {
      call: (method, body, opts) => {
        calls.push({ method, body: body as Record<string, unknown>, idempotent: opts?.idempotent ?? false });
        return Promise.resolve(answer(method, body as Record<string, unknown>));
      },
      close: () => {
        closed = true;
      },
    },
  };
}

const noChunks = { putChunk: () => Promise.reject(new Error('unused')), getChunk: () => Promise.reject(new Error('unused')), readChunk: () => Promise.reject(new Error('unused')), close: () => undefined };
const timers = { setTimeout: () => ({ cancel: () => undefined }), setInterval: () => ({ cancel: () => undefined }) };

function client(meta: MetaCaller, clientId?: string): CairnClient {
  return new CairnClient({ meta, chunks: noChunks, timers, clock: { nowMs: () => 0 }, rng: new SeededRng(3) }, clientId === undefined ? {} : { clientId });
}

describe('CairnClient', () => {
  it('namespace writes carry a fresh request id and are retryable; reads carry none', async () => {
    const s = scripted((m) => (m === 'fs.list' ? { entries: [], cursor: null } : {}));
    const c = client(s.meta, 'cl-1');
    await c.mkdir('/a', { parents: true });
    await c.rm(RemotePath.parse('/a/b'), { recursive: true });
    await c.mv('/a', '/b');
    await c.list('/b', { limit: 5 });
    expect(s.calls).toEqual([
      { method: 'fs.mkdir', body: { path: '/a', parents: true, s: ['cl-1', 1, 1] }, idempotent: true },
      { method: 'fs.rm', body: { path: '/a/b', recursive: true, s: ['cl-1', 2, 2] }, idempotent: true },
      { method: 'fs.mv', body: { from: '/a', to: '/b', s: ['cl-1', 3, 3] }, idempotent: true },
      { method: 'fs.list', body: { path: '/b', limit: 5 }, idempotent: true },
    ]);
  });

  it('concat is one exactly-once fs.concat answered like a commit', async () => {
    const s = scripted((m, b) => (m === 'fs.concat' ? { path: b.to, size: 9, etag: 'e9', mtime: 9 } : {}));
    const c = client(s.meta, 'cl-1');
    expect(await c.concat('/u', ['p1', 'p2'], '/b/k', { overwrite: true, attrs: { 's3-etag': 'x' } })).toEqual({ path: '/b/k', size: 9, etag: 'e9' });
    expect(s.calls).toEqual([{ method: 'fs.concat', body: { dir: '/u', names: ['p1', 'p2'], to: '/b/k', overwrite: true, parents: true, attrs: { 's3-etag': 'x' }, s: ['cl-1', 1, 1] }, idempotent: true }]);
    await expect(client(scripted(() => ({ path: '/x' })).meta).concat('/u', ['p'], '/x')).rejects.toMatchObject({ code: 'ProtocolError' });
  });

  it('copy is one exactly-once fs.copy (no bytes through the client) answered like a commit; a malformed answer is refused', async () => {
    const s = scripted((m, b) => (m === 'fs.copy' ? { path: b.to, size: 7, etag: 'e7', mtime: 9 } : {}));
    const c = client(s.meta, 'cl-1');
    expect(await c.copy('/a', RemotePath.parse('/b/c'))).toEqual({ path: '/b/c', size: 7, etag: 'e7' });
    await c.copy('/a', '/d', { overwrite: true, parents: false });
    expect(s.calls).toEqual([
      { method: 'fs.copy', body: { from: '/a', to: '/b/c', overwrite: false, parents: true, s: ['cl-1', 1, 1] }, idempotent: true },
      { method: 'fs.copy', body: { from: '/a', to: '/d', overwrite: true, parents: false, s: ['cl-1', 2, 2] }, idempotent: true },
    ]);
    await expect(client(scripted(() => ({ path: '/x' })).meta).copy('/a', '/x')).rejects.toMatchObject({ code: 'ProtocolError' });
    await expect(c.copy('/a', 'rel')).rejects.toMatchObject({ code: 'InvalidPath' });
  });

  it('drain may be repeated; removing a server is sent once (a retry after it applied would say NotFound)', async () => {
    const s = scripted();
    const c = client(s.meta);
    await c.drain('c1');
    await c.removeServer('c2', { force: true });
    expect(s.calls).toEqual([
      { method: 'cluster.drain', body: { id: 'c1' }, idempotent: true },
      { method: 'cluster.remove', body: { id: 'c2', force: true }, idempotent: false },
    ]);
  });

  it('refuses a malformed path before any call', async () => {
    const s = scripted();
    const c = client(s.meta);
    for (const p of ['a', '/a/', '/a/../b', '']) await expect(c.stat(p)).rejects.toMatchObject({ code: 'InvalidPath' });
    await expect(c.mv('/a', 'b')).rejects.toMatchObject({ code: 'InvalidPath' });
    expect(() => c.createWriteStream('/x//y')).toThrow(CairnError);
    expect(() => c.createWriteStream('/')).toThrow(expect.objectContaining({ code: 'IsADirectory' }));
    expect(s.calls).toEqual([]);
  });

  it('a malformed answer is a ProtocolError naming the field, never passed on', async () => {
    const c = client(scripted(() => ({ leader: 'm1', meta: [], chunkServers: [{ id: 'c1', addr: 'a', state: 'alive', used: '1', capacity: 1, chunks: 0 }], chunks: { total: 0, underReplicated: 0, lost: 0 } })).meta);
    const err = await c.status().catch((e: unknown) => e);
    expect(isCairnError(err, 'ProtocolError')).toBe(true);
    expect((err as Error).message).toBe('cluster.status answer: chunkServers[0].used must be a non-negative integer');
    const st = client(scripted(() => ({ path: '/f', type: 'file', size: 1, mtime: 2, etag: null, chunks: [{ id: 'f'.repeat(32), size: 1, crc: 5, replicas: ['c1'] }] })).meta);
    expect(await st.stat('/f')).toEqual({ path: '/f', type: 'file', size: 1, mtime: 2, etag: null, chunks: [{ id: 'f'.repeat(32), size: 1, replicas: ['c1'] }], attrs: {}, crc32c: 5 });
  });

  it('draws a client id from the injected rng when none is given; close() closes the transports', () => {
    const s = scripted();
    const a = client(s.meta);
    expect(a.clientId).toMatch(/^cl-[0-9a-f]{24}$/);
    expect(client(scripted().meta).clientId).toBe(a.clientId); // same seed, same id
    a.close();
    expect(s.closed()).toBe(true);
  });

  it('createCairnClient builds a client over the real transports', () => {
    const c = createCairnClient({ metaAddrs: ['127.0.0.1:1'], token: '' }, { clientId: 'cl-x', callTimeoutMs: 100 });
    expect(c).toBeInstanceOf(CairnClient);
    expect(c.clientId).toBe('cl-x');
    const d = createCairnClient({ metaAddrs: ['127.0.0.1:1'], token: '' });
    expect(d.clientId).toMatch(/^cl-[0-9a-f]{24}$/);
    expect(d.clientId).not.toBe(createCairnClient({ metaAddrs: ['127.0.0.1:1'], token: '' }).clientId);
    c.close();
    d.close();
  });
});

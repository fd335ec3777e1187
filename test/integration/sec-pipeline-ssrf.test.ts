/**
 * Security probe 4 (issue 17): a chunk PUT whose X-Cairn-Pipeline names an arbitrary listener
 * (`127.0.0.1:<port> <token>`) made the chunk server forward the body there, and its error
 * text told an open port from a closed one. A chunk server now forwards only to the cluster's
 * chunk servers: any other address is refused before a connection is tried, with the same
 * answer for an open and a closed port, while a pipeline to a real chunk server still works.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaSession } from '../../src/client/meta-session.js';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';

interface Alloc {
  chunks: Array<{ id: string; targets: Array<{ id: string; addr: string; token: string }> }>;
}

async function listenOn(port: number, onConnection: () => void): Promise<Server> {
  const srv = createServer((s) => {
    onConnection();
    s.destroy();
  });
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', () => resolve()));
  return srv;
}

describe('a chunk PUT with a pipeline to an address that is no chunk server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sec-ssrf-'));
  let cluster: DevCluster;
  let s: MetaSession;
  let portBase: number;

  beforeAll(async () => {
    portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 3, replicas: 3, heartbeatMs: 200, chunkSize: 65536 });
    cluster.start();
    await cluster.waitReady(30_000);
    s = cluster.session({ callTimeoutMs: 2000, retryDeadlineMs: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused without a connection, and says the same for an open and a closed port', async () => {
    const alloc = (await s.call('fs.alloc', { count: 2 })) as Alloc;
    const [probe, real] = alloc.chunks;
    const [first, second] = probe!.targets;
    // Two ports in the cluster's own range but not used by it: one with a listener, one without.
    let connections = 0;
    const openPort = portBase + 990;
    const closedPort = portBase + 991;
    const listener = await listenOn(openPort, () => connections++);
    const body = new Uint8Array(100).fill(7);
    const put = async (id: string, token: string, pipeline: string) => {
      const res = await fetch(`http://${first!.addr}/chunks/${id}`, { method: 'PUT', headers: { 'x-cairn-token': token, 'x-cairn-pipeline': pipeline }, body });
      return { status: res.status, text: await res.text() };
    };
    try {
      const open = await put(probe!.id, first!.token, `127.0.0.1:${openPort} ${second!.token}`);
      const closed = await put(probe!.id, first!.token, `127.0.0.1:${closedPort} ${second!.token}`);
      // An unknown address after a real one is refused too.
      const mixed = await put(probe!.id, first!.token, `${second!.addr} ${second!.token}, 127.0.0.1:${openPort} ${second!.token}`);
      await sleep(300);
      expect(connections).toBe(0);
      expect(open.status).toBe(400);
      expect(JSON.parse(open.text)).toEqual({ error: { code: 'InvalidArgument', message: 'a pipeline may only name chunk servers of this cluster' } });
      expect(closed).toEqual(open);
      expect(mixed).toEqual(open);
    } finally {
      listener.close();
    }

    // A pipeline through the cluster's own chunk servers still stores every copy.
    const [a, b, c] = real!.targets;
    const res = await fetch(`http://${a!.addr}/chunks/${real!.id}`, {
      method: 'PUT',
      headers: { 'x-cairn-token': a!.token, 'x-cairn-pipeline': `${b!.addr} ${b!.token}, ${c!.addr} ${c!.token}` },
      body,
    });
    expect(res.status).toBe(201);
    const out = (await res.json()) as { results: Array<{ addr: string; ok: boolean }> };
    expect(out.results).toEqual([a, b, c].map((t) => ({ addr: t!.addr, ok: true })));
  }, 30_000);
});

import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemRng, systemTimers } from '../../../src/env/system.js';
import { FrameDecoder, encodeFrame } from '../../../src/net/frame.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/net/memory-transport.js';
import { NetServer } from '../../../src/net/net-server.js';
import { PeerTransport, type PeerTransportInit } from '../../../src/net/peer-transport.js';
import { pack } from '../../../src/proto/msgpack.js';
import { silentLogger } from '../../../src/util/logger.js';
import { SECRET, components, sleep, until } from './helpers.js';
import { frame, peerTransportContract, seqOf, type ContractHarness, type ContractNode } from './peer-transport-contract.js';

const fast = { backoffMsMin: 10, backoffMsMax: 100 };

function tcpHarness(): ContractHarness {
  const toClose: Array<() => Promise<void>> = [];
  return {
    async node(id, opts) {
      const inbox: ContractNode['inbox'] = [];
      const mk = (port: number): NetServer =>
        new NetServer(components, { host: '127.0.0.1', port, clusterSecret: SECRET, clientToken: null }, { onPeerFrame: (from, p) => inbox.push({ from, n: seqOf(p), bytes: p.length }) });
      let server = mk(0);
      const addr = await server.listen();
      const port = Number(addr.split(':')[1]);
      const transport = new PeerTransport({ timers: systemTimers, rng: systemRng, logger: silentLogger }, { id, clusterSecret: SECRET, ...fast, ...opts });
      let up = true;
      toClose.push(async () => {
        await transport.close();
        if (up) await server.close();
      });
      return {
        id,
        addr,
        inbox,
        transport,
        async stop() {
          up = false;
          await server.close();
        },
        async start() {
          server = mk(port);
          await server.listen();
          up = true;
        },
      };
    },
    async cleanup() {
      for (const f of toClose.splice(0)) await f();
    },
  };
}

function memoryHarness(): ContractHarness {
  const network = new MemoryNetwork({ timers: systemTimers });
  const transports: MemoryTransport[] = [];
  return {
    async node(id, opts) {
      const inbox: ContractNode['inbox'] = [];
      const addr = `mem-${id}:1`;
      const onFrame = (from: string, p: Uint8Array): void => {
        inbox.push({ from, n: seqOf(p), bytes: p.length });
      };
      network.listen(addr, onFrame);
      const transport = new MemoryTransport({ network, rng: systemRng }, { id, ...fast, ...opts });
      transports.push(transport);
      return {
        id,
        addr,
        inbox,
        transport,
        async stop() {
          network.unlisten(addr);
        },
        async start() {
          network.listen(addr, onFrame);
        },
      };
    },
    async cleanup() {
      for (const t of transports.splice(0)) await t.close();
    },
  };
}

peerTransportContract('tcp', tcpHarness);
peerTransportContract('memory', memoryHarness);

/** A TCP server that completes the peer handshake (accepting any mac) and then never reads. */
async function stuckPeer(): Promise<{ server: Server; addr: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    const dec = new FrameDecoder({ frameBytesMax: 1024 });
    s.write(encodeFrame(pack({ t: 'hello', v: 1, nonce: new Uint8Array(32) })));
    const onData = (c: Buffer): void => {
      if (dec.push(c).length > 0) {
        s.off('data', onData);
        s.write(encodeFrame(pack({ t: 'ok' })));
        s.pause();
      }
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, addr: `127.0.0.1:${port}`, sockets };
}

describe('PeerTransport over TCP', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });
  const transport = (init: Partial<PeerTransportInit> = {}): PeerTransport => {
    const t = new PeerTransport({ timers: systemTimers, rng: systemRng, logger: silentLogger }, { id: 'a', clusterSecret: SECRET, ...fast, ...init });
    cleanups.push(() => t.close());
    return t;
  };

  it('honours backpressure from a peer that stops reading: bounded queue, bounded socket buffer, stalled connection reset', async () => {
    const peer = await stuckPeer();
    cleanups.push(() => {
      for (const s of peer.sockets) s.destroy();
      return new Promise<void>((r) => peer.server.close(() => r()));
    });
    const t = transport({ queueMsgsMax: 50, queueBytesMax: 4 << 20, writeStallMsMax: 400 });
    t.setPeers(new Map([['b', peer.addr]]));
    t.send('b', frame(0));
    await until(() => t.isConnected('b'));
    const payload = frame(1, 64 << 10);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      if (t.send('b', payload)) accepted++;
      if (i % 100 === 0) await sleep(2);
    }
    // 2000 × 64 KiB = 128 MiB offered; what is held is the queue plus socket buffers.
    expect(t.queuedFor('b').msgs).toBeLessThanOrEqual(50);
    expect(t.counters.dropped).toBeGreaterThan(1000);
    expect(accepted).toBeLessThan(1000);
    expect(t.counters.sentBytes).toBeLessThan(64 << 20);
    // The stalled connection is reset and redialled.
    await until(() => t.counters.connects >= 2, 5000, 'a reconnect after the write stall');
  });

  it('keeps retrying with backoff when the peer refuses our secret, and reports it', async () => {
    const srv = new NetServer(components, { host: '127.0.0.1', port: 0, clusterSecret: 'other-secret', clientToken: null }, { onPeerFrame: () => {} });
    const addr = await srv.listen();
    cleanups.push(() => srv.close());
    const t = transport({ backoffMsMin: 20, backoffMsMax: 100 });
    const unreachable: string[] = [];
    t.onUnreachable = (id) => unreachable.push(id);
    t.setPeers(new Map([['b', addr]]));
    t.send('b', frame(1));
    await sleep(600);
    expect(t.counters.authFailures).toBeGreaterThanOrEqual(2);
    // At most ~600/50 attempts with jittered backoff capped at 100 ms.
    expect(t.counters.authFailures).toBeLessThan(30);
    // The server counts a refusal before the dialler learns of it: one attempt may be in between.
    const [seen, told] = [srv.counters.authFailures, t.counters.authFailures];
    expect(seen - told, `server ${seen}, dialler ${told}`).toBeGreaterThanOrEqual(0);
    expect(seen - told).toBeLessThanOrEqual(1);
    expect(unreachable.length).toBeGreaterThanOrEqual(2);
    expect(t.isConnected('b')).toBe(false);
  });

  it('does not redial in a tight loop a peer that accepts and then closes at once', async () => {
    const { CairnError } = await import('../../../src/util/errors.js');
    const srv = new NetServer(components, { host: '127.0.0.1', port: 0, clusterSecret: SECRET, clientToken: null }, {
      onPeerFrame: () => {
        throw new CairnError('ProtocolError', 'rejecting every frame');
      },
    });
    const addr = await srv.listen();
    cleanups.push(() => srv.close());
    const t = transport({ backoffMsMin: 20, backoffMsMax: 100 });
    t.setPeers(new Map([['b', addr]]));
    for (let i = 0; i < 100; i++) {
      t.send('b', frame(i));
      await sleep(5);
    }
    expect(t.counters.connects).toBeGreaterThanOrEqual(2);
    // ~500 ms of sends every 5 ms; with backoff growing to 50-100 ms, far fewer than 100 connects.
    expect(t.counters.connects).toBeLessThan(30);
  });

  it('drops a frame larger than frameBytesMax without touching the connection', async () => {
    const t = transport({ frameBytesMax: 100 });
    t.setPeers(new Map([['b', '127.0.0.1:1']]));
    expect(t.send('b', new Uint8Array(101))).toBe(false);
    expect(t.counters.dropped).toBe(1);
    expect(t.queuedFor('b').msgs).toBe(0);
  });
});

describe('MemoryNetwork', () => {
  it('partitions a direction: the sender sees failed connects and loses nothing queued until healed', async () => {
    const network = new MemoryNetwork({ timers: systemTimers });
    const got: number[] = [];
    network.listen('b:1', (_from, p) => got.push(seqOf(p)));
    const a = new MemoryTransport({ network, rng: systemRng }, { id: 'a', ...fast });
    const unreachable: string[] = [];
    a.onUnreachable = (id) => unreachable.push(id);
    a.setPeers(new Map([['b', 'b:1']]));
    network.partition('a', 'b:1');
    for (let i = 0; i < 5; i++) a.send('b', frame(i));
    await sleep(100);
    expect(got).toEqual([]);
    expect(a.isConnected('b')).toBe(false);
    expect(unreachable.length).toBeGreaterThanOrEqual(1);
    network.partition('a', 'b:1', false);
    await until(() => got.length === 5);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(a.isConnected('b')).toBe(true);
    await a.close();
  });

  it('copies payloads on send', async () => {
    const network = new MemoryNetwork({ timers: systemTimers });
    const got: number[] = [];
    network.listen('b:1', (_from, p) => got.push(seqOf(p)));
    const a = new MemoryTransport({ network, rng: systemRng }, { id: 'a' });
    a.setPeers(new Map([['b', 'b:1']]));
    const buf = Buffer.from(frame(7));
    a.send('b', buf);
    buf.fill(0);
    await until(() => got.length === 1);
    expect(got).toEqual([7]);
    await a.close();
  });
});

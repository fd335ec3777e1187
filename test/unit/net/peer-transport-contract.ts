/**
 * The contract every PeerTransportApi implementation meets (DESIGN rule 3), run against the TCP
 * PeerTransport + NetServer and against MemoryTransport + MemoryNetwork.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PeerTransportApi, PeerQueueLimits } from '../../../src/net/types.js';
import { sleep, until } from './helpers.js';

export interface ContractNode {
  id: string;
  addr: string;
  inbox: Array<{ from: string; n: number; bytes: number }>;
  transport: PeerTransportApi;
  /** Take the receiving side down (server stops, connections close). */
  stop(): Promise<void>;
  /** Bring it back at the same address. */
  start(): Promise<void>;
}

export interface ContractHarness {
  node(id: string, opts?: PeerQueueLimits): Promise<ContractNode>;
  cleanup(): Promise<void>;
}

/** Frames carry a 4-byte sequence number followed by `pad` filler bytes. */
export function frame(n: number, pad = 0): Uint8Array {
  const b = new Uint8Array(4 + pad);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function seqOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(0);
}

export function peerTransportContract(name: string, makeHarness: () => ContractHarness): void {
  describe(`PeerTransport contract: ${name}`, () => {
    let h: ContractHarness;
    afterEach(async () => {
      await h.cleanup();
    });
    const setup = async (aOpts?: PeerQueueLimits): Promise<[ContractNode, ContractNode]> => {
      h = makeHarness();
      const a = await h.node('a', aOpts);
      const b = await h.node('b');
      a.transport.setPeers(new Map([['a', a.addr], ['b', b.addr]]));
      b.transport.setPeers(new Map([['a', a.addr], ['b', b.addr]]));
      return [a, b];
    };

    it('delivers frames in order, tagged with the sender id, both ways', async () => {
      const [a, b] = await setup();
      for (let i = 0; i < 500; i++) expect(a.transport.send('b', frame(i, i % 50))).toBe(true);
      for (let i = 0; i < 10; i++) b.transport.send('a', frame(i));
      await until(() => b.inbox.length === 500 && a.inbox.length === 10);
      expect(b.inbox.map((m) => m.n)).toEqual(Array.from({ length: 500 }, (_v, i) => i));
      expect(new Set(b.inbox.map((m) => m.from))).toEqual(new Set(['a']));
      expect(a.inbox.map((m) => m.from)).toEqual(Array(10).fill('b'));
      expect(a.transport.counters.sent).toBe(500);
      expect(a.transport.queuedFor('b')).toEqual({ msgs: 0, bytes: 0 });
    });

    it('refuses unknown peers and itself', async () => {
      const [a] = await setup();
      expect(a.transport.send('zz', frame(1))).toBe(false);
      expect(a.transport.send('a', frame(1))).toBe(false);
      expect(a.transport.counters.dropped).toBe(2);
    });

    it('holds the queue bound (count) while the peer is down: drops, counts, reports unreachable', async () => {
      const [a, b] = await setup({ queueMsgsMax: 100, queueBytesMax: 1 << 20 });
      const unreachable: string[] = [];
      a.transport.onUnreachable = (id) => unreachable.push(id);
      await b.stop();
      let accepted = 0;
      for (let i = 0; i < 10_000; i++) if (a.transport.send('b', frame(i, 10))) accepted++;
      expect(accepted).toBe(100);
      expect(a.transport.queuedFor('b').msgs).toBe(100);
      expect(a.transport.counters.dropped).toBe(9900);
      expect(unreachable.length).toBeGreaterThanOrEqual(9900);
      expect(new Set(unreachable)).toEqual(new Set(['b']));
      // Redials while down stay bounded by backoff, and the queue stays bounded.
      await sleep(300);
      expect(a.transport.queuedFor('b').msgs).toBeLessThanOrEqual(100);
      expect(a.transport.counters.connectFailures).toBeGreaterThanOrEqual(1);
      expect(a.transport.counters.connectFailures).toBeLessThan(30);
    });

    it('delivers a frame sent in parts as one, and bounds the queue by the parts\' total bytes', async () => {
      const [a, b] = await setup({ queueMsgsMax: 1000, queueBytesMax: 10_000 });
      await b.stop();
      const head = frame(7, 2);
      expect(a.transport.send('b', [head, new Uint8Array(5_000), new Uint8Array(0)])).toBe(true);
      expect(a.transport.queuedFor('b')).toEqual({ msgs: 1, bytes: 5_006 });
      expect(a.transport.send('b', [frame(8), new Uint8Array(4_996)])).toBe(false);
      expect(a.transport.send('b', [frame(9), new Uint8Array(4_990)])).toBe(true);
      await b.start();
      await until(() => b.inbox.length === 2);
      expect(b.inbox.map((m) => [m.n, m.bytes])).toEqual([[7, 5_006], [9, 4_994]]);
      expect(a.transport.counters.sentBytes).toBe(5_006 + 4_994);
    });

    it('holds the queue bound (bytes), but an empty queue takes one frame larger than the byte bound', async () => {
      const [a, b] = await setup({ queueMsgsMax: 1000, queueBytesMax: 10_000 });
      await b.stop();
      expect(a.transport.send('b', frame(0, 50_000))).toBe(true);
      expect(a.transport.send('b', frame(1, 10))).toBe(false);
      await b.start();
      await until(() => b.inbox.length === 1);
      await b.stop();
      // A fresh sender (no connection yet, so nothing is in flight in a socket) to the dead peer.
      const c = await h.node('c', { queueMsgsMax: 1000, queueBytesMax: 10_000 });
      c.transport.setPeers(new Map([['b', b.addr]]));
      let accepted = 0;
      for (let i = 0; i < 100; i++) if (c.transport.send('b', frame(i, 996))) accepted++;
      expect(accepted).toBe(10);
      expect(c.transport.queuedFor('b')).toEqual({ msgs: 10, bytes: 10_000 });
    });

    it('reconnects after the peer restarts and delivers in order afterwards', async () => {
      const [a, b] = await setup();
      a.transport.send('b', frame(0));
      await until(() => b.inbox.length === 1);
      await b.stop();
      // Frames sent while down may be lost or delivered later, never reordered or duplicated.
      for (let i = 1; i <= 5; i++) a.transport.send('b', frame(i));
      await sleep(50);
      await b.start();
      let n = 6;
      for (let k = 0; k < 400 && !b.inbox.some((m) => m.n >= 6); k++) {
        a.transport.send('b', frame(n++));
        await sleep(10);
      }
      const seen = b.inbox.map((m) => m.n);
      expect(seen.some((x) => x >= 6)).toBe(true);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
      expect(a.transport.counters.connects).toBeGreaterThanOrEqual(2);
    });

    it('follows setPeers: removal drops the queue and refuses sends; an address change redirects', async () => {
      const [a, b] = await setup();
      a.transport.send('b', frame(1));
      await until(() => b.inbox.length === 1);
      a.transport.setPeers(new Map([['a', a.addr]]));
      expect(a.transport.send('b', frame(2))).toBe(false);
      const c = await h.node('c');
      // "b" now lives at c's address.
      a.transport.setPeers(new Map([['b', c.addr]]));
      for (let k = 0; k < 200 && c.inbox.length === 0; k++) {
        a.transport.send('b', frame(3));
        await sleep(10);
      }
      expect(c.inbox[0]).toEqual({ from: 'a', n: 3, bytes: 4 });
      expect(b.inbox).toHaveLength(1);
    });

    it('refuses everything after close()', async () => {
      const [a] = await setup();
      await a.transport.close();
      expect(a.transport.send('b', frame(1))).toBe(false);
    });
  });
}

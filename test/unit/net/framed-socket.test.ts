import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FramedSocket } from '../../../src/net/framed-socket.js';
import { CairnError } from '../../../src/util/errors.js';
import { until } from './helpers.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A connected pair of sockets on loopback. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const a = connect(port, '127.0.0.1');
  const b = await accepted;
  closers.push(() => {
    a.destroy();
    b.destroy();
    server.close();
  });
  return [a, b];
}

const payload = (n: number, seed: number): Uint8Array => {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
};

describe('FramedSocket', () => {
  it('delivers small (copied) and large (header apart) frames intact and in order, within a tick and across ticks', async () => {
    const [a, b] = await socketPair();
    const got: Uint8Array[] = [];
    const tx = new FramedSocket(a, 1 << 20, { onFrame: () => {}, onClose: () => {} });
    new FramedSocket(b, 1 << 20, { onFrame: (p) => got.push(p.slice()), onClose: () => {} });
    const sizes = [0, 5, 1023, 1024, 1025, 4096, 70_000, 3, 200_000, 1];
    const sent = sizes.map((n, i) => payload(n, i));
    for (const p of sent.slice(0, 6)) tx.write(p);
    await new Promise((r) => setImmediate(r));
    for (const p of sent.slice(6)) tx.write(p);
    await until(() => got.length === sent.length);
    expect(got.map((p) => p.length)).toEqual(sizes);
    for (let i = 0; i < sent.length; i++) expect(Buffer.from(got[i]!).equals(Buffer.from(sent[i]!))).toBe(true);
  });

  it('holds frames written later in the same event-loop turn (other ticks, other callbacks) for one writev, and sends them when the turn ends', async () => {
    const [a, b] = await socketPair();
    const got: number[] = [];
    const tx = new FramedSocket(a, 1 << 20, { onFrame: () => {}, onClose: () => {} });
    new FramedSocket(b, 1 << 20, { onFrame: (p) => got.push(p.length), onClose: () => {} });
    let writes = 0;
    const counted = a as unknown as { _writev: (...x: unknown[]) => unknown; _write: (...x: unknown[]) => unknown };
    for (const k of ['_writev', '_write'] as const) {
      const real = counted[k].bind(a);
      counted[k] = (...x: unknown[]) => {
        writes++;
        return real(...x);
      };
    }
    tx.write(payload(10, 1));
    await new Promise((r) => process.nextTick(r));
    await Promise.resolve();
    tx.write(payload(20, 2));
    await new Promise((r) => process.nextTick(r));
    // Still held after ticks and microtasks: the turn has not ended.
    expect(a.writableCorked).toBe(1);
    tx.write(payload(5000, 3));
    expect(writes).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(a.writableCorked).toBe(0);
    expect(writes).toBe(1);
    await until(() => got.length === 3);
    expect(got).toEqual([10, 20, 5000]);
  });

  it('delivers a payload written in parts as one frame, small (joined) or large (parts apart)', async () => {
    const [a, b] = await socketPair();
    const got: Uint8Array[] = [];
    const tx = new FramedSocket(a, 1 << 20, { onFrame: () => {}, onClose: () => {} });
    new FramedSocket(b, 1 << 20, { onFrame: (p) => got.push(p.slice()), onClose: () => {} });
    const frames: Uint8Array[][] = [
      [payload(3, 1), payload(9, 2)],
      [payload(600, 3), new Uint8Array(0), payload(600, 4)],
      [payload(10, 5), payload(70_000, 6)],
      [payload(1, 7)],
      [],
    ];
    for (const f of frames) tx.write(f);
    tx.write(payload(5, 8));
    await until(() => got.length === frames.length + 1);
    for (let i = 0; i < frames.length; i++) expect(Buffer.from(got[i]!).equals(Buffer.concat(frames[i]!))).toBe(true);
    expect(Buffer.from(got[frames.length]!).equals(Buffer.from(payload(5, 8)))).toBe(true);
  });

  it('refuses a payload over its frame limit on either path, writing nothing', async () => {
    const [a] = await socketPair();
    const tx = new FramedSocket(a, 500, { onFrame: () => {}, onClose: () => {} });
    for (const n of [501, 5000]) {
      let err: unknown;
      try {
        tx.write(new Uint8Array(n));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe('InvalidArgument');
    }
    expect(a.writableLength).toBe(0);
  });
});

/** Shared helpers for the net tests: polling, a raw TCP client that speaks frames by hand, servers on port 0. */
import { createConnection, type Socket } from 'node:net';
import { secureRandomBytes, systemRng, systemTimers } from '../../../src/env/system.js';
import { FrameDecoder, encodeFrame } from '../../../src/net/frame.js';
import { computeMac, splitAddr } from '../../../src/net/handshake.js';
import { NetServer, type NetServerHandlers, type NetServerInit } from '../../../src/net/net-server.js';
import { pack, unpack } from '../../../src/proto/msgpack.js';
import { silentLogger } from '../../../src/util/logger.js';

export const SECRET = 'cluster-secret-for-tests';
export const TOKEN = 'client-token-for-tests';
export const components = { randomBytes: secureRandomBytes, timers: systemTimers, logger: silentLogger, rng: systemRng };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 5 ms until true; throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export async function startServer(handlers: NetServerHandlers = {}, init: Partial<NetServerInit> = {}): Promise<{ server: NetServer; addr: string }> {
  const server = new NetServer(components, { host: '127.0.0.1', port: 0, clusterSecret: SECRET, clientToken: TOKEN, ...init }, handlers);
  const addr = await server.listen();
  return { server, addr };
}

/** A raw socket that collects decoded frames and knows whether it was closed. */
export class RawConn {
  readonly socket: Socket;
  readonly frames: Uint8Array[] = [];
  closed = false;
  private readonly dec = new FrameDecoder({ frameBytesMax: 1 << 26 });

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.frames.push(...this.dec.push(c)));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async open(addr: string): Promise<RawConn> {
    const { host, port } = splitAddr(addr);
    const s = createConnection({ host, port });
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    return new RawConn(s);
  }

  /** Connect and complete the handshake as `role` (with the given credential). */
  static async authed(addr: string, role: 'peer' | 'client', credential: string, id = 'p1'): Promise<RawConn> {
    const c = await RawConn.open(addr);
    const hello = (await c.next()) as { nonce: Uint8Array };
    const mac = computeMac(credential, hello.nonce, role, role === 'peer' ? id : undefined);
    c.send(role === 'peer' ? { t: 'auth', role, id, mac } : { t: 'auth', role, mac });
    return c;
  }

  send(v: unknown): void {
    this.socket.write(encodeFrame(pack(v), 1 << 30));
  }

  /** Wait for and decode the next frame. */
  async next(ms = 3000): Promise<Record<string, unknown>> {
    await until(() => this.frames.length > 0 || this.closed, ms, 'a frame');
    const f = this.frames.shift();
    if (f === undefined) throw new Error('connection closed before a frame arrived');
    return unpack(f) as Record<string, unknown>;
  }

  async waitClosed(ms = 3000): Promise<void> {
    await until(() => this.closed, ms, 'the connection to close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

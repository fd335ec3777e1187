/**
 * Network faults for real processes on loopback: one TCP proxy per (dialer, server) pair, so
 * every connection a process opens to a server runs through a proxy that belongs to that pair
 * alone (chaos-dial-hook.ts points the process's dials there). Faults are stated per directed
 * data flow "bytes from A to B", which covers both the connections A dials to B and the answers
 * on the connections B dials to A:
 *
 *  - cut: the flow stops. The proxy stops reading that side, so TCP backpressure holds the bytes
 *    in the kernel, as a real partition holds them in retransmission: the peers see a silent
 *    link (timeouts, not resets), and on heal the held bytes arrive in order, never a torn
 *    stream. A connection opened during a cut is accepted but carries nothing.
 *  - slow: every chunk of the flow is delayed by the given milliseconds (order kept).
 *
 * Processes that are not in the map (the workload driver) reach servers directly.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { systemClock, systemTimers } from '../../src/env/system.js';

export interface FlowFault {
  cut: boolean;
  delayMs: number;
}

const CALM: FlowFault = { cut: false, delayMs: 0 };

/** One direction of one proxied connection: reads `from`, writes `to`, in order. */
class Pipe {
  /** Chunks read but not yet written, each with the time it may leave. */
  private readonly pending: Array<{ b: Buffer; atMs: number }> = [];
  private ended = false;
  private timer: { cancel(): void } | null = null;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly fault: () => FlowFault,
  ) {
    from.on('data', (b: Buffer) => {
      this.pending.push({ b, atMs: systemClock.nowMs() + this.fault().delayMs });
      this.pump();
    });
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
    this.apply();
  }

  /** The fault of this flow changed (or may have): stop or restart the flow. */
  apply(): void {
    if (this.fault().cut) this.from.pause();
    else this.from.resume();
    this.pump();
  }

  private pump(): void {
    if (this.fault().cut) {
      this.from.pause(); // bytes read before the pause wait in `pending` until the heal
      return;
    }
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      const waitMs = head.atMs - systemClock.nowMs();
      if (waitMs > 0) {
        if (this.timer === null) {
          this.timer = systemTimers.setTimeout(() => {
            this.timer = null;
            this.pump();
          }, waitMs);
        }
        return;
      }
      this.pending.shift();
      if (!this.to.destroyed) this.to.write(head.b);
    }
    if (this.ended && !this.to.destroyed) this.to.end();
  }
}

/** The proxy that `dialer` uses to reach `server` at `target` (host:port). */
class LinkProxy {
  private server: Server | null = null;
  private readonly pipes = new Set<Pipe>();
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly dialer: string,
    readonly target: string,
    readonly port: number,
    private readonly out: () => FlowFault,
    private readonly back: () => FlowFault,
  ) {}

  listen(): Promise<void> {
    const [host, portText] = splitHostPort(this.target);
    this.server = createServer({ pauseOnConnect: true }, (client) => {
      const upstream = createConnection({ host, port: Number(portText) });
      this.track(client);
      this.track(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
      const a = new Pipe(client, upstream, this.out);
      const b = new Pipe(upstream, client, this.back);
      this.pipes.add(a);
      this.pipes.add(b);
      client.on('close', () => {
        this.pipes.delete(a);
        this.pipes.delete(b);
      });
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }

  apply(): void {
    for (const p of this.pipes) p.apply();
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export interface ChaosNode {
  id: string;
  /** Where it listens (host:port); null for a process nobody dials (the gateway's clients dial it directly). */
  addr: string | null;
}

/**
 * The proxies of a cluster: for every process that dials and every server it may dial, one
 * listener on its own port; `routes()` is what chaos-dial-hook.ts needs per process.
 */
export class ChaosNet {
  private readonly faults = new Map<string, FlowFault>();
  private readonly proxies: LinkProxy[] = [];

  /** `links`: [dialer id, server id] pairs; proxies take ports portBase, portBase+1, … */
  constructor(
    private readonly nodes: ChaosNode[],
    links: Array<[string, string]>,
    portBase: number,
  ) {
    let port = portBase;
    for (const [dialer, server] of links) {
      const target = this.addrOf(server);
      this.proxies.push(new LinkProxy(dialer, target, port++, () => this.fault(dialer, server), () => this.fault(server, dialer)));
    }
  }

  private addrOf(id: string): string {
    const a = this.nodes.find((n) => n.id === id)?.addr;
    if (!a) throw new Error(`no address for ${id}`);
    return a;
  }

  async start(): Promise<void> {
    for (const p of this.proxies) await p.listen();
  }

  async stop(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }

  /** Per dialer: real server address → its proxy's address. */
  routes(): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const p of this.proxies) (out[p.dialer] ??= {})[p.target] = `127.0.0.1:${p.port}`;
    return out;
  }

  fault(from: string, to: string): FlowFault {
    return this.faults.get(`${from}>${to}`) ?? CALM;
  }

  /** Bytes from `from` to `to` stop (cut) or flow again. */
  setCut(from: string, to: string, cut: boolean): void {
    this.update(from, to, { cut });
  }

  /** Bytes from `from` to `to` are delayed by `ms` (0: not at all). */
  setDelay(from: string, to: string, ms: number): void {
    this.update(from, to, { delayMs: ms });
  }

  /** Every flow calm again. */
  healAll(): void {
    this.faults.clear();
    for (const p of this.proxies) p.apply();
  }

  private update(from: string, to: string, change: Partial<FlowFault>): void {
    const k = `${from}>${to}`;
    const next = { ...this.fault(from, to), ...change };
    if (!next.cut && next.delayMs === 0) this.faults.delete(k);
    else this.faults.set(k, next);
    for (const p of this.proxies) if (p.dialer === from || p.dialer === to) p.apply();
  }
}

function splitHostPort(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), addr.slice(i + 1)];
}

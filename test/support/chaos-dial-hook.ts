/**
 * Preloaded into every server of a chaos cluster (`node --import …/chaos-dial-hook.js cairn.js …`):
 * the process's outgoing connections to cluster servers go through its own fault proxies
 * (chaos-proxy.ts) instead of straight to the server. Addresses everywhere else — `--peers`,
 * `--meta`, the cluster map, NotLeader hints — stay the real ones, so every process agrees on
 * them; only the dial is redirected, per process, which is what lets a fault cut the leader
 * from its followers while clients still reach it.
 *
 * The routes file (CAIRN_CHAOS_ROUTES) maps a process id to { "host:port": "host:port" }; the id
 * is the `--id` flag of the command line, or the subcommand (`gateway`).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

export const CHAOS_ROUTES_ENV = 'CAIRN_CHAOS_ROUTES';

function selfId(argv: string[]): string | null {
  const at = argv.indexOf('--id');
  if (at >= 0) return argv[at + 1] ?? null;
  return argv.includes('gateway') ? 'gateway' : null;
}

function install(): void {
  const file = process.env[CHAOS_ROUTES_ENV];
  const id = selfId(process.argv);
  if (!file || id === null) return;
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  const routes = all[id];
  if (!routes) return;
  const reroute = <T extends { host?: string | null; hostname?: string | null; port?: number | string | null }>(o: T): T => {
    const host = o.hostname ?? o.host ?? 'localhost';
    const via = routes[`${host === 'localhost' ? '127.0.0.1' : host}:${String(o.port)}`];
    if (via === undefined) return o;
    const i = via.lastIndexOf(':');
    const copy: T = { ...o, host: via.slice(0, i), port: Number(via.slice(i + 1)) };
    if (o.hostname !== undefined) copy.hostname = via.slice(0, i);
    return copy;
  };

  const origConnect = net.createConnection;
  const patchedConnect = function (this: unknown, ...args: unknown[]): net.Socket {
    if (typeof args[0] === 'object' && args[0] !== null) args[0] = reroute(args[0] as net.NetConnectOpts & { host?: string; port?: number });
    else if (typeof args[0] === 'number' || typeof args[0] === 'string') {
      const o = reroute({ port: args[0], host: typeof args[1] === 'string' ? args[1] : '127.0.0.1' });
      args[0] = o.port;
      if (typeof args[1] === 'string') args[1] = o.host;
    }
    return (origConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.createConnection;
  net.createConnection = patchedConnect;
  net.connect = patchedConnect;

  const origRequest = http.request;
  http.request = function (this: unknown, ...args: unknown[]): http.ClientRequest {
    if (typeof args[0] === 'object' && args[0] !== null && !(args[0] instanceof URL)) args[0] = reroute(args[0] as http.RequestOptions);
    return (origRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
  } as typeof http.request;
  syncBuiltinESMExports();
}

install();

/**
 * The metrics endpoint of a metadata or chunk server (`--metrics-listen HOST:PORT`): a small
 * HTTP server of its own, apart from the server's RPC or data plane, so a scrape never queues
 * behind chunk bytes and a metadata server needs no HTTP stack for its RPC.
 *
 *   GET|HEAD /metrics   Prometheus text (the registry's), bearer token required when one is set
 *                       (the client token, as on the gateway); 401 otherwise
 *   GET|HEAD /healthz   200 {"ok":true}, open (liveness probes)
 *   anything else       404 (405 for another method on those paths)
 *
 * Errors are the gateway's JSON shape: {"error":{"code","message"}}. With `tls` (the server's own
 * --tls-cert/--tls-key) it serves HTTPS only, as every other listener of that server does: the
 * bearer token never crosses the wire in the clear.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Registry } from 'prom-client';
import { formatHostPort, parseHostPort } from '../proto/addr.js';
import type { Logger } from '../util/logger.js';
import type { ServerTls } from './tls-files.js';

export interface MetricsHttpOptions {
  /** host:port to listen on (port 0: any free port). */
  listen: string;
  /** The bearer token scrapers must present; null: no auth. */
  token: string | null;
  /** The server's certificate and key: serve HTTPS (absent or null: plain HTTP). */
  tls?: ServerTls | null;
}

export interface MetricsHttp {
  /** http://host:port/metrics, https:// with TLS */
  readonly url: string;
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * startMetricsHttp, but a port that cannot be bound (in use: say, a server started with a copy
 * of another's command line) is logged and the server runs on without metrics (null): metrics
 * are for watching a server, never a reason for it not to serve.
 */
export async function startMetricsHttpOrWarn(registry: Registry, o: MetricsHttpOptions, logger: Logger): Promise<MetricsHttp | null> {
  try {
    return await startMetricsHttp(registry, o, logger);
  } catch (err) {
    logger.error('metrics endpoint not started; running without it', { listen: o.listen, err: (err as Error).message });
    return null;
  }
}

export async function startMetricsHttp(registry: Registry, o: MetricsHttpOptions, logger: Logger): Promise<MetricsHttp> {
  const { host, port } = parseHostPort(o.listen, true);
  const expected = o.token === null ? null : digest(o.token);
  const send = (res: ServerResponse, status: number, type: string, body: string, head: boolean, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { ...headers, 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(head ? undefined : body);
  };
  const error = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void =>
    send(res, status, 'application/json', JSON.stringify({ error: { code, message } }), false, headers);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz') return error(res, 404, 'NotFound', `no such resource: ${path ?? ''}`);
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return error(res, 405, 'MethodNotAllowed', `${req.method ?? ''} is not allowed on ${path}`, { allow: 'GET, HEAD' });
    if (path === '/healthz') return send(res, 200, 'application/json', '{"ok":true}', head);
    if (expected !== null) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      // Constant-time: both sides are hashed to equal length first.
      if (!m || !timingSafeEqual(digest(m[1]!), expected)) return error(res, 401, 'Unauthorized', 'missing or wrong bearer token', { 'www-authenticate': 'Bearer realm="cairn"' });
    }
    send(res, 200, registry.contentType, await registry.metrics(), head);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      logger.warn('metrics scrape failed', { err: (err as Error).message });
      if (!res.headersSent) error(res, 500, 'Internal', 'metrics could not be collected');
      else res.destroy();
    });
  };
  const tls = o.tls ?? null;
  const server = tls === null ? createServer(onRequest) : createTlsServer({ cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) }, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('metrics: no TCP address after listen');
  const url = `${tls === null ? 'http' : 'https'}://${formatHostPort({ host, port: a.port })}/metrics`;
  logger.info('metrics listening', { url });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

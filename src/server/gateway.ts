/**
 * Composition root of `cairn gateway`: the HTTP API (src/api) on a Node HTTP server, over one
 * CairnClient shared by every request.
 *
 * Timeouts: no limit on a whole request (a many-GiB upload takes as long as it takes), but a
 * socket silent for idleTimeoutMs is closed — an upload whose client stalls is then aborted and
 * leaves no file — and request headers must arrive within headersTimeoutMs.
 */
import { createServer, type Server } from 'node:http';
import { createGatewayApp, type GatewayLimits } from '../api/gateway-app.js';
import { createCairnClient } from '../client/create-cairn-client.js';
import { parseHostPort } from '../proto/addr.js';
import { systemClock } from '../env/system.js';
import type { Logger } from '../util/logger.js';
import { GATEWAY_HEADER_BYTES_MAX_DEFAULT, GATEWAY_HEADERS_TIMEOUT_MS_DEFAULT, GATEWAY_IDLE_TIMEOUT_MS_DEFAULT, HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT } from '../config/defaults.js';

export interface GatewayOptions {
  /** host:port to listen on (port 0: any free port). */
  listen: string;
  metaAddrs: string[];
  /** The client token: used towards the metadata servers AND required from HTTP clients. */
  token: string | null;
  limits?: Partial<GatewayLimits>;
  /** @default GATEWAY_IDLE_TIMEOUT_MS_DEFAULT (60 s) */
  idleTimeoutMs?: number;
  /** @default GATEWAY_HEADERS_TIMEOUT_MS_DEFAULT (30 s) */
  headersTimeoutMs?: number;
}

export interface RunningGateway {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions, logger: Logger): Promise<RunningGateway> {
  const { host, port } = parseHostPort(opts.listen, true);
  const client = createCairnClient({ metaAddrs: opts.metaAddrs, token: opts.token ?? '' }, { logger });
  const { app } = createGatewayApp({ client, token: opts.token, logger, clock: systemClock, ...(opts.limits ? { limits: opts.limits } : {}) });
  const server = createServer(
    { requestTimeout: 0, headersTimeout: opts.headersTimeoutMs ?? GATEWAY_HEADERS_TIMEOUT_MS_DEFAULT, keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT, maxHeaderSize: GATEWAY_HEADER_BYTES_MAX_DEFAULT },
    app.callback(),
  );
  server.setTimeout(opts.idleTimeoutMs ?? GATEWAY_IDLE_TIMEOUT_MS_DEFAULT); // no 'timeout' listener: idle sockets are destroyed
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('gateway: no TCP address after listen');
  const url = `http://${addr.address}:${addr.port}`;
  logger.info('gateway listening', { url, meta: opts.metaAddrs.join(',') });
  return {
    url,
    server,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      client.close();
    },
  };
}

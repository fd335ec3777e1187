/**
 * Composition root of `cairn gateway`: the HTTP API (src/api) on a Node HTTP server, over one
 * CairnClient shared by every request.
 *
 * Timeouts: no limit on a whole request (a many-GiB upload takes as long as it takes), but a
 * socket silent for idleTimeoutMs is closed — an upload whose client stalls is then aborted and
 * leaves no file — and request headers must arrive within headersTimeoutMs. Uploads (/v1 and S3)
 * share one budget of bytes held in memory (limits.uploadBufferBytesMax: beyond it new uploads
 * get 503 + Retry-After) and an upload receiving nothing for limits.uploadIdleTimeoutMs is cut
 * off, committing nothing (api/upload-budget.ts).
 */
import { readFileSync, statSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { ServerTls } from './tls-files.js';
import { createGatewayApp, DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from '../api/gateway-app.js';
import { createS3App } from '../api/s3-app.js';
import { S3Credentials, type CredentialsSource } from '../api/s3-credentials.js';
import { S3UploadExpiry, UPLOAD_EXPIRY_HOURS_DEFAULT } from '../api/s3-upload-expiry.js';
import { createCairnClient } from '../client/create-cairn-client.js';
import { parseHostPort } from '../proto/addr.js';
import { secureRandomBytes, systemClock, systemTimers, wallClockMs } from '../env/system.js';
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
  /** Also serve the S3-compatible API (docs/s3.md) on its own address. */
  s3?: S3Options;
  /** HTTPS on both listeners, and TLS towards the cluster (tls-files.ts); absent: plain. */
  tls?: ServerTls | null;
}

export interface S3Options {
  /** host:port (port 0: any free port). */
  listen: string;
  /**
   * A file of `ACCESS_KEY_ID:SECRET_KEY` lines ('#' comments): the keys S3 requests may be signed
   * with (api/s3-credentials.ts), re-read when it changes (`cairn s3 keys`), no restart needed.
   */
  credentialsFile: string;
  /** @default 'us-east-1' */
  region?: string;
  /** Also serve virtual-host-style requests: Host `{bucket}.{domain}`. */
  domain?: string;
  /** Multipart uploads started longer ago are removed (api/s3-upload-expiry.ts). @default UPLOAD_EXPIRY_HOURS_DEFAULT (168) */
  uploadExpiryHours?: number;
}

/** The credentials file on disk, for S3Credentials (which re-reads it when it changes). */
export function credentialsFileSource(path: string): CredentialsSource {
  return {
    identity: () => {
      const st = statSync(path);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    },
    read: () => readFileSync(path, 'utf8'),
  };
}

export interface RunningGateway {
  url: string;
  /** The S3 endpoint's base URL, when served. */
  s3Url: string | null;
  server: Server;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions, logger: Logger): Promise<RunningGateway> {
  const { host, port } = parseHostPort(opts.listen, true);
  const client = createCairnClient({ metaAddrs: opts.metaAddrs, token: opts.token ?? '', tls: opts.tls ? { ca: opts.tls.ca } : null }, { logger });
  const limits = { ...DEFAULT_GATEWAY_LIMITS, ...opts.limits };
  const { app, metrics, uploads, stop } = createGatewayApp({ client, token: opts.token, logger, clock: systemClock, timers: systemTimers, limits });
  let s3: Server | null = null;
  let expiry: S3UploadExpiry | null = null;
  if (opts.s3) {
    const s3Addr = parseHostPort(opts.s3.listen, true);
    const s3App = createS3App({
      client,
      logger: logger.child({ component: 's3' }),
      clock: systemClock,
      timers: systemTimers,
      wallClockMs,
      randomHex: (n) => secureRandomBytes(n).toString('hex'),
      region: opts.s3.region ?? 'us-east-1',
      credentials: new S3Credentials({ source: credentialsFileSource(opts.s3.credentialsFile), clock: systemClock, logger }, { path: opts.s3.credentialsFile }),
      limits,
      metrics,
      domain: opts.s3.domain ?? null,
      uploads,
    });
    expiry = new S3UploadExpiry({ client, timers: systemTimers, wallClockMs, logger: logger.child({ component: 's3' }) }, { expiryMs: (opts.s3.uploadExpiryHours ?? UPLOAD_EXPIRY_HOURS_DEFAULT) * 3_600_000 });
    expiry.start();
    s3 = await listenHttp(opts, s3Addr.port, s3Addr.host, s3App.callback());
    logger.info('s3 listening', { url: urlOf(s3) });
  }
  const server = await listenHttp(opts, port, host, app.callback());
  const url = urlOf(server);
  logger.info('gateway listening', { url, meta: opts.metaAddrs.join(',') });
  const closeServer = (srv: Server): Promise<void> =>
    new Promise<void>((resolve) => {
      srv.close(() => resolve());
      srv.closeIdleConnections();
    });
  return {
    url,
    s3Url: s3 === null ? null : urlOf(s3),
    server,
    close: async () => {
      stop();
      expiry?.stop();
      await Promise.all([closeServer(server), ...(s3 === null ? [] : [closeServer(s3)])]);
      client.close();
    },
  };
}

async function listenHttp(opts: GatewayOptions, port: number, host: string, handler: RequestListener): Promise<Server> {
  const tls = opts.tls ?? null;
  const server = (tls ? (o: object, h: RequestListener) => createHttpsServer({ ...o, cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) }, h) : createServer)(
    { requestTimeout: 0, headersTimeout: opts.headersTimeoutMs ?? GATEWAY_HEADERS_TIMEOUT_MS_DEFAULT, keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT, maxHeaderSize: GATEWAY_HEADER_BYTES_MAX_DEFAULT },
    handler,
  );
  server.setTimeout(opts.idleTimeoutMs ?? GATEWAY_IDLE_TIMEOUT_MS_DEFAULT); // no 'timeout' listener: idle sockets are destroyed
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function urlOf(server: Server): string {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('gateway: no TCP address after listen');
  return `${server instanceof HttpsServer ? 'https' : 'http'}://${addr.address}:${addr.port}`;
}

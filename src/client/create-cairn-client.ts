/**
 * createCairnClient(config): a CairnClient over the real transports — a MetaSession dialing
 * the metadata servers over TCP (net/RpcClient), a ChunkClient for the chunk servers' HTTP data
 * plane — on the system clock, timers and randomness. The one place in src/client that touches
 * env/system.
 */
import { ChunkClient } from '../chunk/chunk-client.js';
import { secureRandomBytes, systemClock, systemRng, systemTimers } from '../env/system.js';
import { RpcClient } from '../net/rpc-client.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { CairnClient, type CairnClientOptions } from './cairn-client.js';
import type { ClientConfig } from './client-config.js';
import { MetaSession } from './meta-session.js';
import { CHUNK_IDLE_TIMEOUT_MS_DEFAULT, META_MEMBER_REFRESH_MS_DEFAULT } from '../config/defaults.js';

export interface CreateCairnClientOptions extends CairnClientOptions {
  /** Per-attempt timeout of a metadata call. @default 5000 */
  callTimeoutMs?: number;
  /** Give up retrying a metadata call after this long. @default 30000 */
  retryDeadlineMs?: number;
  /** A chunk-server request with no traffic this long fails over (Timeout). @default 30000 */
  chunkIdleTimeoutMs?: number;
  logger?: Logger;
}

/** Connecting to one metadata server gives up after this long (the session tries the next). */
const META_CONNECT_TIMEOUT_MS = 3000;

export function createCairnClient(config: ClientConfig, options: CreateCairnClientOptions = {}): CairnClient {
  const logger = options.logger ?? silentLogger;
  const meta = new MetaSession(
    {
      dial: (addr) => new RpcClient({ timers: systemTimers }, { addr, clientToken: config.token, connectTimeoutMs: META_CONNECT_TIMEOUT_MS, tls: config.tls ?? null }),
      clock: systemClock,
      timers: systemTimers,
      rng: systemRng,
    },
    {
      addrs: config.metaAddrs,
      memberRefreshMs: META_MEMBER_REFRESH_MS_DEFAULT,
      ...(options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs }),
      ...(options.retryDeadlineMs === undefined ? {} : { retryDeadlineMs: options.retryDeadlineMs }),
    },
  );
  const chunks = new ChunkClient({ logger: logger.child({ component: 'cairn-client' }) }, { idleTimeoutMs: options.chunkIdleTimeoutMs ?? CHUNK_IDLE_TIMEOUT_MS_DEFAULT, tls: config.tls ?? null });
  // The client id keys exactly-once writes: it must not collide with another client's.
  const clientId = options.clientId ?? `cl-${secureRandomBytes(12).toString('hex')}`;
  return new CairnClient({ meta, chunks, timers: systemTimers, clock: systemClock, rng: systemRng, logger }, { ...clientOptions(options), clientId });
}

function clientOptions(o: CreateCairnClientOptions): CairnClientOptions {
  return {
    ...(o.chunkSize === undefined ? {} : { chunkSize: o.chunkSize }),
    ...(o.uploadsInflight === undefined ? {} : { uploadsInflight: o.uploadsInflight }),
    ...(o.readAhead === undefined ? {} : { readAhead: o.readAhead }),
    ...(o.inlineBytesMax === undefined ? {} : { inlineBytesMax: o.inlineBytesMax }),
  };
}

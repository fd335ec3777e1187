/**
 * The HTTP API of CONTRACT.md on koa + @koa/router + busboy, over the client library: bodies
 * stream chunk by chunk to the chunk servers and back, with backpressure both ways, so the
 * gateway's memory does not grow with file size.
 *
 * Order of middleware (gateway-middleware.ts): access log + metrics → JSON errors → overload
 * limits → the web console's static files (console/) → auth → routes (service-routes.ts,
 * namespace-routes.ts, file-routes.ts with multipart-upload.ts, console/) → 405/404.
 *
 * Decisions where CONTRACT.md is silent (see README "HTTP API"; the file routes hold the rest):
 *   - /healthz is open (load balancers), and so are the web console's static files under /ui/
 *     (console/console-routes.ts: no data in them); everything else, /metrics included, needs the token.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { CairnClient } from '../client/cairn-client.js';
import type { Clock, Timers } from '../env/clock.js';
import type { Logger } from '../util/logger.js';
import { ConsoleRoutes } from './console/console-routes.js';
import { fileRoutes } from './file-routes.js';
import type { GatewayState, RouteDeps } from './gateway-context.js';
import { DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from './gateway-limits.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { accessLog, bearerAuth, jsonErrors, overloadLimits } from './gateway-middleware.js';
import { namespaceRoutes } from './namespace-routes.js';
import { noRoute, serviceRoutes } from './service-routes.js';
import { UploadBudget } from './upload-budget.js';

export { DEFAULT_GATEWAY_LIMITS, type GatewayLimits } from './gateway-limits.js';

export interface GatewayDeps {
  client: CairnClient;
  /** The bearer token clients must present (null: no auth). */
  token: string | null;
  logger: Logger;
  /** Monotonic time for latencies (DESIGN rule 2: only env/system.ts reads the real clock). */
  clock: Clock;
  limits?: Partial<GatewayLimits>;
  metrics?: GatewayMetrics;
  /** Real timers: the web console's timeline samples and member probes, and the upload idle cut-off, run only with them. */
  timers?: Timers;
  /** Shared with the S3 app; made from `limits` when absent. */
  uploads?: UploadBudget;
}

/** Timers that never fire (no idle cut-off). */
const NO_TIMERS: Timers = { setTimeout: () => ({ cancel: () => undefined }), setInterval: () => ({ cancel: () => undefined }) };

/** The upload budget of a gateway with these limits. */
export function uploadBudget(limits: GatewayLimits, clock: Clock, timers: Timers | undefined): UploadBudget {
  return new UploadBudget({ timers: timers ?? NO_TIMERS, clock }, { bytesMax: limits.uploadBufferBytesMax, idleTimeoutMs: limits.uploadIdleTimeoutMs });
}

/** `stop()` ends the console's background sampling (the gateway's close). */
export function createGatewayApp(deps: GatewayDeps): { app: Koa<GatewayState>; metrics: GatewayMetrics; uploads: UploadBudget; stop: () => void } {
  const limits: GatewayLimits = { ...DEFAULT_GATEWAY_LIMITS, ...deps.limits };
  const metrics = deps.metrics ?? new GatewayMetrics();
  metrics.watchRepair(() => deps.client.repairStatus());
  const { client, logger } = deps;
  const app = new Koa<GatewayState>();
  app.silent = true;
  app.on('error', (err: unknown) => logger.warn('response error', { err: err instanceof Error ? err.message : String(err) }));

  app.use(accessLog({ clock: deps.clock, logger, metrics, newRequestId: () => client.newRequestId() }));
  app.use(jsonErrors(logger));
  app.use(overloadLimits(limits, metrics));
  const webConsole = new ConsoleRoutes({ client, clock: deps.clock, metrics, ...(deps.timers ? { timers: deps.timers } : {}) }, { token: deps.token });
  app.use(webConsole.assets()); // open: the sign-in page must load before a token is known
  app.use(bearerAuth(deps.token));

  const router = new Router<GatewayState>();
  const uploads = deps.uploads ?? uploadBudget(limits, deps.clock, deps.timers);
  metrics.watchUploads(uploads);
  const routeDeps: RouteDeps = { client, limits, metrics, uploads };
  serviceRoutes(router, routeDeps);
  namespaceRoutes(router, routeDeps);
  fileRoutes(router, routeDeps);
  webConsole.routes(router, routeDeps);
  app.use(router.routes());
  app.use(noRoute());
  return { app, metrics, uploads, stop: () => webConsole.stop() };
}

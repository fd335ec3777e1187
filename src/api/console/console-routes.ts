/**
 * The web console on the gateway (docs/console.md):
 *
 *   GET /ui, /ui/…                 the page, its stylesheet and scripts (console-assets.ts): open,
 *                                  no data in them; installed BEFORE the token check so the
 *                                  sign-in form can load
 *   GET /v1/console/cluster        the cluster view's figures (console-cluster.ts)
 *   GET /v1/console/timeline       the last hour's samples (console-timeline.ts)
 *   GET /v1/console/stat/{path}    a file's details as `cairn stat --json` prints them
 *
 * The /v1/console routes are read-only and need the same bearer token as the rest of /v1; the
 * console sends it from the tab's sessionStorage in an Authorization header, never in a URL or
 * cookie. Everything the console writes goes through the ordinary /v1 routes.
 */
import type Router from '@koa/router';
import type Koa from 'koa';
import type { CairnClient } from '../../client/index.js';
import type { Clock, Timers } from '../../env/clock.js';
import { RemotePath } from '../../proto/path.js';
import { crcToHex } from '../../util/crc32c.js';
import { errorBody, remotePath, type GatewayCtx, type GatewayState, type RouteDeps } from '../gateway-context.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import { CONSOLE_ASSETS } from './console-assets.js';
import { ConsoleCluster } from './console-cluster.js';
import { ConsoleTimeline } from './console-timeline.js';

/**
 * The page runs only scripts and styles the gateway serves itself (no inline script, no
 * eval, no other origin), may talk only to its own origin, and cannot be framed.
 */
export const CONSOLE_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const UI = '/ui';
const STAT = '/v1/console/stat';

export interface ConsoleComponents {
  client: CairnClient;
  clock: Clock;
  metrics: GatewayMetrics;
  /** Without timers there is no timeline sampling and no member probes (the leader's view alone). */
  timers?: Timers;
}

export interface ConsoleOptions {
  /** The client token (members are asked for their Raft status with it). */
  token: string | null;
}

/** Sum of a prom-client counter's values. */
async function counterValue(c: GatewayMetrics['bytesIn']): Promise<number> {
  return (await c.get()).values.reduce((n, v) => n + v.value, 0);
}

export class ConsoleRoutes {
  private readonly timeline: ConsoleTimeline | null;
  private readonly cluster: ConsoleCluster;

  constructor(c: ConsoleComponents, o: ConsoleOptions) {
    this.cluster = new ConsoleCluster({ client: c.client, clock: c.clock, ...(c.timers ? { timers: c.timers } : {}) }, { token: o.token ?? '' });
    this.timeline =
      c.timers === undefined
        ? null
        : new ConsoleTimeline({
            clock: c.clock,
            timers: c.timers,
            repairStats: () => c.client.repairStatus(),
            bytesTotals: async () => ({ bytesIn: await counterValue(c.metrics.bytesIn), bytesOut: await counterValue(c.metrics.bytesOut) }),
          });
    this.timeline?.start();
  }

  /** The console's static files: GET/HEAD /ui → /ui/, /ui/{asset}; anything else passes on. */
  assets(): Koa.Middleware<GatewayState> {
    return async (ctx, next) => {
      if (ctx.path !== UI && !ctx.path.startsWith(`${UI}/`)) return next();
      ctx.state.route = 'console-ui';
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
      if (ctx.path === UI) {
        ctx.status = 301;
        ctx.redirect(`${UI}/`);
        return;
      }
      const name = ctx.path.slice(UI.length + 1) || 'index.html';
      const asset = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
      if (asset === undefined) {
        ctx.status = 404;
        ctx.body = errorBody('NotFound', `the console has no ${ctx.path}`);
        return;
      }
      ctx.set('Content-Security-Policy', CONSOLE_CSP);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      ctx.set('X-Frame-Options', 'DENY');
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = asset.type;
      ctx.body = asset.body;
    };
  }

  routes(router: Router<GatewayState>, deps: RouteDeps): void {
    const { client } = deps;
    router.get('/v1/console/cluster', async (ctx) => {
      ctx.state.route = 'console-cluster';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await this.cluster.report();
    });

    router.get('/v1/console/timeline', (ctx) => {
      ctx.state.route = 'console-timeline';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = this.timeline?.snapshot() ?? { nowMs: 0, sampleMs: 0, samples: [] };
    });

    const stat = async (ctx: GatewayCtx): Promise<void> => {
      ctx.state.route = 'console-stat';
      const path = ctx.path === STAT || ctx.path === `${STAT}/` ? RemotePath.ROOT : remotePath(ctx.path, `${STAT}/`);
      const st = await client.stat(path);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { path: st.path, type: st.type, size: st.size, mtime: st.mtime, etag: st.etag, crc32c: st.crc32c === null ? null : crcToHex(st.crc32c), chunks: st.chunks };
    };
    router.get(STAT, stat);
    router.get(/^\/v1\/console\/stat\/.*$/, stat);
  }

  /** Stops sampling and closes the member connections. */
  stop(): void {
    this.timeline?.stop();
    this.cluster.close();
  }
}

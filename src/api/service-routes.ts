/** Routes about the service itself: /healthz, /metrics, /v1/status, and the answer when no route matched. */
import type Router from '@koa/router';
import type Koa from 'koa';
import { FILES, LS, errorBody, type GatewayState, type RouteDeps } from './gateway-context.js';

export function serviceRoutes(router: Router<GatewayState>, deps: RouteDeps): void {
  const { client, metrics } = deps;

  router.get('/healthz', (ctx) => {
    ctx.state.route = 'healthz';
    ctx.body = { ok: true };
  });

  router.get('/metrics', async (ctx) => {
    ctx.state.route = 'metrics';
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  router.get('/v1/status', async (ctx) => {
    ctx.state.route = 'status';
    ctx.body = await client.status();
  });
}

/** No route matched: a known resource with another method is 405, anything else 404. */
export function noRoute(): Koa.Middleware<GatewayState> {
  return (ctx) => {
    const allow = ctx.path.startsWith(FILES)
      ? 'GET, HEAD, PUT, POST, DELETE'
      : ctx.path === LS || ctx.path.startsWith(`${LS}/`) || ['/v1/status', '/healthz', '/metrics'].includes(ctx.path)
        ? 'GET, HEAD'
        : ctx.path === '/v1/mv'
          ? 'POST'
          : null;
    if (allow !== null) {
      ctx.status = 405;
      ctx.set('Allow', allow);
      ctx.body = errorBody('MethodNotAllowed', `${ctx.method} is not allowed on ${ctx.path}`);
      return;
    }
    ctx.status = 404;
    ctx.body = errorBody('NotFound', `no route for ${ctx.method} ${ctx.path}`);
  };
}

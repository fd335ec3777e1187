/** Namespace routes without file bodies: GET /v1/ls[/{dir}] (paged listing) and POST /v1/mv. */
import type Router from '@koa/router';
import { LIST_LIMIT_DEFAULT } from '../config/defaults.js';
import { RemotePath } from '../proto/path.js';
import { CairnError } from '../util/errors.js';
import { LS, readJson, remotePath, type GatewayCtx, type GatewayState, type RouteDeps } from './gateway-context.js';

export function namespaceRoutes(router: Router<GatewayState>, deps: RouteDeps): void {
  const { client, limits } = deps;

  router.post('/v1/mv', async (ctx) => {
    ctx.state.route = 'mv';
    const body = await readJson(ctx.req, limits.jsonBytesMax);
    const b = body as { from?: unknown; to?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.from !== 'string' || typeof b.to !== 'string') {
      throw new CairnError('InvalidArgument', 'the body must be {"from": "/path", "to": "/path"}');
    }
    const from = RemotePath.parse(b.from);
    const to = RemotePath.parse(b.to);
    await client.mv(from, to);
    ctx.body = { from: from.text, to: to.text };
  });

  const ls = async (ctx: GatewayCtx): Promise<void> => {
    ctx.state.route = 'ls';
    const path = ctx.path === LS ? RemotePath.ROOT : remotePath(ctx.path, `${LS}/`);
    const q = ctx.query;
    let limit = LIST_LIMIT_DEFAULT;
    if (q.limit !== undefined) {
      if (typeof q.limit !== 'string' || !/^\d{1,6}$/.test(q.limit) || Number(q.limit) < 1 || Number(q.limit) > limits.listLimitMax) {
        throw new CairnError('InvalidArgument', `limit must be an integer from 1 to ${limits.listLimitMax}`);
      }
      limit = Number(q.limit);
    }
    if (q.cursor !== undefined && typeof q.cursor !== 'string') throw new CairnError('InvalidArgument', 'one cursor at most');
    const page = await client.list(path, { limit, cursor: q.cursor === undefined || q.cursor === '' ? null : q.cursor });
    ctx.body = { entries: page.entries.map((e) => ({ name: e.name, path: e.path, type: e.type, size: e.size, mtime: e.mtime })), cursor: page.cursor };
  };
  router.get(LS, ls);
  router.get(/^\/v1\/ls\/.*$/, ls);
}

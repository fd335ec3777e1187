/**
 * Namespace routes without file bodies: GET /v1/ls[/{dir}] (paged listing), POST /v1/mv and
 * POST /v1/mkdir/{path}[?parents=true] (201 {"path"} when created, 200 when that directory
 * exists already, 409 AlreadyExists when a file is there; without parents a missing parent is
 * 404 NotFound).
 */
import type Router from '@koa/router';
import { LIST_LIMIT_DEFAULT } from '../config/defaults.js';
import { RemotePath } from '../proto/path.js';
import { CairnError, isCairnError } from '../util/errors.js';
import { LS, readJson, remotePath, type GatewayCtx, type GatewayState, type RouteDeps } from './gateway-context.js';

const MKDIR = '/v1/mkdir';

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

  const mkdir = async (ctx: GatewayCtx): Promise<void> => {
    ctx.state.route = 'mkdir';
    const path = ctx.path === MKDIR ? RemotePath.ROOT : remotePath(ctx.path, `${MKDIR}/`);
    const p = ctx.query.parents;
    if (p !== undefined && p !== 'true' && p !== 'false') throw new CairnError('InvalidArgument', 'parents must be true or false');
    const existing = async (): Promise<'dir' | 'file' | null> =>
      client.stat(path).then(
        (st) => st.type,
        (e: unknown) => (isCairnError(e, 'NotFound') ? null : Promise.reject(e)),
      );
    // The stat first: mkdir -p succeeds on an existing directory, so its answer cannot tell 201 from 200.
    let type = await existing();
    if (type === null) {
      try {
        await client.mkdir(path, { parents: p === 'true' });
        ctx.status = 201;
        ctx.body = { path: path.text };
        return;
      } catch (e) {
        if (!isCairnError(e, 'AlreadyExists')) throw e;
        type = await existing(); // created meanwhile by someone else
        if (type === null) throw e;
      }
    }
    if (type === 'file') throw new CairnError('AlreadyExists', `${path.text} is a file`);
    ctx.status = 200;
    ctx.body = { path: path.text };
  };
  router.post(MKDIR, mkdir);
  router.post(/^\/v1\/mkdir\/.*$/, mkdir);
}


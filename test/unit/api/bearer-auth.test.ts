/**
 * The gateway's bearer token on keep-alive connections: a connection that presented the right
 * token once is remembered with that exact header, so any other header on it — a wrong token,
 * none — is still refused, and no other connection is let in by it. Real HTTP on loopback.
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayOnLoopback } from '../../support/gateway-on-loopback.js';

describe('gateway: bearer token on a keep-alive connection', () => {
  let port = 0;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ port, close } = await gatewayOnLoopback('right-token'));
  });
  afterAll(() => close());

  /** GET of a route that does not exist: 404 once authorized, 401 before. */
  const get = (agent: Agent, authorization: string | undefined): Promise<{ status: number; reused: boolean }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/v1/no-such-route', agent, headers: authorization === undefined ? {} : { authorization } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });

  it('asks every request on a connection for the header it was accepted with', async () => {
    const one = new Agent({ keepAlive: true, maxSockets: 1 });
    const other = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const seen: Array<[number, boolean]> = [];
      for (const h of ['Bearer right-token', 'Bearer right-token', 'Bearer wrong-token', undefined, 'Bearer right-token', 'bearer right-token', 'Bearer right-tokenx']) {
        const r = await get(one, h);
        seen.push([r.status, r.reused]);
      }
      // Every request after the first rode the same connection (the cases the memory covers).
      expect(seen).toEqual([
        [404, false],
        [404, true],
        [401, true],
        [401, true],
        [404, true],
        [404, true],
        [401, true],
      ]);
      // A second connection gets nothing from the first one's success.
      expect((await get(other, undefined)).status).toBe(401);
      expect((await get(other, 'Bearer wrong-token')).status).toBe(401);
      expect((await get(other, 'Bearer right-token')).status).toBe(404);
    } finally {
      one.destroy();
      other.destroy();
    }
  });
});

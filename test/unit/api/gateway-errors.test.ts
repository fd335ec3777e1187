/**
 * The gateway's answer to failures it did not expect: a client library that throws a plain
 * Error (a bug, or a fault below it) gives 500 {"error":{"code":"Internal"}} without the
 * internal message, and the gateway keeps serving. The client is a fault-injecting stand-in;
 * every route against a real cluster is in test/integration/gateway-api.test.ts.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayApp } from '../../../src/api/gateway-app.js';
import type { CairnClient } from '../../../src/client/index.js';
import { systemClock } from '../../../src/env/system.js';
import { CairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

describe('gateway: unexpected failures', () => {
  let server: Server;
  let base: string;
  let statusCalls = 0;
  const faulty = {
    status: async () => {
      statusCalls++;
      if (statusCalls === 1) throw new Error('lmdb: MDB_CORRUPTED in /var/lib/cairn/secret-path');
      if (statusCalls === 2) throw new TypeError("Cannot read properties of undefined (reading 'x')");
      throw new CairnError('Unavailable', 'no metadata leader answers');
    },
    repairStatus: async () => null,
    newRequestId: () => 'rid-1',
  } as unknown as CairnClient;

  beforeAll(async () => {
    const { app } = createGatewayApp({ client: faulty, token: 't', logger: silentLogger, clock: systemClock });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const status = () => fetch(`${base}/v1/status`, { headers: { authorization: 'Bearer t' } });

  it('a plain Error becomes 500 Internal with no internal detail, and the next request is served', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await status();
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('Internal');
      expect(body.error.message).not.toMatch(/secret-path|MDB|undefined/);
    }
    const res = await status();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('Unavailable');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

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
import { gatewayOnLoopback } from '../../support/gateway-on-loopback.js';
import { answeredAndClosed, refusedThenHealthz } from '../../support/raw-http.js';

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

describe('gateway: a refused request whose body was not read', () => {
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ port, close } = await gatewayOnLoopback('t'));
  });
  afterAll(() => close());

  const refusedPut = (length: number): string => `PUT /v1/files/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer wrong\r\nContent-Length: ${length}\r\n\r\n`;

  it('a body of known, bounded length is read and dropped after the answer: the client still sending it is not cut off, and its next request is served', async () => {
    const r = await refusedThenHealthz(port, refusedPut(1 << 20), '"Unauthorized"', 1 << 20);
    expect(r.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.answer.toLowerCase()).not.toContain('connection: close');
    expect(r.text).toMatch(/HTTP\/1\.1 200 /);
    expect(r.closed).toBe(false);
  });

  it('a longer body, or one of unknown length, closes the connection after the answer', async () => {
    for (const head of [refusedPut(1 << 30), 'PUT /v1/files/x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer wrong\r\nTransfer-Encoding: chunked\r\n\r\n']) {
      const text = await answeredAndClosed(port, head);
      expect(text).toMatch(/^HTTP\/1\.1 401 /);
      expect(text.toLowerCase()).toContain('connection: close');
    }
  });
});

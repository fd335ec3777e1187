/**
 * A gateway app (api/gateway-app.ts) listening on 127.0.0.1, for tests that need its HTTP
 * behaviour without a cluster: the client library is a stand-in answering only newRequestId.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayApp } from '../../src/api/gateway-app.js';
import type { CairnClient } from '../../src/client/index.js';
import { systemClock } from '../../src/env/system.js';
import { silentLogger } from '../../src/util/logger.js';

export async function gatewayOnLoopback(token: string): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const client = { newRequestId: () => 'rid-1' } as unknown as CairnClient;
  const { app } = createGatewayApp({ client, token, logger: silentLogger, clock: systemClock });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { server, port: (server.address() as AddressInfo).port, close };
}

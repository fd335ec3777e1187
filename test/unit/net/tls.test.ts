/**
 * TLS on the framed transport (net/tls.ts): RPC and peer frames flow over TLS when the server
 * presents a certificate the dialer's CA signed; a dialer trusting another CA is refused with
 * Unauthorized (not retried as Unavailable), a certificate for another address is refused, and
 * a plain dialer gets no service from a TLS server. Certificates are made with the openssl CLI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from '../../../src/net/rpc-client.js';
import { PeerTransport } from '../../../src/net/peer-transport.js';
import { isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';
import { components, SECRET, startServer, TOKEN, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-tls-unit-'));
const pem = (name: string): Buffer => readFileSync(join(dir, name));
let server: { cert: Buffer; key: Buffer; ca: Buffer };
let wrongName: { cert: Buffer; key: Buffer; ca: Buffer };

beforeAll(() => {
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  run(['req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=other CA']);
  for (const [name, san] of [['server', 'IP:127.0.0.1'], ['elsewhere', 'IP:10.9.9.9']] as const) {
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(dir, `${name}.cnf`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.cnf`]);
  }
  server = { cert: pem('server.pem'), key: pem('server.key'), ca: pem('ca.pem') };
  wrongName = { cert: pem('elsewhere.pem'), key: pem('elsewhere.key'), ca: pem('ca.pem') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('TLS transport', () => {
  it('carries RPC to a server whose certificate the CA signed', async () => {
    const { server: srv, addr } = await startServer({ rpc: async (method, body) => ({ method, body }) }, { tls: server });
    const c = new RpcClient(components, { addr, clientToken: TOKEN, tls: { ca: pem('ca.pem') } });
    try {
      expect(await c.call('echo', { x: 1 })).toEqual({ method: 'echo', body: { x: 1 } });
      expect((await c.call('echo', { big: 'y'.repeat(1 << 20) }) as { body: { big: string } }).body.big.length).toBe(1 << 20);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it('refuses a server signed by another CA, or certified for another address, as Unauthorized; a plain dialer gets nothing', async () => {
    const { server: srv, addr } = await startServer({ rpc: async () => 'ok' }, { tls: server });
    const { server: srv2, addr: addr2 } = await startServer({ rpc: async () => 'ok' }, { tls: wrongName });
    const other = new RpcClient(components, { addr, clientToken: TOKEN, tls: { ca: pem('other.pem') } });
    const misnamed = new RpcClient(components, { addr: addr2, clientToken: TOKEN, tls: { ca: pem('ca.pem') } });
    const plain = new RpcClient(components, { addr, clientToken: TOKEN, connectTimeoutMs: 500 });
    try {
      const a = await failure(other.call('x', {}));
      expect(a.code).toBe('Unauthorized');
      expect(a.message).toMatch(/TLS certificate not trusted/);
      expect((await failure(misnamed.call('x', {}))).code).toBe('Unauthorized');
      expect(['Timeout', 'Unavailable']).toContain((await failure(plain.call('x', {}, { timeoutMs: 2000 }))).code);
    } finally {
      for (const c of [other, misnamed, plain]) c.close();
      await srv.close();
      await srv2.close();
    }
  });

  it('carries peer frames over TLS', async () => {
    const inbox: string[] = [];
    const { server: srv, addr } = await startServer({ onPeerFrame: (from, p) => void inbox.push(`${from}:${Buffer.from(p).toString()}`) }, { tls: server });
    const t = new PeerTransport({ ...components, logger: silentLogger }, { id: 'n1', clusterSecret: SECRET, tls: { ca: pem('ca.pem') } });
    try {
      t.setPeers(new Map([['n2', addr]]));
      expect(t.send('n2', Buffer.from('hello'))).toBe(true);
      await until(() => inbox.length === 1, 5000, 'peer frame');
      expect(inbox).toEqual(['n1:hello']);
    } finally {
      await t.close();
      await srv.close();
    }
  });
});

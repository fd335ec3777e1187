import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startMetricsHttp, startMetricsHttpOrWarn, type MetricsHttp } from '../../../src/server/metrics-http.js';
import { silentLogger } from '../../../src/util/logger.js';

describe('metrics-http', () => {
  const open: MetricsHttp[] = [];
  afterEach(async () => {
    for (const m of open.splice(0)) await m.close();
  });

  async function serve(token: string | null): Promise<MetricsHttp> {
    const registry = new Registry();
    new Counter({ name: 'cairn_test_things_total', help: 'things', registers: [registry] }).inc(3);
    const m = await startMetricsHttp(registry, { listen: '127.0.0.1:0', token }, silentLogger);
    open.push(m);
    return m;
  }

  it('serves Prometheus text to a holder of the token, 401 JSON to anyone else, /healthz openly', async () => {
    const m = await serve('s3cret-token-0123456789');
    expect(m.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const none = await fetch(m.url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="cairn"');
    expect(await none.json()).toEqual({ error: { code: 'Unauthorized', message: 'missing or wrong bearer token' } });
    expect((await fetch(m.url, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const yes = await fetch(m.url, { headers: { authorization: 'Bearer s3cret-token-0123456789' } });
    expect(yes.status).toBe(200);
    expect(yes.headers.get('content-type')).toContain('text/plain');
    expect(await yes.text()).toMatch(/^# TYPE cairn_test_things_total counter\ncairn_test_things_total 3$/m);
    const health = await fetch(m.url.replace('/metrics', '/healthz'));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('without a token needs none; other paths are 404, other methods 405', async () => {
    const m = await serve(null);
    expect((await fetch(m.url)).status).toBe(200);
    expect((await fetch(m.url.replace('/metrics', '/other'))).status).toBe(404);
    const post = await fetch(m.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('a port in use: startMetricsHttp fails, startMetricsHttpOrWarn runs on without metrics', async () => {
    const m = await serve(null);
    const taken = new URL(m.url).host;
    await expect(startMetricsHttp(new Registry(), { listen: taken, token: null }, silentLogger)).rejects.toThrow(/EADDRINUSE/);
    expect(await startMetricsHttpOrWarn(new Registry(), { listen: taken, token: null }, silentLogger)).toBeNull();
  });

  describe('with the server\'s TLS certificate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-metrics-tls-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    /** A CA made here and a certificate it signed for 127.0.0.1. */
    const makeTls = (): { cert: Buffer; key: Buffer; ca: Buffer } => {
      const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
      run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=server']);
      writeFileSync(join(dir, 'server.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
      run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.cnf']);
      const pem = (n: string): Buffer => readFileSync(join(dir, n));
      return { cert: pem('server.pem'), key: pem('server.key'), ca: pem('ca.pem') };
    };
    const get = (url: string, headers: Record<string, string>, ca: Buffer): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(url, { headers, ca }, (res) => {
          let body = '';
          res.on('data', (b: Buffer) => (body += b.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });

    it('serves HTTPS only: the metrics and /healthz to a client trusting the CA, nothing in plain HTTP', async () => {
      const tls = makeTls();
      const registry = new Registry();
      new Counter({ name: 'cairn_test_things_total', help: 'things', registers: [registry] }).inc(2);
      const m = await startMetricsHttp(registry, { listen: '127.0.0.1:0', token: 'tok-0123456789', tls }, silentLogger);
      open.push(m);
      expect(m.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const yes = await get(m.url, { authorization: 'Bearer tok-0123456789' }, tls.ca);
      expect(yes.status).toBe(200);
      expect(yes.body).toMatch(/^cairn_test_things_total 2$/m);
      expect((await get(m.url, {}, tls.ca)).status).toBe(401);
      expect((await get(m.url.replace('/metrics', '/healthz'), {}, tls.ca)).status).toBe(200);
      // The token never goes out in the clear: a plain-HTTP request gets no answer.
      await expect(fetch(m.url.replace('https:', 'http:'), { headers: { authorization: 'Bearer tok-0123456789' } })).rejects.toThrow();
    });
  });
});

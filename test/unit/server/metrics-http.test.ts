import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
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
});

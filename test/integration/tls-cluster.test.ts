/**
 * TLS on every link, with a CA and a server certificate made here with the openssl CLI: three
 * metadata servers (peers over TLS), three chunk servers (HTTPS data plane, TLS to the leader,
 * the write pipeline chunk → chunk over HTTPS) and a gateway (HTTPS, TLS towards the cluster),
 * all from the built CLI. put/get through the CLI and GET through the gateway are byte-exact
 * with every replica written; a client trusting another CA is refused (Unauthorized) and so is
 * an HTTPS client without the CA; a plain-TCP client gets nowhere.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep, systemClock, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { assertBuilt, CLI_PATH, failureLine, ok, patternBytes, runCli } from './cli-harness.js';

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

/** A CA, and a certificate it signed for 127.0.0.1 and localhost. */
function makeCertificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=cairn test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  openssl(dir, ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=cairn server']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=another CA']);
}

function httpsGet(url: string, headers: Record<string, string>, ca: Buffer | undefined): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, ...(ca ? { ca } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS on every link', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-tls-'));
  const procs: ChildProcess[] = [];

  afterAll(async () => {
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await gone;
      }),
    );
    rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('a cluster with TLS everywhere stores and serves files byte-exact; clients without the CA are refused', async () => {
    assertBuilt();
    makeCertificates(root);
    writeFileSync(join(root, 'secret'), 'a1'.repeat(24), { mode: 0o600 });
    const token = 'b2'.repeat(24);
    writeFileSync(join(root, 'token'), token, { mode: 0o600 });
    const base = await findFreePortRange(1000, (n) => systemRng.int(n));
    const tls = ['--tls-cert', join(root, 'server.pem'), '--tls-key', join(root, 'server.key'), '--tls-ca', join(root, 'ca.pem')];
    const metaAddrs = [1, 2, 3].map((i) => `127.0.0.1:${base + i}`);
    const peers = metaAddrs.map((a, i) => `m${i + 1}=${a}`).join(',');
    const start = (args: string[]): void => void procs.push(spawn(process.execPath, [CLI_PATH, ...args, ...tls], { stdio: 'ignore' }));
    for (const [i, addr] of metaAddrs.entries()) {
      start(['meta', '--id', `m${i + 1}`, '--listen', addr, '--peers', peers, '--dir', join(root, `m${i + 1}`), '--secret-file', join(root, 'secret'), '--token-file', join(root, 'token'), '--tick-ms', '50']);
    }
    for (const i of [1, 2, 3]) {
      start(['chunk', '--id', `c${i}`, '--listen', `127.0.0.1:${base + 100 + i}`, '--dir', join(root, `c${i}`), '--meta', metaAddrs.join(','), '--secret-file', join(root, 'secret'), '--zone', `z${i}`, '--heartbeat-ms', '200']);
    }
    const gateway = `127.0.0.1:${base}`;
    start(['gateway', '--listen', gateway, '--meta', metaAddrs.join(','), '--token-file', join(root, 'token')]);

    const env = { CAIRN_META: metaAddrs.join(','), CAIRN_TOKEN: token };
    const ca = ['--tls-ca', join(root, 'ca.pem')];
    const deadline = systemClock.nowMs() + 45_000;
    for (;;) {
      const r = await runCli(['status', '--json', ...ca], { env });
      const s = r.code === 0 ? (JSON.parse(r.stdout.toString()) as { chunkServers: Array<{ state: string }> }) : null;
      if (s && s.chunkServers.filter((c) => c.state === 'alive').length === 3) break;
      if (systemClock.nowMs() > deadline) throw new Error(`TLS cluster not ready: ${r.stderr}`);
      await sleep(300);
    }

    const data = patternBytes(3_000_001, 11);
    writeFileSync(join(root, 'src'), data);
    ok(await runCli(['put', ...ca, join(root, 'src'), '/secure/f'], { env }));
    ok(await runCli(['get', ...ca, '/secure/f', join(root, 'back')], { env }));
    expect(readFileSync(join(root, 'back')).equals(data)).toBe(true);
    // Every replica was written: the chunk → chunk pipeline ran over HTTPS too.
    const st = JSON.parse(ok(await runCli(['stat', '--json', ...ca, '/secure/f'], { env })).stdout.toString()) as { chunks: Array<{ replicas: string[] }> };
    for (const c of st.chunks) expect(c.replicas.sort()).toEqual(['c1', 'c2', 'c3']);
    // CAIRN_TLS_CA works as the flag does.
    expect(ok(await runCli(['cat', '/secure/f'], { env: { ...env, CAIRN_TLS_CA: join(root, 'ca.pem') } })).stdout.equals(data)).toBe(true);

    const got = await httpsGet(`https://${gateway}/v1/files/secure/f`, { authorization: `Bearer ${token}` }, readFileSync(join(root, 'ca.pem')));
    expect(got.status).toBe(200);
    expect(got.body.equals(data)).toBe(true);

    // Without our CA: refused.
    const line = failureLine(await runCli(['ls', '--tls-ca', join(root, 'other.pem'), '/'], { env }), 'Unauthorized');
    expect(line).toMatch(/TLS certificate not trusted/);
    await expect(httpsGet(`https://${gateway}/healthz`, {}, undefined)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    await expect(httpsGet(`https://${gateway}/healthz`, {}, readFileSync(join(root, 'other.pem')))).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const plain = await runCli(['ls', '/'], { env, timeoutMs: 60_000 });
    expect(plain.code).not.toBe(0);
    expect(failureLine(plain, 'Unavailable')).toMatch(/no metadata server reachable/);
  }, 150_000);
});

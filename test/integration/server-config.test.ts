/**
 * Server settings from a config file and the environment only, against the BUILT CLI
 * (`npm run build` first): a chunk server whose command line is `cairn chunk --config FILE`
 * joins a cluster, listening on 0.0.0.0 and registered at its --advertise address (set by a
 * variable), and serves clients end to end; bad settings from each source fail with one line
 * naming the source and exit status 2.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { cairnArgv, LocalProcess } from '../../src/server/local-process.js';
import { assertBuilt, cliEnv, ok, patternBytes, runCli } from './cli-harness.js';

const READY_MS = 45_000;

describe('a chunk server from --config and the environment, listening on 0.0.0.0', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-server-config-'));
  let cluster: DevCluster;
  let chunk: LocalProcess;
  let advertise: string;
  let clientEnv: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    // One chunk server of the cluster's own and replicas 2: every chunk also lands on ours.
    cluster = new DevCluster({ dir: join(root, 'cluster'), portBase, meta: 1, chunks: 1, replicas: 2, heartbeatMs: 200, gateway: false });
    cluster.start();
    await cluster.waitReady(READY_MS);
    const port = portBase + 700;
    advertise = `127.0.0.1:${port}`;
    const config = join(root, 'c9.json');
    writeFileSync(config, JSON.stringify({ id: 'c9', listen: `0.0.0.0:${port}`, dir: join(root, 'c9'), 'heartbeat-ms': 200, zone: 'z9' }));
    chunk = new LocalProcess({
      id: 'c9',
      argv: cairnArgv('chunk', '--config', config),
      stderr: 'ignore',
      env: cliEnv({ CAIRN_CHUNK_ADVERTISE: advertise, CAIRN_META: cluster.metaAddrs.join(','), CAIRN_SECRET_FILE: join(root, 'cluster', 'cluster.secret') }),
    });
    chunk.start();
    clientEnv = { CAIRN_META: cluster.metaAddrs.join(','), CAIRN_TOKEN: cluster.token };
  }, 60_000);

  afterAll(async () => {
    await chunk?.kill('SIGTERM');
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('registers at its advertised address and holds a replica of what clients write, which they read back', async () => {
    const deadline = Date.now() + READY_MS;
    let servers: Array<{ id: string; addr: string; state: string }> = [];
    while (Date.now() < deadline) {
      expect(chunk.running, 'the chunk server exited').toBe(true);
      const r = await runCli(['status', '--json'], { env: clientEnv });
      if (r.code === 0) servers = (JSON.parse(r.stdout.toString('utf8')) as { chunkServers: typeof servers }).chunkServers;
      if (servers.some((s) => s.id === 'c9' && s.state === 'alive')) break;
      await sleep(200);
    }
    expect(servers.find((s) => s.id === 'c9')).toMatchObject({ addr: advertise, state: 'alive' });

    const local = join(root, 'data.bin');
    const body = patternBytes(300_000, 9);
    writeFileSync(local, body);
    ok(await runCli(['put', local, '/cfg/data.bin'], { env: clientEnv }));
    const stat = JSON.parse(ok(await runCli(['stat', '--json', '/cfg/data.bin'], { env: clientEnv })).stdout.toString('utf8')) as { chunks: Array<{ replicas: string[] }> };
    for (const c of stat.chunks) expect(c.replicas).toContain('c9');
    const got = ok(await runCli(['cat', '/cfg/data.bin'], { env: clientEnv }));
    expect(got.stdout.equals(body)).toBe(true);
  }, 90_000);
});

describe('a bad setting names its source and exits 2', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-server-config-bad-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each([
    ['a flag', ['chunk', '--id', 'c1', '--listen', 'nowhere', '--dir', 'd', '--meta', '127.0.0.1:1', '--secret-file', 's'], {}, 'cairn: InvalidArgument: --listen: address must be host:port: "nowhere"'],
    ['a variable', ['gateway', '--listen', '127.0.0.1:0', '--meta', '127.0.0.1:1'], { CAIRN_GATEWAY_INFLIGHT_MAX: 'many' }, 'cairn: InvalidArgument: CAIRN_GATEWAY_INFLIGHT_MAX: must be an integer >= 1: many'],
    ['a metadata server advertising another address than its --peers entry', ['meta', '--id', 'm1', '--listen', '0.0.0.0:7001', '--advertise', '127.0.0.1:7002', '--peers', 'm1=127.0.0.1:7001', '--dir', 'd', '--secret-file', 's'], {}, "cairn: InvalidArgument: --advertise 127.0.0.1:7002 is not this server's entry in --peers (m1=127.0.0.1:7001)"],
    ['settings that go together', ['gateway', '--listen', '127.0.0.1:0', '--meta', '127.0.0.1:1'], { CAIRN_GATEWAY_S3_LISTEN: '127.0.0.1:0' }, 'cairn: InvalidArgument: --s3-listen and --s3-credentials go together'],
    ['a missing required setting', ['meta', '--listen', '127.0.0.1:1', '--peers', 'm1=127.0.0.1:1', '--dir', 'd', '--secret-file', 's'], {}, 'cairn: InvalidArgument: missing --id (or CAIRN_META_ID, or "id" in the --config file)'],
  ])('%s', async (_, args, env, line) => {
    const r = await runCli(args, { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
  });

  it('a config file', async () => {
    const file = join(root, 'meta.json');
    writeFileSync(file, JSON.stringify({ id: 'm1', listen: '127.0.0.1:1', peers: 'm1=127.0.0.1:1', dir: 'd', 'secret-file': 's', 'tick-ms': 0 }));
    const r = await runCli(['meta'], { env: { CAIRN_META_CONFIG: file } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`cairn: InvalidArgument: config file ${file}: tick-ms: must be an integer >= 1: 0\n`);
  });
});

describe('cairn init', () => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-init-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes a random cluster secret and client token, 0600, in a new 0700 directory, printing neither', async () => {
    const dir = join(root, 'secrets');
    const r = ok(await runCli(['init', '--dir', dir]));
    const secret = readFileSync(join(dir, 'cluster.secret'), 'utf8');
    const token = readFileSync(join(dir, 'client.token'), 'utf8');
    expect(secret).toMatch(/^[0-9a-f]{64}\n$/);
    expect(token).toMatch(/^[0-9a-f]{48}\n$/);
    expect(statSync(join(dir, 'cluster.secret')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'client.token')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const printed = r.stdout.toString('utf8');
    expect(printed).toContain(join(dir, 'cluster.secret'));
    expect(printed).toContain(join(dir, 'client.token'));
    expect(printed).not.toContain(secret.trim());
    expect(printed).not.toContain(token.trim());

    const other = join(root, 'other');
    ok(await runCli(['init', '--dir', other]));
    expect(readFileSync(join(other, 'cluster.secret'), 'utf8')).not.toBe(secret);
  });

  it('refuses to overwrite either file, and then writes nothing', async () => {
    const dir = join(root, 'half');
    mkdirSync(dir);
    writeFileSync(join(dir, 'client.token'), 'keep-me-0123456789\n');
    const r = await runCli(['init', '--dir', dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(`cairn: AlreadyExists: ${join(dir, 'client.token')} already exists; not overwritten (remove it to make a new one)\n`);
    expect(readFileSync(join(dir, 'client.token'), 'utf8')).toBe('keep-me-0123456789\n');
    expect(existsSync(join(dir, 'cluster.secret'))).toBe(false);
  });
});

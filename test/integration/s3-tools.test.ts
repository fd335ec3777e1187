/**
 * Unmodified S3 command-line tools against `cairn dev`'s S3 endpoint: aws-cli (`aws s3 mb/cp/ls/
 * sync/rm`, `aws s3api`), and rclone (`copy`, `check`) — run from the machine's packages. A tool
 * that is not installed is reported on stderr and its test returns early (install them in CI:
 * `command -v aws || apt-get install -y awscli`, `command -v rclone || apt-get install -y rclone`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng, systemTimers } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, type ClusterJson } from '../../src/server/dev-cluster.js';
import { assertBuilt, patternBytes } from './cli-harness.js';

const MiB = 1024 * 1024;

function installed(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: env.HOME ?? tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = systemTimers.setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      timer.cancel();
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

describe('S3 tools against the S3 endpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-s3-tools-'));
  const local = join(dir, 'local');
  let cluster: DevCluster;
  let s3: NonNullable<ClusterJson['s3']>;
  const files: Record<string, Buffer> = {
    'a.txt': Buffer.from('hello from aws-cli\n'),
    'sub/b.bin': patternBytes(300 * 1024, 3),
    'sub/deeper/c.bin': patternBytes(2 * MiB + 11, 4),
    // Over aws-cli's 8 MiB multipart threshold: uploaded as a multipart upload.
    'big.bin': patternBytes(17 * MiB + 5, 5),
  };

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir: join(dir, 'cluster'), portBase, chunkSize: MiB });
    cluster.start();
    await cluster.waitReady(60_000);
    s3 = cluster.clusterJson().s3!;
    for (const [name, data] of Object.entries(files)) {
      mkdirSync(join(local, name, '..'), { recursive: true });
      writeFileSync(join(local, name), data);
    }
  }, 90_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const awsEnv = (): Record<string, string> => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_DEFAULT_REGION: s3.region,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    HOME: dir,
  });
  const aws = async (...args: string[]): Promise<string> => {
    const r = await run('aws', ['--endpoint-url', s3.url, ...args], awsEnv());
    expect(r.code, `aws ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };

  it('aws-cli: s3 mb, cp (single and multipart), ls, sync both ways, s3api head-object/list-objects-v2, rm', async () => {
    if (!installed('aws')) {
      process.stderr.write('s3-tools: aws-cli is not installed (apt-get install awscli); its test did not run\n');
      return;
    }
    await aws('s3', 'mb', 's3://tools');
    await aws('s3', 'cp', join(local, 'a.txt'), 's3://tools/one/a.txt');
    await aws('s3', 'cp', join(local, 'big.bin'), 's3://tools/one/big.bin');
    const ls = await aws('s3', 'ls', 's3://tools/one/');
    expect(ls).toMatch(/\s19 a\.txt/);
    expect(ls).toMatch(new RegExp(`\\s${files['big.bin']!.length} big\\.bin`));
    const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'tools', '--key', 'one/big.bin')) as { ETag: string; ContentLength: number };
    expect(head.ContentLength).toBe(files['big.bin']!.length);
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-\d+"$/); // a multipart upload's ETag
    const small = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'tools', '--key', 'one/a.txt')) as { ETag: string };
    expect(small.ETag).toBe(`"${createHash('md5').update(files['a.txt']!).digest('hex')}"`);
    await aws('s3', 'cp', 's3://tools/one/big.bin', join(dir, 'big.back'));
    expect(readFileSync(join(dir, 'big.back')).equals(files['big.bin']!)).toBe(true);
    // sync up, then down into an empty directory: the same tree.
    await aws('s3', 'sync', local, 's3://tools/synced');
    const listed = JSON.parse(await aws('s3api', 'list-objects-v2', '--bucket', 'tools', '--prefix', 'synced/')) as { Contents: Array<{ Key: string; Size: number }> };
    expect(listed.Contents.map((c) => c.Key).sort()).toEqual(Object.keys(files).map((f) => `synced/${f}`).sort());
    const again = await aws('s3', 'sync', local, 's3://tools/synced');
    expect(again.trim()).toBe(''); // nothing differs: nothing copied
    const down = join(dir, 'down');
    await aws('s3', 'sync', 's3://tools/synced', down);
    for (const [name, data] of Object.entries(files)) expect(readFileSync(join(down, name)).equals(data), name).toBe(true);
    await aws('s3', 'rm', '--recursive', 's3://tools/synced');
    const left = JSON.parse((await aws('s3api', 'list-objects-v2', '--bucket', 'tools', '--prefix', 'synced/')) || '{}') as { Contents?: unknown[] };
    expect(left.Contents ?? []).toEqual([]);
  }, 600_000); // aws-cli takes seconds to start on a loaded machine, and this runs it 14 times

  it('rclone: copy a tree up, check it (sizes and MD5s), copy it back', async () => {
    if (!installed('rclone')) {
      process.stderr.write('s3-tools: rclone is not installed (apt-get install rclone); its test did not run\n');
      return;
    }
    const env = {
      RCLONE_CONFIG_CAIRN_TYPE: 's3',
      RCLONE_CONFIG_CAIRN_PROVIDER: 'Other',
      RCLONE_CONFIG_CAIRN_ACCESS_KEY_ID: s3.accessKeyId,
      RCLONE_CONFIG_CAIRN_SECRET_ACCESS_KEY: s3.secretAccessKey,
      RCLONE_CONFIG_CAIRN_ENDPOINT: s3.url,
      RCLONE_CONFIG_CAIRN_REGION: s3.region,
      RCLONE_CONFIG: join(dir, 'no-rclone.conf'),
      HOME: dir,
    };
    const rclone = async (...args: string[]): Promise<void> => {
      const r = await run('rclone', args, env);
      expect(r.code, `rclone ${args.join(' ')}\n${r.stderr}`).toBe(0);
    };
    await rclone('mkdir', 'cairn:rcl');
    await rclone('copy', local, 'cairn:rcl/tree');
    await rclone('check', local, 'cairn:rcl/tree');
    const back = join(dir, 'rclone-back');
    await rclone('copy', 'cairn:rcl/tree', back);
    for (const [name, data] of Object.entries(files)) expect(readFileSync(join(back, name)).equals(data), name).toBe(true);
  }, 300_000);
});

/**
 * S3 gateway features beyond the operations (docs/s3.md), with the unmodified AWS SDK against a
 * real DevCluster (small chunks, small files inline): CompleteMultipartUpload without copying bytes (fs.concat) and
 * its copy fallback; `cairn s3 keys add|list|rm` taking effect in the running gateway; virtual-host
 * addressing (`--s3-domain`) with the SDK's forcePathStyle: false; an object whose chunk servers
 * are all down answered with an S3 error document (503), not a cut connection.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCairnClient, type CairnClient } from '../../src/client/index.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster, type ClusterJson } from '../../src/server/dev-cluster.js';
import { startGateway } from '../../src/server/gateway.js';
import { silentLogger } from '../../src/util/logger.js';
import { assertBuilt, patternBytes, runCli } from './cli-harness.js';

const CHUNK = 1024 * 1024;
const MiB = 1024 * 1024;
const md5 = (b: Uint8Array): Buffer => createHash('md5').update(b).digest();
const multipartEtag = (parts: Buffer[]): string => `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}"`;

describe('S3 gateway extras with the AWS SDK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-s3x-'));
  let cluster: DevCluster;
  let s3: NonNullable<ClusterJson['s3']>;
  let client: S3Client;
  let lib: CairnClient;

  const make = (over: Partial<S3ClientConfig> = {}): S3Client =>
    new S3Client({ endpoint: s3.url, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, forcePathStyle: true, maxAttempts: 1, ...over });
  const bytesOf = async (body: unknown): Promise<Buffer> => Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK, inlineBytesMax: 64 * 1024 });
    cluster.start();
    await cluster.waitReady(60_000);
    s3 = cluster.clusterJson().s3!;
    client = make();
    lib = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
    await client.send(new CreateBucketCommand({ Bucket: 'cat' }));
  }, 90_000);

  afterAll(async () => {
    client?.destroy();
    lib?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('Complete joins the parts without copying: the object holds the parts\' chunks (short ones inside), the parts and the upload are gone', async () => {
    const parts = [patternBytes(5 * MiB + 1234, 1), patternBytes(6 * MiB - 77, 2), patternBytes(5 * MiB + 5, 3)];
    const up = await client.send(new CreateMultipartUploadCommand({ Bucket: 'cat', Key: 'j/oined', ContentType: 'text/x-j', Metadata: { m: '1' } }));
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) etags.push((await client.send(new UploadPartCommand({ Bucket: 'cat', Key: 'j/oined', UploadId: up.UploadId, PartNumber: i + 1, Body: p }))).ETag!);
    const partChunks = [];
    for (const e of (await lib.list(`/.s3-uploads/cat/${up.UploadId}`)).entries.filter((x) => x.name.startsWith('p'))) partChunks.push(...(await lib.stat(e.path)).chunks.map((c) => c.id));
    const done = await client.send(new CompleteMultipartUploadCommand({ Bucket: 'cat', Key: 'j/oined', UploadId: up.UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) } }));
    expect(done.ETag).toBe(multipartEtag(parts));
    const st = await lib.stat('/cat/j/oined');
    // The parts' own chunks, in order: no byte was copied.
    expect(st.chunks.map((c) => c.id)).toEqual(partChunks);
    const full = (n: number): number[] => new Array<number>(n).fill(CHUNK);
    expect(st.chunks.map((c) => c.size)).toEqual([...full(5), 1234, ...full(5), CHUNK - 77, ...full(5), 5]);
    const whole = Buffer.concat(parts);
    const g = await client.send(new GetObjectCommand({ Bucket: 'cat', Key: 'j/oined' }));
    expect(g).toMatchObject({ ETag: done.ETag, ContentType: 'text/x-j', Metadata: { m: '1' }, ContentLength: whole.length });
    expect((await bytesOf(g.Body)).equals(whole)).toBe(true);
    // Ranges across the short chunks at the part boundaries, byte-exact.
    for (const [a, b] of [[5 * MiB, 5 * MiB + 1300], [5 * MiB + 1233, 11 * MiB + 2000], [whole.length - 10, whole.length - 1]]) {
      const r = await client.send(new GetObjectCommand({ Bucket: 'cat', Key: 'j/oined', Range: `bytes=${a}-${b}` }));
      expect((await bytesOf(r.Body)).equals(whole.subarray(a, b! + 1)), `bytes=${a}-${b}`).toBe(true);
    }
    await expect(lib.stat(`/.s3-uploads/cat/${up.UploadId}`)).rejects.toMatchObject({ code: 'NotFound' });
    expect((await client.send(new ListMultipartUploadsCommand({ Bucket: 'cat' }))).Uploads ?? []).toEqual([]);
  }, 120_000);

  it('a part the namespace cannot join (stored inline) makes Complete copy the bytes instead, with the same answer', async () => {
    const p1 = patternBytes(5 * MiB, 4);
    const p2 = patternBytes(3000, 5);
    const up = await client.send(new CreateMultipartUploadCommand({ Bucket: 'cat', Key: 'fallback' }));
    const e1 = (await client.send(new UploadPartCommand({ Bucket: 'cat', Key: 'fallback', UploadId: up.UploadId, PartNumber: 1, Body: p1 }))).ETag!;
    // A small part as gateways before this one stored it: inline, with its MD5 in its name.
    await lib.put(`/.s3-uploads/cat/${up.UploadId}/p00002-${md5(p2).toString('hex')}`, p2);
    expect((await lib.stat(`/.s3-uploads/cat/${up.UploadId}/p00002-${md5(p2).toString('hex')}`)).chunks).toEqual([]);
    const done = await client.send(new CompleteMultipartUploadCommand({ Bucket: 'cat', Key: 'fallback', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: `"${md5(p2).toString('hex')}"` }] } }));
    expect(done.ETag).toBe(multipartEtag([p1, p2]));
    const g = await client.send(new GetObjectCommand({ Bucket: 'cat', Key: 'fallback' }));
    expect((await bytesOf(g.Body)).equals(Buffer.concat([p1, p2]))).toBe(true);
    expect((await lib.stat('/cat/fallback')).chunks.map((c) => c.size)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, 3000]);
    await expect(lib.stat(`/.s3-uploads/cat/${up.UploadId}`)).rejects.toMatchObject({ code: 'NotFound' });
  }, 120_000);

  it('cairn s3 keys add/list/rm: a new key works within seconds and a removed one is refused, without a restart', async () => {
    const file = join(dir, 's3.credentials');
    const errorName = async (c: S3Client): Promise<string> => {
      try {
        await c.send(new ListBucketsCommand({}));
        return 'ok';
      } catch (e) {
        return (e as { Code?: string; name: string }).Code ?? (e as Error).name;
      }
    };
    const add = await runCli(['s3', 'keys', 'add', '--file', file, '--json']);
    expect(add.code, add.stderr).toBe(0);
    const key = JSON.parse(add.stdout.toString()) as { accessKeyId: string; secretAccessKey: string };
    expect(key.accessKeyId).toMatch(/^[A-Z0-9]{16,}$/);
    const list = await runCli(['s3', 'keys', 'list', '--file', file]);
    expect(list.stdout.toString().trim().split('\n')).toEqual([s3.accessKeyId, key.accessKeyId]);
    expect((await runCli(['s3', 'keys', 'add', 'FIXEDID1', '--secret', 'a-secret-of-16+chars', '--file', file])).stdout.toString()).toBe('FIXEDID1 a-secret-of-16+chars\n');
    expect((await runCli(['s3', 'keys', 'add', 'FIXEDID1', '--file', file])).code).not.toBe(0); // exists
    const fresh = make({ credentials: key });
    const fixed = make({ credentials: { accessKeyId: 'FIXEDID1', secretAccessKey: 'a-secret-of-16+chars' } });
    const until = async (c: S3Client, want: string): Promise<void> => {
      for (let i = 0; i < 50 && (await errorName(c)) !== want; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await errorName(c)).toBe(want);
    };
    await until(fresh, 'ok');
    await until(fixed, 'ok');
    const rm = await runCli(['s3', 'keys', 'rm', key.accessKeyId, '--file', file]);
    expect(rm.code, rm.stderr).toBe(0);
    await until(fresh, 'InvalidAccessKeyId');
    expect(await errorName(fixed)).toBe('ok');
    expect(await errorName(client)).toBe('ok');
    const again = await runCli(['s3', 'keys', 'rm', key.accessKeyId, '--file', file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no access key/);
    fresh.destroy();
    fixed.destroy();
  }, 60_000);

  it('virtual-host style with --s3-domain: the SDK (forcePathStyle: false) addresses BUCKET.DOMAIN; path-style still works', async () => {
    const gw = await startGateway({ listen: '127.0.0.1:0', metaAddrs: cluster.metaAddrs, token: cluster.token, s3: { listen: '127.0.0.1:0', credentialsFile: join(dir, 's3.credentials'), domain: 's3.cairn.test' } }, silentLogger);
    const port = new URL(gw.s3Url!).port;
    const hosts: string[] = [];
    const vhost = make({ endpoint: `http://s3.cairn.test:${port}`, forcePathStyle: false });
    // No DNS for *.s3.cairn.test: connect to the gateway, keeping the signed Host header.
    vhost.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { hostname: string; headers: Record<string, string> };
        hosts.push(req.headers.host ?? '');
        req.hostname = '127.0.0.1';
        return next(args);
      },
      { step: 'deserialize', name: 'toLoopback' },
    );
    const path = make({ endpoint: gw.s3Url! });
    try {
      await vhost.send(new PutObjectCommand({ Bucket: 'cat', Key: 'v/host.txt', Body: 'by virtual host' }));
      expect(hosts[0]).toBe(`cat.s3.cairn.test:${port}`);
      expect((await bytesOf((await path.send(new GetObjectCommand({ Bucket: 'cat', Key: 'v/host.txt' }))).Body)).toString()).toBe('by virtual host');
      expect((await bytesOf((await vhost.send(new GetObjectCommand({ Bucket: 'cat', Key: 'v/host.txt' }))).Body)).toString()).toBe('by virtual host');
      expect((await vhost.send(new ListObjectsV2Command({ Bucket: 'cat', Prefix: 'v/' }))).Contents?.map((c) => c.Key)).toEqual(['v/host.txt']);
      expect(hosts.every((h) => h.startsWith('cat.s3.cairn.test'))).toBe(true);
    } finally {
      vhost.destroy();
      path.destroy();
      await gw.close();
    }
  }, 60_000);

  it('an object whose first chunk no server can give now is answered 503 with an S3 error document, not a cut connection', async () => {
    const body = patternBytes(3 * MiB, 6);
    await client.send(new PutObjectCommand({ Bucket: 'cat', Key: 'down/x', Body: body }));
    const chunks = cluster.clusterJson().chunks.map((c) => c.id);
    for (const id of chunks) await cluster.member(id).proc.kill('SIGKILL');
    try {
      const res = await fetch(await getSignedUrl(client, new GetObjectCommand({ Bucket: 'cat', Key: 'down/x' }), { expiresIn: 300 }));
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/xml/);
      expect(res.headers.get('etag')).toBeNull();
      const text = await res.text();
      expect(text).toContain('<Code>ServiceUnavailable</Code>');
    } finally {
      for (const id of chunks) cluster.member(id).proc.start();
    }
    // Back once the restarted servers listen again (bounded: 60 s). Until then a GET may fail
    // before its first byte (503) or, when its first chunk's server is back before the others,
    // be cut mid-body: both are retried.
    let got: Buffer | null = null;
    for (const t0 = Date.now(); got === null && Date.now() - t0 < 60_000; ) {
      got = await client
        .send(new GetObjectCommand({ Bucket: 'cat', Key: 'down/x' }))
        .then((g) => bytesOf(g.Body))
        .catch(() => null);
      if (got === null) await new Promise((r) => setTimeout(r, 250));
    }
    expect(got?.equals(body)).toBe(true);
  }, 120_000);
});

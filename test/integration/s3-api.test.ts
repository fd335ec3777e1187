/**
 * The S3-compatible API (CONTRACT.md, docs/s3.md) driven by the unmodified AWS SDK for
 * JavaScript v3 and its presigner against a real DevCluster: every operation, the errors S3
 * clients act on, SigV4 in its forms (header, presigned, aws-chunked signed and unsigned with a
 * trailer), and objects shared with the /v1 API both ways.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { createCairnClient } from '../../src/client/index.js';
import { DevCluster, type ClusterJson } from '../../src/server/dev-cluster.js';
import { assertBuilt, patternBytes } from './cli-harness.js';

const CHUNK = 1024 * 1024;
const MiB = 1024 * 1024;
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Buffer => (typeof d === 'string' ? d : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d));

/** SHA-256 / HMAC-SHA256 in the shape SignatureV4 takes (the SDK's own signer signs the seed requests). */
class Sha256 {
  private h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}

describe('S3-compatible API with the AWS SDK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-s3-'));
  let cluster: DevCluster;
  let s3: NonNullable<ClusterJson['s3']>;
  let client: S3Client;
  /** What the last request carried after signing (x-amz-content-sha256 etc.). */
  let lastHeaders: Record<string, string> = {};

  const make = (over: Partial<S3ClientConfig> = {}): S3Client => {
    const c = new S3Client({ endpoint: s3.url, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, forcePathStyle: true, maxAttempts: 1, ...over });
    c.middlewareStack.add(
      (next) => async (args) => {
        lastHeaders = { ...(args.request as { headers: Record<string, string> }).headers };
        return next(args);
      },
      { step: 'deserialize', name: 'captureHeaders' },
    );
    return c;
  };
  const v1 = (p: string, init: RequestInit = {}): Promise<Response> => fetch(`${cluster.gatewayUrl}/v1/files/${p}`, { ...init, headers: { authorization: `Bearer ${cluster.token}`, ...(init.headers as Record<string, string>) } });
  const bytesOf = async (body: unknown): Promise<Buffer> => Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  const errorOf = async (p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> => {
    try {
      await p;
    } catch (e) {
      const err = e as { name: string; Code?: string; $metadata?: { httpStatusCode?: number } };
      return { name: err.Code ?? err.name, status: err.$metadata?.httpStatusCode };
    }
    throw new Error('expected the request to fail');
  };

  beforeAll(async () => {
    assertBuilt();
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, chunkSize: CHUNK });
    cluster.start();
    await cluster.waitReady(60_000);
    s3 = cluster.clusterJson().s3!;
    client = make();
  }, 90_000);

  afterAll(async () => {
    client?.destroy();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('cluster.json names the endpoint on a port in [P, P+999], served by the gateway process', () => {
    const j = cluster.clusterJson();
    const port = Number(new URL(s3.url).port);
    const base = Number(new URL(j.gateway!.url).port);
    expect(port).toBeGreaterThanOrEqual(base);
    expect(port).toBeLessThanOrEqual(base + 999);
    expect(s3).toMatchObject({ region: 'us-east-1', accessKeyId: expect.stringMatching(/^[A-Z0-9]{16,}$/), secretAccessKey: expect.any(String), pid: j.gateway!.pid, argv: j.gateway!.argv });
    expect(s3.argv).toContain('--s3-listen');
  });

  it('buckets: create (name rules, already owned), list, head, location, delete (not empty, missing)', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'alpha' }));
    expect(await errorOf(client.send(new CreateBucketCommand({ Bucket: 'alpha' })))).toEqual({ name: 'BucketAlreadyOwnedByYou', status: 409 });
    for (const bad of ['ab', 'Upper', 'a..b', '-ab', '192.168.1.1', 'x'.repeat(64)]) {
      expect((await errorOf(client.send(new CreateBucketCommand({ Bucket: bad })))).status, bad).toBe(400);
    }
    const list = await client.send(new ListBucketsCommand({}));
    expect(list.Buckets?.map((b) => b.Name)).toContain('alpha');
    expect(list.Buckets?.find((b) => b.Name === 'alpha')?.CreationDate).toBeInstanceOf(Date);
    expect((await client.send(new HeadBucketCommand({ Bucket: 'alpha' }))).$metadata.httpStatusCode).toBe(200);
    expect((await errorOf(client.send(new HeadBucketCommand({ Bucket: 'nosuch' })))).status).toBe(404);
    const loc = await client.send(new GetBucketLocationCommand({ Bucket: 'alpha' }));
    expect(loc.LocationConstraint ?? '').toBe('');
    await client.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'k', Body: 'x' }));
    expect(await errorOf(client.send(new DeleteBucketCommand({ Bucket: 'alpha' })))).toEqual({ name: 'BucketNotEmpty', status: 409 });
    await client.send(new DeleteObjectCommand({ Bucket: 'alpha', Key: 'k' }));
    await client.send(new DeleteBucketCommand({ Bucket: 'alpha' }));
    expect(await errorOf(client.send(new DeleteBucketCommand({ Bucket: 'alpha' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
    expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'k', Body: 'x' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
    // The multipart area is no bucket.
    expect((await client.send(new ListBucketsCommand({}))).Buckets?.some((b) => b.Name?.startsWith('.'))).toBe(false);
  });

  it('PutObject/GetObject/HeadObject: bytes, MD5 ETag, Content-Type, metadata and standard headers, response-* overrides', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'objs' }));
    for (const size of [0, 1, 100, 64 * 1024 + 1, CHUNK + 7]) {
      const data = patternBytes(size, size + 1);
      const put = await client.send(new PutObjectCommand({ Bucket: 'objs', Key: `size/${size}`, Body: data, ContentType: 'application/x-test', Metadata: { color: 'blue', n: String(size) }, CacheControl: 'max-age=60', ContentDisposition: 'attachment; filename="a.bin"' }));
      expect(put.ETag).toBe(`"${md5(data)}"`);
      const got = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: `size/${size}` }));
      expect((await bytesOf(got.Body)).equals(Buffer.from(data)), `size ${size}`).toBe(true);
      expect(got.ETag).toBe(`"${md5(data)}"`);
      expect(got.ContentType).toBe('application/x-test');
      expect(got.ContentLength).toBe(size);
      expect(got.Metadata).toEqual({ color: 'blue', n: String(size) });
      expect(got.CacheControl).toBe('max-age=60');
      expect(got.ContentDisposition).toBe('attachment; filename="a.bin"');
      const head = await client.send(new HeadObjectCommand({ Bucket: 'objs', Key: `size/${size}` }));
      expect(head).toMatchObject({ ETag: `"${md5(data)}"`, ContentLength: size, ContentType: 'application/x-test', Metadata: { color: 'blue', n: String(size) } });
      expect(head.LastModified).toBeInstanceOf(Date);
    }
    const o = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'size/100', ResponseContentType: 'text/x-over', ResponseContentDisposition: 'inline', ResponseCacheControl: 'no-store' }));
    await bytesOf(o.Body);
    expect(o).toMatchObject({ ContentType: 'text/x-over', ContentDisposition: 'inline', CacheControl: 'no-store' });
    expect(await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'nope' })))).toEqual({ name: 'NoSuchKey', status: 404 });
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'nope' })))).status).toBe(404);
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'size' })))).status).toBe(404); // a directory is no object
  });

  it('GetObject Range → 206 with Content-Range; past the end → 416 InvalidRange', async () => {
    const data = patternBytes(3 * CHUNK + 10, 9);
    await client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'range', Body: data }));
    for (const [range, start, end] of [['bytes=0-9', 0, 10], [`bytes=${CHUNK - 5}-${2 * CHUNK + 4}`, CHUNK - 5, 2 * CHUNK + 5], ['bytes=-7', data.length - 7, data.length], [`bytes=${3 * CHUNK}-`, 3 * CHUNK, data.length]] as const) {
      const r = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'range', Range: range }));
      expect(r.$metadata.httpStatusCode).toBe(206);
      expect(r.ContentRange).toBe(`bytes ${start}-${end - 1}/${data.length}`);
      expect((await bytesOf(r.Body)).equals(Buffer.from(data.subarray(start, end))), range).toBe(true);
    }
    expect(await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'range', Range: `bytes=${data.length}-` })))).toEqual({ name: 'InvalidRange', status: 416 });
  });

  it('conditional GET/HEAD: If-Match / If-Unmodified-Since → 412; If-None-Match / If-Modified-Since → 304', async () => {
    const put = await client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'cond', Body: 'conditional' }));
    const etag = put.ETag!;
    const past = new Date(Date.now() - 3600_000);
    const future = new Date(Date.now() + 3600_000);
    const ok = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfMatch: etag, IfUnmodifiedSince: future }));
    expect((await bytesOf(ok.Body)).toString()).toBe('conditional');
    expect((await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfMatch: '"0123"' })))).status).toBe(412);
    expect((await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfUnmodifiedSince: past })))).status).toBe(412);
    expect((await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfNoneMatch: etag })))).status).toBe(304);
    expect((await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfModifiedSince: future })))).status).toBe(304);
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'cond', IfNoneMatch: etag })))).status).toBe(304);
    const mod = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'cond', IfModifiedSince: past, IfNoneMatch: '"other"' }));
    expect((await bytesOf(mod.Body)).toString()).toBe('conditional');
    // PUT If-None-Match: * refuses an existing key.
    expect((await errorOf(client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'cond', Body: 'again', IfNoneMatch: '*' })))).status).toBe(412);
  });

  it('DeleteObject (absent → 204) and DeleteObjects (quiet and verbose); emptied "directories" go too', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'dels' }));
    for (const k of ['a/b/c', 'a/b/d', 'e', 'f']) await client.send(new PutObjectCommand({ Bucket: 'dels', Key: k, Body: k }));
    expect((await client.send(new DeleteObjectCommand({ Bucket: 'dels', Key: 'never-was' }))).$metadata.httpStatusCode).toBe(204);
    await client.send(new DeleteObjectCommand({ Bucket: 'dels', Key: 'e' }));
    const r = await client.send(new DeleteObjectsCommand({ Bucket: 'dels', Delete: { Objects: [{ Key: 'a/b/c' }, { Key: 'a/b/d' }, { Key: 'missing' }] } }));
    expect(r.Deleted?.map((d) => d.Key).sort()).toEqual(['a/b/c', 'a/b/d', 'missing']);
    expect(r.Errors ?? []).toEqual([]);
    const q = await client.send(new DeleteObjectsCommand({ Bucket: 'dels', Delete: { Objects: [{ Key: 'f' }], Quiet: true } }));
    expect(q.Deleted ?? []).toEqual([]);
    const left = await client.send(new ListObjectsV2Command({ Bucket: 'dels' }));
    expect(left.KeyCount).toBe(0);
    await client.send(new DeleteBucketCommand({ Bucket: 'dels' }));
  });

  it('CopyObject: server-side, metadata copied (COPY) or replaced (REPLACE), ETag the MD5 of the bytes', async () => {
    const data = patternBytes(2 * CHUNK + 3, 4);
    await client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'src', Body: data, ContentType: 'image/png', Metadata: { a: '1' } }));
    const c1 = await client.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'copy/one', CopySource: 'objs/src' }));
    expect(c1.CopyObjectResult?.ETag).toBe(`"${md5(data)}"`);
    const h1 = await client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'copy/one' }));
    expect(h1).toMatchObject({ ContentType: 'image/png', Metadata: { a: '1' }, ETag: `"${md5(data)}"`, ContentLength: data.length });
    await client.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'copy/two', CopySource: encodeURIComponent('objs/src'), MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { b: '2' } }));
    const g2 = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'copy/two' }));
    expect(g2).toMatchObject({ ContentType: 'text/plain', Metadata: { b: '2' } });
    expect((await bytesOf(g2.Body)).equals(Buffer.from(data))).toBe(true);
    // COPY is the library's server-side copy: the copy shares the source's chunks.
    const lib = createCairnClient({ metaAddrs: cluster.metaAddrs, token: cluster.token });
    try {
      const [a, b] = [await lib.stat('/objs/src'), await lib.stat('/objs/copy/one')];
      expect(b.chunks.map((c) => c.id)).toEqual(a.chunks.map((c) => c.id));
    } finally {
      lib.close();
    }
    // A copy onto itself with REPLACE rewrites the metadata (the bytes go through the gateway).
    await client.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'copy/one', CopySource: 'objs/copy/one', MetadataDirective: 'REPLACE', ContentType: 'text/x-new' }));
    expect(await client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'copy/one' }))).toMatchObject({ ContentType: 'text/x-new', Metadata: {}, ETag: `"${md5(data)}"` });
    expect((await errorOf(client.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'copy/3', CopySource: 'objs/nope' })))).name).toBe('NoSuchKey');
    expect((await errorOf(client.send(new CopyObjectCommand({ Bucket: 'objs', Key: 'copy/3', CopySource: 'objs/src', CopySourceIfMatch: '"bad"' })))).status).toBe(412);
  });

  it('ListObjectsV2 and ListObjects: prefix, delimiter, max-keys, start-after, continuation tokens, url encoding, byte order', async () => {
    await client.send(new CreateBucketCommand({ Bucket: 'lists' }));
    const keys = ['a-b', 'a.txt', 'a/x', 'a/y/z', 'b', 'c d/e', 'é', '\u{1F600}'];
    for (const k of keys) await client.send(new PutObjectCommand({ Bucket: 'lists', Key: k, Body: k }));
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const all = await client.send(new ListObjectsV2Command({ Bucket: 'lists' }));
    expect(all.Contents?.map((c) => c.Key)).toEqual(sorted);
    expect(all.Contents?.[0]).toMatchObject({ Size: 3, ETag: `"${md5(Buffer.from('a-b'))}"` });
    expect(all.IsTruncated).toBe(false);
    // Paging by two with continuation tokens gives the same keys.
    const paged: string[] = [];
    let token: string | undefined;
    do {
      const p = await client.send(new ListObjectsV2Command({ Bucket: 'lists', MaxKeys: 2, ContinuationToken: token }));
      expect(p.KeyCount).toBeLessThanOrEqual(2);
      paged.push(...(p.Contents ?? []).map((c) => c.Key!));
      token = p.IsTruncated ? p.NextContinuationToken : undefined;
    } while (token);
    expect(paged).toEqual(sorted);
    const d = await client.send(new ListObjectsV2Command({ Bucket: 'lists', Delimiter: '/' }));
    expect(d.Contents?.map((c) => c.Key)).toEqual(['a-b', 'a.txt', 'b', 'é', '\u{1F600}']);
    expect(d.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['a/', 'c d/']);
    const sub = await client.send(new ListObjectsV2Command({ Bucket: 'lists', Prefix: 'a/', Delimiter: '/' }));
    expect(sub.Contents?.map((c) => c.Key)).toEqual(['a/x']);
    expect(sub.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['a/y/']);
    const after = await client.send(new ListObjectsV2Command({ Bucket: 'lists', StartAfter: 'a/x' }));
    expect(after.Contents?.map((c) => c.Key)).toEqual(sorted.slice(sorted.indexOf('a/x') + 1));
    const enc = await client.send(new ListObjectsV2Command({ Bucket: 'lists', Prefix: 'c d', EncodingType: 'url' }));
    expect(enc.Contents?.map((c) => c.Key)).toEqual(['c%20d/e']);
    const v1 = await client.send(new ListObjectsCommand({ Bucket: 'lists', MaxKeys: 3, Delimiter: '/' }));
    expect([...(v1.Contents ?? []).map((c) => c.Key), ...(v1.CommonPrefixes ?? []).map((c) => c.Prefix)].sort()).toEqual(['a-b', 'a.txt', 'a/']);
    expect(v1.IsTruncated).toBe(true);
    const v1b = await client.send(new ListObjectsCommand({ Bucket: 'lists', Marker: v1.NextMarker, Delimiter: '/' }));
    expect(v1b.Contents?.map((c) => c.Key)).toEqual(['b', 'é', '\u{1F600}']);
    expect(v1b.CommonPrefixes?.map((c) => c.Prefix)).toEqual(['c d/']);
    expect(await errorOf(client.send(new ListObjectsV2Command({ Bucket: 'nosuch' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
  });

  it('multipart: create, upload parts, list parts and uploads, complete (MD5-of-MD5s-N), abort, UploadPartCopy', async () => {
    const p1 = patternBytes(5 * MiB, 1);
    const p2 = patternBytes(MiB + 123, 2);
    const up = await client.send(new CreateMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/big', ContentType: 'video/mp4', Metadata: { m: 'v' } }));
    const id = up.UploadId!;
    const e2 = await client.send(new UploadPartCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id, PartNumber: 2, Body: p2 }));
    const e1 = await client.send(new UploadPartCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id, PartNumber: 1, Body: p1 }));
    expect(e1.ETag).toBe(`"${md5(p1)}"`);
    const parts = await client.send(new ListPartsCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id }));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag])).toEqual([[1, p1.length, e1.ETag], [2, p2.length, e2.ETag]]);
    const ups = await client.send(new ListMultipartUploadsCommand({ Bucket: 'objs' }));
    expect(ups.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([['mp/big', id]]);
    // Not visible before Complete; out of order or a wrong ETag is refused.
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'mp/big' })))).status).toBe(404);
    expect((await errorOf(client.send(new CompleteMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id, MultipartUpload: { Parts: [{ PartNumber: 2, ETag: e2.ETag }, { PartNumber: 1, ETag: e1.ETag }] } })))).name).toBe('InvalidPartOrder');
    expect((await errorOf(client.send(new CompleteMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e2.ETag }] } })))).name).toBe('InvalidPart');
    const done = await client.send(new CompleteMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/big', UploadId: id, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1.ETag }, { PartNumber: 2, ETag: e2.ETag }] } }));
    const want = `"${createHash('md5').update(Buffer.concat([createHash('md5').update(p1).digest(), createHash('md5').update(p2).digest()])).digest('hex')}-2"`;
    expect(done.ETag).toBe(want);
    const g = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'mp/big' }));
    expect(g).toMatchObject({ ETag: want, ContentType: 'video/mp4', Metadata: { m: 'v' }, ContentLength: p1.length + p2.length });
    expect((await bytesOf(g.Body)).equals(Buffer.concat([p1, p2]))).toBe(true);
    expect((await client.send(new ListMultipartUploadsCommand({ Bucket: 'objs' }))).Uploads ?? []).toEqual([]);
    // A part under 5 MiB that is not the last: EntityTooSmall.
    const small = await client.send(new CreateMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/small' }));
    const s1 = await client.send(new UploadPartCommand({ Bucket: 'objs', Key: 'mp/small', UploadId: small.UploadId, PartNumber: 1, Body: 'tiny' }));
    const s2 = await client.send(new UploadPartCommand({ Bucket: 'objs', Key: 'mp/small', UploadId: small.UploadId, PartNumber: 2, Body: 'tiny' }));
    expect((await errorOf(client.send(new CompleteMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/small', UploadId: small.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: s1.ETag }, { PartNumber: 2, ETag: s2.ETag }] } })))).name).toBe('EntityTooSmall');
    await client.send(new AbortMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/small', UploadId: small.UploadId }));
    expect((await errorOf(client.send(new ListPartsCommand({ Bucket: 'objs', Key: 'mp/small', UploadId: small.UploadId })))).name).toBe('NoSuchUpload');
    // UploadPartCopy: a range of an existing object becomes a part.
    const cp = await client.send(new CreateMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/copied' }));
    const c1 = await client.send(new UploadPartCopyCommand({ Bucket: 'objs', Key: 'mp/copied', UploadId: cp.UploadId, PartNumber: 1, CopySource: 'objs/mp/big', CopySourceRange: `bytes=0-${5 * MiB - 1}` }));
    const c2 = await client.send(new UploadPartCopyCommand({ Bucket: 'objs', Key: 'mp/copied', UploadId: cp.UploadId, PartNumber: 2, CopySource: 'objs/size/100' }));
    await client.send(new CompleteMultipartUploadCommand({ Bucket: 'objs', Key: 'mp/copied', UploadId: cp.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult?.ETag }, { PartNumber: 2, ETag: c2.CopyPartResult?.ETag }] } }));
    const gc = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'mp/copied' }));
    expect((await bytesOf(gc.Body)).equals(Buffer.concat([p1, patternBytes(100, 101)]))).toBe(true);
  }, 120_000);

  it('a streamed multi-MiB upload (SDK, stream body: aws-chunked with a trailing checksum) arrives whole with its MD5 ETag', async () => {
    const data = patternBytes(12 * MiB + 5, 77);
    const body = Readable.from((function* () {
      for (let i = 0; i < data.length; i += 256 * 1024) yield Buffer.from(data.subarray(i, i + 256 * 1024));
    })());
    const put = await client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'stream/12m', Body: body, ContentLength: data.length }));
    expect(lastHeaders['x-amz-content-sha256']).toMatch(/^STREAMING-/);
    expect(lastHeaders['content-encoding']).toContain('aws-chunked');
    expect(put.ETag).toBe(`"${md5(data)}"`);
    const g = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'stream/12m' }));
    expect(g.ETag).toBe(`"${md5(data)}"`); // stored with the file, not only answered
    expect((await bytesOf(g.Body)).equals(Buffer.from(data))).toBe(true);
  }, 60_000);

  it('STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks are verified as they stream; one bad chunk signature leaves no object', async () => {
    const data = patternBytes(3 * 64 * 1024 + 100, 5);
    const url = new URL(`${s3.url}/objs/signed-chunks`);
    const signer = new SignatureV4({ service: 's3', region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
    const send = async (tamper: boolean): Promise<Response> => {
      const headers: Record<string, string> = {
        host: url.host,
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
      };
      const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, headers, query: {} });
      const authz = signed.headers.authorization ?? signed.headers.Authorization!;
      const amzDate = signed.headers['x-amz-date']!;
      let prev = /Signature=([0-9a-f]{64})/.exec(authz)![1]!;
      const scope = `${amzDate.slice(0, 8)}/${s3.region}/s3/aws4_request`;
      const kDate = createHmac('sha256', `AWS4${s3.secretAccessKey}`).update(amzDate.slice(0, 8)).digest();
      const kSigning = ['us-east-1', 's3', 'aws4_request'].reduce((k, s) => createHmac('sha256', k).update(s).digest(), kDate);
      const parts: Buffer[] = [];
      const chunks = [data.subarray(0, 65536), data.subarray(65536, 131072), data.subarray(131072, 196608), data.subarray(196608), new Uint8Array(0)];
      for (const [i, c] of chunks.entries()) {
        const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, createHash('sha256').update('').digest('hex'), createHash('sha256').update(c).digest('hex')].join('\n');
        let sig = createHmac('sha256', kSigning).update(sts).digest('hex');
        if (tamper && i === 2) sig = sig.replace(/^./, (ch) => (ch === '0' ? '1' : '0'));
        parts.push(Buffer.from(`${c.length.toString(16)};chunk-signature=${sig}\r\n`), Buffer.from(c), Buffer.from('\r\n'));
        prev = sig;
      }
      const body = Buffer.concat(parts);
      return fetch(url, { method: 'PUT', headers: { ...signed.headers, 'content-length': String(body.length) }, body });
    };
    const bad = await send(true);
    expect(bad.status).toBe(403);
    expect(await bad.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'signed-chunks' })))).status).toBe(404);
    const good = await send(false);
    expect(good.status).toBe(200);
    expect(good.headers.get('etag')).toBe(`"${md5(data)}"`);
    const g = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'signed-chunks' }));
    expect((await bytesOf(g.Body)).equals(Buffer.from(data))).toBe(true);
  });

  it('a signed payload whose bytes do not match x-amz-content-sha256 fails and leaves no object', async () => {
    const url = new URL(`${s3.url}/objs/bad-sha`);
    const signer = new SignatureV4({ service: 's3', region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
    for (const size of [10, 200 * 1024]) {
      const claimed = patternBytes(size, 1);
      const sent = patternBytes(size, 2);
      const headers = { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(claimed).digest('hex') };
      const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, headers, query: {} });
      const r = await fetch(url, { method: 'PUT', headers: signed.headers, body: sent });
      expect(r.status).toBe(400);
      expect(await r.text()).toContain('XAmzContentSHA256Mismatch');
      expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'bad-sha' })))).status).toBe(404);
    }
  });

  it('auth: wrong secret → SignatureDoesNotMatch, unknown key → InvalidAccessKeyId, skewed clock → RequestTimeTooSkewed, anonymous → AccessDenied', async () => {
    const wrong = make({ credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: `${s3.secretAccessKey}x` } });
    expect(await errorOf(wrong.send(new ListBucketsCommand({})))).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
    expect(await errorOf(wrong.send(new PutObjectCommand({ Bucket: 'objs', Key: 'w', Body: 'x' })))).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
    wrong.destroy();
    const unknown = make({ credentials: { accessKeyId: 'AKIANOTAKEY0000', secretAccessKey: s3.secretAccessKey } });
    expect(await errorOf(unknown.send(new ListBucketsCommand({})))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
    unknown.destroy();
    const skewed = make({ systemClockOffset: -20 * 60_000 });
    expect(await errorOf(skewed.send(new ListBucketsCommand({})))).toEqual({ name: 'RequestTimeTooSkewed', status: 403 });
    skewed.destroy();
    const anon = await fetch(`${s3.url}/objs/size/1`);
    expect(anon.status).toBe(403);
    expect(await anon.text()).toContain('<Code>AccessDenied</Code>');
  });

  it('presigned GET and PUT URLs work without other credentials; a tampered or expired one does not', async () => {
    const put = await getSignedUrl(client, new PutObjectCommand({ Bucket: 'objs', Key: 'presigned' }), { expiresIn: 300 });
    const r = await fetch(put, { method: 'PUT', body: 'via presigned PUT' });
    expect(r.status).toBe(200);
    const get = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'objs', Key: 'presigned' }), { expiresIn: 300 });
    const g = await fetch(get);
    expect(g.status).toBe(200);
    expect(await g.text()).toBe('via presigned PUT');
    const t = await fetch(get.replace('presigned?', 'presigneX?'));
    expect(t.status).toBe(403);
    expect(await t.text()).toContain('SignatureDoesNotMatch');
    const short = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'objs', Key: 'presigned' }), { expiresIn: 1 });
    await new Promise((res) => setTimeout(res, 2100));
    const e = await fetch(short);
    expect(e.status).toBe(403);
    expect(await e.text()).toContain('<Code>AccessDenied</Code>');
  });

  it('one namespace: /v1 files are objects (Cairn etag), S3 objects are files; keys the namespace refuses get a clear answer', async () => {
    const v = await v1('objs/from-v1/file.bin', { method: 'PUT', body: 'written over /v1', headers: { 'content-type': 'text/x-v1' } });
    expect(v.status).toBe(201);
    const cairnEtag = ((await v.json()) as { etag: string }).etag;
    const g = await client.send(new GetObjectCommand({ Bucket: 'objs', Key: 'from-v1/file.bin' }));
    expect((await bytesOf(g.Body)).toString()).toBe('written over /v1');
    expect(g.ETag).toBe(`"${cairnEtag}"`);
    const back = await v1('objs/size/100');
    expect(Buffer.from(await back.arrayBuffer()).equals(Buffer.from(patternBytes(100, 101)))).toBe(true);
    for (const key of ['a//b', 'x/../y', 'x/./y']) {
      expect((await errorOf(client.send(new PutObjectCommand({ Bucket: 'objs', Key: key, Body: 'x' })))).name, key).toBe('InvalidArgument');
      expect((await errorOf(client.send(new GetObjectCommand({ Bucket: 'objs', Key: key })))).name, key).toBe('NoSuchKey');
    }
    // A key under an existing file: the namespace cannot hold both.
    expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'size/100/under', Body: 'x' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'size', Body: 'x' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    expect(await errorOf(client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'size', Body: patternBytes(200 * 1024, 1) })))).toEqual({ name: 'InvalidRequest', status: 400 });
    // A folder object: "k/" with an empty body is the directory.
    await client.send(new PutObjectCommand({ Bucket: 'objs', Key: 'folder/', Body: '' }));
    expect((await client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'folder/' }))).ContentLength).toBe(0);
    const l = await client.send(new ListObjectsV2Command({ Bucket: 'objs', Prefix: 'folder' }));
    expect(l.Contents?.map((c) => c.Key)).toEqual(['folder/']);
    await client.send(new DeleteObjectCommand({ Bucket: 'objs', Key: 'folder/' }));
    expect((await errorOf(client.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'folder/' })))).status).toBe(404);
  });
});

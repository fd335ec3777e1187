/**
 * The aws-chunked decoder against the AWS documentation's streaming example (64 KiB + 1 KiB of
 * 'a', seed signature 4f232c43…): decoded bytes, chunk-signature chaining, tampering, truncation,
 * the unsigned-trailer form with a checksum, and any split of the input across reads.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { AwsChunkedDecoder, crcBase64, type AwsChunkedOptions } from '../../../src/api/s3-chunked.js';
import { signingKey } from '../../../src/api/s3-sigv4.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const signing = { signingKey: signingKey(SECRET, '20130524', 'us-east-1', 's3'), amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9' };
const SIG1 = 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648';
const SIG2 = '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497';
const SIG3 = 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9';

function exampleBody(s1 = SIG1, s2 = SIG2, s3 = SIG3, data1 = Buffer.alloc(65536, 'a')): Buffer {
  return Buffer.concat([Buffer.from(`10000;chunk-signature=${s1}\r\n`), data1, Buffer.from(`\r\n400;chunk-signature=${s2}\r\n`), Buffer.alloc(1024, 'a'), Buffer.from(`\r\n0;chunk-signature=${s3}\r\n\r\n`)]);
}

/** Decodes `body` fed in pieces of `step` bytes; the decoded bytes, or the error. */
async function decode(body: Buffer, o: AwsChunkedOptions, step = body.length): Promise<Buffer> {
  const parts: Buffer[] = [];
  const pieces: Buffer[] = [];
  for (let i = 0; i < body.length; i += step) pieces.push(body.subarray(i, i + step));
  await pipeline(
    Readable.from(pieces),
    new AwsChunkedDecoder(o),
    new Writable({
      write(b: Buffer, _e, cb) {
        parts.push(b);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

describe('AwsChunkedDecoder', () => {
  it('decodes the AWS example (66560 bytes) and verifies its three chunk signatures, whatever the read sizes', async () => {
    for (const step of [exampleBody().length, 1, 7, 4096, 65600]) {
      const out = await decode(exampleBody(), { signing, decodedLength: 66560 }, step);
      expect(out.equals(Buffer.alloc(66560, 'a')), `step ${step}`).toBe(true);
    }
  });

  it('fails with SignatureDoesNotMatch on a tampered byte or a wrong chunk signature', async () => {
    const data = Buffer.alloc(65536, 'a');
    data[1000] = 0x62;
    await expect(decode(exampleBody(SIG1, SIG2, SIG3, data), { signing, decodedLength: 66560 })).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(exampleBody(SIG1, SIG1), { signing, decodedLength: 66560 })).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    await expect(decode(exampleBody(SIG1, SIG2, SIG2), { signing, decodedLength: 66560 })).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('fails on a truncated body, a wrong decoded length, and a missing CRLF', async () => {
    const body = exampleBody();
    await expect(decode(body.subarray(0, body.length - 10), { signing, decodedLength: 66560 })).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(decode(body, { signing, decodedLength: 66561 })).rejects.toMatchObject({ code: 'IncompleteBody' });
    await expect(decode(body, { signing, decodedLength: 1000 })).rejects.toMatchObject({ code: 'IncompleteBody' });
    const noCrlf = Buffer.from(body);
    noCrlf[noCrlf.indexOf('\r\n400;')] = 0x20;
    await expect(decode(noCrlf, { signing, decodedLength: 66560 })).rejects.toMatchObject({ code: 'InvalidRequest' });
  });

  it('STREAMING-UNSIGNED-PAYLOAD-TRAILER: chunks without signatures, a CRC32 trailer checked', async () => {
    const data = Buffer.from('hello, chunked world');
    const crc = crcBase64(crc32(data));
    const body = (c: string): Buffer => Buffer.from(`a\r\n${data.subarray(0, 10).toString()}\r\n${(data.length - 10).toString(16)}\r\n${data.subarray(10).toString()}\r\n0\r\nx-amz-checksum-crc32:${c}\r\n\r\n`);
    expect((await decode(body(crc), { signing: null, decodedLength: data.length }, 3)).equals(data)).toBe(true);
    await expect(decode(body('AAAAAA=='), { signing: null, decodedLength: data.length })).rejects.toMatchObject({ code: 'BadDigest' });
  });
});

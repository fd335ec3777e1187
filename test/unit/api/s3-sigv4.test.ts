/**
 * SigV4 as S3 checks it, against the AWS documentation's worked examples (Signature Calculations
 * for the Authorization Header; Query String Authentication; Transferring Payload in Multiple
 * Chunks): canonical request, string to sign, signature, and the request-level checks.
 */
import { describe, expect, it } from 'vitest';
import { S3Error } from '../../../src/api/s3-errors.js';
import {
  canonicalHeaders,
  canonicalQuery,
  canonicalRequest,
  canonicalUri,
  CLOCK_SKEW_MS_MAX,
  parseQuery,
  signatureOf,
  signingKey,
  stringToSign,
  verifyRequest,
  type SignedRequest,
} from '../../../src/api/s3-sigv4.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const T0 = Date.UTC(2013, 4, 24, 0, 0, 0);
const key = signingKey(SECRET, '20130524', 'us-east-1', 's3');
const opts = (nowMs = T0) => ({ region: 'us-east-1', secretOf: (id: string) => (id === AKID ? SECRET : undefined), nowMs });

function headers(h: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), [v]]));
}

const getObject = (sig: string, extra: Record<string, string> = {}): SignedRequest => ({
  method: 'GET',
  rawPath: '/test.txt',
  rawQuery: '',
  headers: headers({
    host: 'examplebucket.s3.amazonaws.com',
    range: 'bytes=0-9',
    'x-amz-content-sha256': EMPTY,
    'x-amz-date': '20130524T000000Z',
    authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${sig}`,
    ...extra,
  }),
});

describe('SigV4 (AWS documentation examples)', () => {
  it('GET Object: canonical request, string to sign and signature', () => {
    const signed = ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'];
    const creq = canonicalRequest('GET', canonicalUri('/test.txt'), '', canonicalHeaders(getObject('x').headers, signed), signed, EMPTY);
    expect(creq).toBe(
      ['GET', '/test.txt', '', 'host:examplebucket.s3.amazonaws.com', 'range:bytes=0-9', `x-amz-content-sha256:${EMPTY}`, 'x-amz-date:20130524T000000Z', '', 'host;range;x-amz-content-sha256;x-amz-date', EMPTY].join('\n'),
    );
    const sts = stringToSign('20130524T000000Z', '20130524/us-east-1/s3/aws4_request', creq);
    expect(sts).toBe('AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
    expect(signatureOf(key, sts)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('verifies the GET Object example and refuses it with any byte changed', () => {
    const good = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
    const v = verifyRequest(getObject(good), opts());
    expect(v).toMatchObject({ accessKeyId: AKID, payloadHash: EMPTY, signature: good });
    const bad = `${good.slice(0, -1)}0`;
    expect(() => verifyRequest(getObject(bad), opts())).toThrow(expect.objectContaining({ code: 'SignatureDoesNotMatch' }));
    expect(() => verifyRequest(getObject(good, { range: 'bytes=0-10' }), opts())).toThrow(expect.objectContaining({ code: 'SignatureDoesNotMatch' }));
  });

  it('PUT Object: the path is encoded by AWS rules ($ → %24) and the Date header stands in for x-amz-date', () => {
    const body = 'Welcome to Amazon S3.';
    const hash = '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072';
    const req: SignedRequest = {
      method: 'PUT',
      rawPath: '/test$file.text',
      rawQuery: '',
      headers: headers({
        host: 'examplebucket.s3.amazonaws.com',
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': hash,
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd`,
      }),
    };
    expect(canonicalUri('/test$file.text')).toBe('/test%24file.text');
    expect(verifyRequest(req, opts()).payloadHash).toBe(hash);
    expect(body.length).toBe(21);
  });

  it('GET Bucket (list objects): the query is canonicalized (sorted, encoded)', () => {
    expect(canonicalQuery(parseQuery('prefix=J&max-keys=2'))).toBe('max-keys=2&prefix=J');
    const req: SignedRequest = {
      method: 'GET',
      rawPath: '/',
      rawQuery: 'max-keys=2&prefix=J',
      headers: headers({
        host: 'examplebucket.s3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-content-sha256': EMPTY,
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7`,
      }),
    };
    expect(verifyRequest(req, opts()).accessKeyId).toBe(AKID);
    // A value-less sub-resource (?lifecycle) canonicalizes as "lifecycle=".
    expect(canonicalQuery(parseQuery('lifecycle'))).toBe('lifecycle=');
  });

  it('presigned GET (query auth): verifies within its expiry, AccessDenied after it', () => {
    const q = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`;
    const req: SignedRequest = { method: 'GET', rawPath: '/test.txt', rawQuery: q, headers: headers({ host: 'examplebucket.s3.amazonaws.com' }) };
    expect(verifyRequest(req, opts(T0 + 3600_000)).payloadHash).toBe('UNSIGNED-PAYLOAD');
    expect(() => verifyRequest(req, opts(T0 + 86_401_000))).toThrow(expect.objectContaining({ code: 'AccessDenied' }));
    expect(() => verifyRequest({ ...req, rawQuery: q.replace('86400', '604801') }, opts())).toThrow(expect.objectContaining({ code: 'AuthorizationQueryParametersError' }));
    expect(() => verifyRequest({ ...req, rawPath: '/test2.txt' }, opts())).toThrow(expect.objectContaining({ code: 'SignatureDoesNotMatch' }));
  });

  it('request-level checks: clock skew, unknown key, wrong region, no credentials', () => {
    const good = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';
    expect(() => verifyRequest(getObject(good), opts(T0 + CLOCK_SKEW_MS_MAX + 1000))).toThrow(expect.objectContaining({ code: 'RequestTimeTooSkewed' }));
    expect(() => verifyRequest(getObject(good), opts(T0 - CLOCK_SKEW_MS_MAX - 1000))).toThrow(expect.objectContaining({ code: 'RequestTimeTooSkewed' }));
    expect(verifyRequest(getObject(good), opts(T0 + CLOCK_SKEW_MS_MAX - 1000)).accessKeyId).toBe(AKID);
    expect(() => verifyRequest(getObject(good), { ...opts(), secretOf: () => undefined })).toThrow(expect.objectContaining({ code: 'InvalidAccessKeyId' }));
    expect(() => verifyRequest(getObject(good), { ...opts(), region: 'eu-west-1' })).toThrow(expect.objectContaining({ code: 'AuthorizationHeaderMalformed' }));
    const anon: SignedRequest = { method: 'GET', rawPath: '/x', rawQuery: '', headers: {} };
    expect(() => verifyRequest(anon, opts())).toThrow(S3Error);
    expect(() => verifyRequest(anon, opts())).toThrow(expect.objectContaining({ code: 'AccessDenied' }));
  });

  it('streaming upload seed request (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
    const req: SignedRequest = {
      method: 'PUT',
      rawPath: '/examplebucket/chunkObject.txt',
      rawQuery: '',
      headers: headers({
        host: 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560',
        'content-length': '66824',
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9`,
      }),
    };
    const v = verifyRequest(req, opts());
    expect(v.payloadHash).toBe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
    expect(v.scope).toBe('20130524/us-east-1/s3/aws4_request');
  });
});

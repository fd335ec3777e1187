/**
 * Request bodies of the S3 endpoint: the transforms a body passes through before it reaches a
 * file (aws-chunked decoding, signed-payload SHA-256, Content-MD5, x-amz-checksum-*), the MD5
 * that becomes the S3 ETag, and small XML request documents.
 *
 * Contract: every check runs while the bytes stream and fails the stream at its end at the
 * latest — before the writer behind it sees 'finish' — so a body that does not verify never
 * becomes a file.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from '@node-rs/crc32';
import { XMLParser } from 'fast-xml-parser';
import { crc32c } from '../util/crc32c.js';
import { AwsChunkedDecoder, crcBase64 } from './s3-chunked.js';
import { S3Error } from './s3-errors.js';
import { STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD, type VerifiedAuth } from './s3-sigv4.js';

/** What the body checks found once the body has ended. */
export interface BodyDigest {
  /** Hex MD5 of the decoded body (the S3 ETag of a single-part object). */
  md5Hex: string;
  size: number;
  /** x-amz-checksum-* headers that were sent and verified, to echo in the response. */
  checksums: Record<string, string>;
}

/**
 * Hashes the decoded body as it passes; on flush compares against what the request declared
 * (payload SHA-256, Content-MD5, x-amz-checksum-crc32/crc32c headers) and fails on a mismatch.
 */
export class BodyChecker extends Transform {
  private readonly md5: Hash = createHash('md5');
  private readonly sha: Hash | null;
  private crc32: number | null;
  private crc32c: number | null;
  private n = 0;
  private result: BodyDigest | null = null;

  constructor(private readonly want: { sha256Hex: string | null; contentMd5: string | null; crc32: string | null; crc32c: string | null; length: number | null }) {
    super();
    this.sha = want.sha256Hex === null ? null : createHash('sha256');
    this.crc32 = want.crc32 === null ? null : 0;
    this.crc32c = want.crc32c === null ? null : 0;
  }

  get digest(): BodyDigest {
    if (this.result === null) throw new S3Error('InternalError', 'the body has not ended');
    return this.result;
  }

  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.n += buf.length;
    this.md5.update(buf);
    this.sha?.update(buf);
    if (this.crc32 !== null) this.crc32 = crc32(buf, this.crc32);
    if (this.crc32c !== null) this.crc32c = crc32c(buf, this.crc32c);
    cb(null, buf);
  }

  override _flush(cb: TransformCallback): void {
    const md5 = this.md5.digest();
    const w = this.want;
    if (w.length !== null && this.n !== w.length) return cb(new S3Error('IncompleteBody', `the body ended after ${this.n} of ${w.length} bytes`));
    if (this.sha !== null && this.sha.digest('hex') !== w.sha256Hex) return cb(new S3Error('XAmzContentSHA256Mismatch', 'the provided x-amz-content-sha256 does not match what was computed'));
    if (w.contentMd5 !== null && md5.toString('base64') !== w.contentMd5) return cb(new S3Error('BadDigest', 'the Content-MD5 you specified did not match what we received'));
    const checksums: Record<string, string> = {};
    if (this.crc32 !== null) {
      if (crcBase64(this.crc32) !== w.crc32) return cb(new S3Error('BadDigest', 'the x-amz-checksum-crc32 you specified did not match the calculated checksum'));
      checksums['x-amz-checksum-crc32'] = w.crc32!;
    }
    if (this.crc32c !== null) {
      if (crcBase64(this.crc32c) !== w.crc32c) return cb(new S3Error('BadDigest', 'the x-amz-checksum-crc32c you specified did not match the calculated checksum'));
      checksums['x-amz-checksum-crc32c'] = w.crc32c!;
    }
    this.result = { md5Hex: md5.toString('hex'), size: this.n, checksums };
    cb();
  }
}

/** A body's decoded length as declared (x-amz-decoded-content-length for aws-chunked, else Content-Length), or null. */
export function declaredLength(req: IncomingMessage, auth: VerifiedAuth): number | null {
  const chunked = auth.payloadHash.startsWith('STREAMING-');
  const h = chunked ? req.headers['x-amz-decoded-content-length'] : req.headers['content-length'];
  if (typeof h !== 'string' || h === '') return null;
  if (!/^\d{1,16}$/.test(h)) throw new S3Error('InvalidArgument', 'a malformed body length header');
  return Number(h);
}

/**
 * The transforms a request body goes through, in order: [aws-chunked decoder,] checker. The
 * checker's `digest` is valid once the pipeline has finished.
 */
export function bodyTransforms(req: IncomingMessage, auth: VerifiedAuth): { stages: Transform[]; checker: BodyChecker; length: number | null } {
  const length = declaredLength(req, auth);
  const mode = auth.payloadHash;
  const stages: Transform[] = [];
  if (mode === STREAMING_SIGNED || mode === STREAMING_SIGNED_TRAILER || mode === STREAMING_UNSIGNED_TRAILER) {
    const signing = mode === STREAMING_UNSIGNED_TRAILER ? null : { signingKey: auth.signingKey, amzDate: auth.amzDate, scope: auth.scope, seedSignature: auth.signature };
    stages.push(new AwsChunkedDecoder({ signing, decodedLength: length }));
  }
  const header = (n: string): string | null => {
    const v = req.headers[n];
    return typeof v === 'string' ? v.trim() : null;
  };
  // With a trailer, the checksum comes after the body (the decoder checks it), not as a header.
  const trailerMode = mode === STREAMING_SIGNED_TRAILER || mode === STREAMING_UNSIGNED_TRAILER;
  const contentMd5 = header('content-md5');
  if (contentMd5 !== null && !/^[A-Za-z0-9+/]{22}==$/.test(contentMd5)) throw new S3Error('InvalidDigest', 'the Content-MD5 you specified is not valid');
  const checker = new BodyChecker({
    sha256Hex: mode === UNSIGNED_PAYLOAD || mode.startsWith('STREAMING-') ? null : mode,
    contentMd5,
    crc32: trailerMode ? null : header('x-amz-checksum-crc32'),
    crc32c: trailerMode ? null : header('x-amz-checksum-crc32c'),
    length,
  });
  stages.push(checker);
  return { stages, checker, length };
}

/** A request body read whole up to `max` bytes (XML documents, small objects), checked like any body. */
export async function readSmallBody(req: IncomingMessage, auth: VerifiedAuth, max: number): Promise<{ body: Buffer; digest: BodyDigest }> {
  const { stages, checker } = bodyTransforms(req, auth);
  const parts: Buffer[] = [];
  let n = 0;
  const sink = new Writable({
    write(b: Buffer, _enc, cb) {
      n += b.length;
      if (n > max) return cb(new S3Error('EntityTooLarge', `the request body exceeds ${max} bytes`));
      parts.push(b);
      cb();
    },
  });
  await pipeline([req, ...stages, sink]);
  return { body: Buffer.concat(parts, n), digest: checker.digest };
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => name === 'Object' || name === 'Part' });

/** An XML request document as a plain object (elements named `Object` and `Part` always arrays); MalformedXML otherwise. */
export function parseXml(body: Buffer): Record<string, unknown> {
  try {
    const doc = parser.parse(body.toString('utf8'), true) as Record<string, unknown>;
    if (doc === null || typeof doc !== 'object') throw new Error('not a document');
    return doc;
  } catch {
    throw new S3Error('MalformedXML', 'the XML you provided was not well-formed or did not validate against our published schema');
  }
}

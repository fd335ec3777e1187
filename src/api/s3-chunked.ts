/**
 * The aws-chunked body decoder (Content-Encoding: aws-chunked), as a Transform that passes the
 * decoded bytes on as they arrive (memory: one header line at most, never a whole chunk):
 *
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD:          hex-size;chunk-signature=SIG\r\n DATA \r\n … 0;chunk-signature=SIG\r\n\r\n
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER:  … 0;chunk-signature=SIG\r\n name:value\r\n x-amz-trailer-signature:SIG\r\n\r\n
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER:          hex-size\r\n DATA \r\n … 0\r\n name:value\r\n\r\n
 *
 * Contracts:
 * - Each chunk's signature (chained from the request's seed signature) is checked when the chunk
 *   ends, before the next is read; a mismatch fails the stream with SignatureDoesNotMatch, so the
 *   write it feeds never commits (the bytes already passed on are uncommitted garbage).
 * - The decoded length must equal `decodedLength` (x-amz-decoded-content-length) when given;
 *   a body that ends early fails with IncompleteBody.
 * - A trailing x-amz-checksum-crc32 / -crc32c is checked against the decoded bytes (BadDigest);
 *   other trailing checksums are passed over.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from '@node-rs/crc32';
import { crc32c } from '../util/crc32c.js';
import { S3Error } from './s3-errors.js';
import { chunkStringToSign, signatureOf, signaturesEqual, trailerStringToSign } from './s3-sigv4.js';

/** A chunk header or trailer line longer than this is refused. */
export const CHUNK_LINE_BYTES_MAX = 4096;
/** Trailer lines at most. */
const TRAILER_LINES_MAX = 16;

export interface ChunkSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  /** The Authorization header's signature: the first chunk's "previous signature". */
  seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Signed chunks (null: STREAMING-UNSIGNED-PAYLOAD-TRAILER). */
  signing: ChunkSigning | null;
  /** x-amz-decoded-content-length, when sent. */
  decodedLength: number | null;
}

type State = 'header' | 'data' | 'crlf' | 'trailer' | 'done';

export class AwsChunkedDecoder extends Transform {
  private state: State = 'header';
  private line: Buffer[] = [];
  private lineBytes = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private chunkSig = '';
  private prevSig: string;
  private hash: Hash | null = null;
  private decoded = 0;
  private crc32 = 0;
  private crc32c = 0;
  private readonly trailers: string[] = [];

  constructor(private readonly opts: AwsChunkedOptions) {
    super();
    this.prevSig = opts.signing?.seedSignature ?? '';
  }

  /** Bytes decoded so far. */
  get decodedBytes(): number {
    return this.decoded;
  }

  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.consume(buf);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.state !== 'done') {
      cb(new S3Error('IncompleteBody', 'the aws-chunked body ended before its final chunk'));
      return;
    }
    cb();
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case 'header':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, i);
          const end = nl < 0 ? buf.length : nl + 1;
          this.lineBytes += end - i;
          if (this.lineBytes > CHUNK_LINE_BYTES_MAX) throw new S3Error('InvalidRequest', 'an aws-chunked header line is too long');
          this.line.push(buf.subarray(i, end));
          i = end;
          if (nl < 0) break;
          const text = Buffer.concat(this.line).toString('latin1');
          this.line = [];
          this.lineBytes = 0;
          if (!text.endsWith('\r\n')) throw new S3Error('InvalidRequest', 'aws-chunked lines end in CRLF');
          if (this.state === 'header') this.onHeader(text.slice(0, -2));
          else this.onTrailer(text.slice(0, -2));
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          const part = buf.subarray(i, i + n);
          this.hash?.update(part);
          this.crc32 = crc32(part, this.crc32);
          this.crc32c = crc32c(part, this.crc32c);
          this.push(part);
          this.decoded += n;
          if (this.opts.decodedLength !== null && this.decoded > this.opts.decodedLength) throw new S3Error('IncompleteBody', 'the aws-chunked body is longer than x-amz-decoded-content-length');
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = 'crlf';
          break;
        }
        case 'crlf': {
          const want = this.crlfSeen === 0 ? 0x0d : 0x0a;
          if (buf[i] !== want) throw new S3Error('InvalidRequest', 'an aws-chunked chunk is not followed by CRLF');
          i++;
          if (++this.crlfSeen === 2) {
            this.crlfSeen = 0;
            this.endChunk(this.hash === null ? '' : this.hash.digest('hex'));
            this.state = 'header';
          }
          break;
        }
        case 'done':
          throw new S3Error('InvalidRequest', 'bytes after the end of the aws-chunked body');
      }
    }
  }

  private onHeader(text: string): void {
    const semi = text.indexOf(';');
    const sizeHex = semi < 0 ? text : text.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeHex)) throw new S3Error('InvalidRequest', 'malformed aws-chunked chunk size');
    const size = Number.parseInt(sizeHex, 16);
    if (this.opts.signing !== null) {
      const m = /^chunk-signature=([0-9a-f]{64})$/.exec(semi < 0 ? '' : text.slice(semi + 1));
      if (!m) throw new S3Error('SignatureDoesNotMatch', 'an aws-chunked chunk has no chunk-signature');
      this.chunkSig = m[1]!;
    }
    this.hash = this.opts.signing === null ? null : createHash('sha256');
    if (size === 0) {
      this.endChunk(this.hash === null ? '' : this.hash.digest('hex'));
      if (this.opts.decodedLength !== null && this.decoded !== this.opts.decodedLength) throw new S3Error('IncompleteBody', `the aws-chunked body decoded to ${this.decoded} bytes, not x-amz-decoded-content-length ${this.opts.decodedLength}`);
      this.state = 'trailer';
      return;
    }
    this.remaining = size;
    this.state = 'data';
  }

  /** A chunk's data is complete: its signature must chain from the previous one. */
  private endChunk(sha256Hex: string): void {
    const s = this.opts.signing;
    if (s === null) return;
    const expected = signatureOf(s.signingKey, chunkStringToSign(s.amzDate, s.scope, this.prevSig, sha256Hex));
    if (!signaturesEqual(expected, this.chunkSig)) throw new S3Error('SignatureDoesNotMatch', 'an aws-chunked chunk signature does not match');
    this.prevSig = this.chunkSig;
  }

  private onTrailer(text: string): void {
    if (text === '') {
      this.checkTrailers();
      this.state = 'done';
      return;
    }
    if (this.trailers.length >= TRAILER_LINES_MAX) throw new S3Error('InvalidRequest', 'too many aws-chunked trailer lines');
    this.trailers.push(text);
  }

  private checkTrailers(): void {
    const s = this.opts.signing;
    let signedText = '';
    let trailerSig: string | null = null;
    for (const t of this.trailers) {
      const colon = t.indexOf(':');
      if (colon <= 0) throw new S3Error('InvalidRequest', 'malformed aws-chunked trailer');
      const name = t.slice(0, colon).trim().toLowerCase();
      const value = t.slice(colon + 1).trim();
      if (name === 'x-amz-trailer-signature') {
        trailerSig = value;
        continue;
      }
      signedText += `${name}:${value}\n`;
      const want = name === 'x-amz-checksum-crc32' ? this.crc32 : name === 'x-amz-checksum-crc32c' ? this.crc32c : null;
      if (want !== null && value !== crcBase64(want)) throw new S3Error('BadDigest', `the ${name} you specified did not match the calculated checksum`);
    }
    if (s !== null && this.trailers.length > 0) {
      const expected = signatureOf(s.signingKey, trailerStringToSign(s.amzDate, s.scope, this.prevSig, signedText));
      if (trailerSig === null || !signaturesEqual(expected, trailerSig)) throw new S3Error('SignatureDoesNotMatch', 'the aws-chunked trailer signature does not match');
    }
  }
}

/** A CRC as S3's checksum headers carry it: base64 of its 4 big-endian bytes. */
export function crcBase64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString('base64');
}

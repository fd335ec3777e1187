/**
 * AWS Signature Version 4 as S3 checks it (header auth and presigned query auth): canonical
 * request, string to sign, signing key, and the request-level checks (credential scope, clock
 * skew, expiry). Pure apart from node:crypto; the caller gives the wall-clock time.
 *
 * Contracts:
 * - Signatures are compared in constant time (both sides are 32-byte HMACs).
 * - The canonical URI is the path percent-decoded once and re-encoded with AWS's rules
 *   (unreserved characters kept, '/' kept); a client that signed its raw path another way is
 *   also accepted when that raw path verifies (S3 itself signs the path as sent).
 * - Errors are S3Error with the codes S3 uses: AccessDenied (no credentials), InvalidAccessKeyId,
 *   SignatureDoesNotMatch, RequestTimeTooSkewed, AuthorizationHeaderMalformed,
 *   AuthorizationQueryParametersError.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from './s3-errors.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** How far a request's time may be from ours (S3: 15 minutes). */
export const CLOCK_SKEW_MS_MAX = 15 * 60 * 1000;
/** Longest presigned URL lifetime (S3: 7 days). */
export const PRESIGN_EXPIRES_SEC_MAX = 7 * 24 * 3600;

/** What the request looks like to the verifier (raw, as received). */
export interface SignedRequest {
  method: string;
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  /** The query string as sent, without '?'. */
  rawQuery: string;
  /** Header name (lower case) → its values in order. */
  headers: Record<string, string[] | undefined>;
}

/** A verified request: whose key signed it, and what the body must be checked against. */
export interface VerifiedAuth {
  accessKeyId: string;
  /** x-amz-content-sha256: a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode. */
  payloadHash: string;
  /** For aws-chunked bodies: the seed signature and what chunk signatures are made from. */
  signature: string;
  amzDate: string;
  scope: string;
  signingKey: Buffer;
}

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding as AWS wants it: unreserved characters kept, everything else %XX (upper case); '/' kept unless encodeSlash. */
export function awsUriEncode(s: string, encodeSlash: boolean): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || c === '-' || c === '.' || c === '_' || c === '~' || (c === '/' && !encodeSlash)) out += c;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A query string as name/value pairs, decoded ('+' stays '+', as S3 reads it). */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (rawQuery === '') return out;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    out.push([safeDecode(name), safeDecode(value)]);
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error('InvalidArgument', 'the query string is not valid percent-encoded UTF-8');
  }
}

/** The canonical query string: pairs encoded, sorted by name then value, `skip` left out. */
export function canonicalQuery(pairs: ReadonlyArray<readonly [string, string]>, skip?: string): string {
  return pairs
    .filter(([n]) => n !== skip)
    .map(([n, v]) => [awsUriEncode(n, true), awsUriEncode(v, true)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([n, v]) => `${n}=${v}`)
    .join('&');
}

/** `name:value\n` for each signed header (values trimmed, inner runs of spaces collapsed, repeats joined by ','). */
export function canonicalHeaders(headers: Record<string, string[] | undefined>, signed: readonly string[]): string {
  let out = '';
  for (const name of signed) {
    const values = headers[name];
    if (values === undefined) throw new S3Error('SignatureDoesNotMatch', `signed header ${name} is missing`);
    out += `${name}:${values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  }
  return out;
}

export function canonicalRequest(method: string, canonicalUri: string, canonicalQueryString: string, canonHeaders: string, signedHeaders: readonly string[], payloadHash: string): string {
  return [method, canonicalUri, canonicalQueryString, canonHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequestText)].join('\n');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function signatureOf(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

/** Constant-time equality of two hex signatures (a malformed one never matches). */
export function signaturesEqual(a: string, b: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(a) || !/^[0-9a-f]{64}$/.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** The canonical URI of a raw path: decoded once, encoded by AWS's rules. */
export function canonicalUri(rawPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new S3Error('InvalidURI', 'the path is not valid percent-encoded UTF-8');
  }
  return awsUriEncode(decoded, false) || '/';
}

/** yyyymmddThhmmssZ → ms since the epoch, or null when malformed. */
export function parseAmzDate(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isFinite(t) ? t : null;
}

export interface VerifyOptions {
  region: string;
  /** The secret of an access key id, or undefined for an unknown one. */
  secretOf(accessKeyId: string): string | undefined;
  /** Wall-clock now, ms since the epoch. */
  nowMs: number;
}

const first = (req: SignedRequest, name: string): string | undefined => req.headers[name]?.[0];

/**
 * Verifies a request's SigV4 signature, from the Authorization header or from X-Amz-* query
 * parameters (presigned). Throws S3Error (see the file comment) when it does not verify.
 */
export function verifyRequest(req: SignedRequest, opts: VerifyOptions): VerifiedAuth {
  const pairs = parseQuery(req.rawQuery);
  const authz = first(req, 'authorization');
  if (authz !== undefined) return verifyHeader(req, authz, pairs, opts);
  if (pairs.some(([n]) => n === 'X-Amz-Signature')) return verifyPresigned(req, pairs, opts);
  throw new S3Error('AccessDenied', 'anonymous requests are not allowed: sign the request with SigV4');
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  scope: string;
}

function parseCredential(s: string, malformed: 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError', opts: VerifyOptions): Credential & { secret: string } {
  const parts = s.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) throw new S3Error(malformed, 'the Credential must be AKID/yyyymmdd/region/s3/aws4_request');
  const [accessKeyId, date, region, service] = parts as [string, string, string, string];
  if (service !== 's3') throw new S3Error(malformed, `the credential's service is ${service}, not s3`);
  if (region !== opts.region) throw new S3Error(malformed, `the region '${region}' is wrong; expecting '${opts.region}'`, { Region: opts.region });
  const secret = opts.secretOf(accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', 'the access key id does not exist');
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request`, secret };
}

function checkSkew(amzMs: number, nowMs: number): void {
  if (Math.abs(amzMs - nowMs) > CLOCK_SKEW_MS_MAX) throw new S3Error('RequestTimeTooSkewed', 'the difference between the request time and the server time is too large');
}

/** Verifies `expected` against the path as decoded-then-encoded, and against the raw path as sent. */
function signatureMatches(req: SignedRequest, query: string, canonHeaders: string, signed: readonly string[], payloadHash: string, amzDate: string, scope: string, key: Buffer, given: string): boolean {
  const uris = [canonicalUri(req.rawPath)];
  if (req.rawPath !== uris[0]) uris.push(req.rawPath);
  let ok = false;
  for (const uri of uris) {
    const sig = signatureOf(key, stringToSign(amzDate, scope, canonicalRequest(req.method, uri, query, canonHeaders, signed, payloadHash)));
    ok = signaturesEqual(sig, given) || ok;
  }
  return ok;
}

function signedHeaderList(s: string, malformed: 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError'): string[] {
  const list = s.split(';');
  if (list.some((h) => !/^[a-z0-9-]+$/.test(h)) || !list.includes('host')) throw new S3Error(malformed, 'SignedHeaders must be lower-case names and include host');
  return list;
}

function verifyHeader(req: SignedRequest, authz: string, pairs: Array<[string, string]>, opts: VerifyOptions): VerifiedAuth {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(authz.trim());
  if (!m) {
    if (/^AWS\s/.test(authz)) throw new S3Error('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256');
    throw new S3Error('AuthorizationHeaderMalformed', 'the Authorization header is not AWS4-HMAC-SHA256');
  }
  const fields = new Map<string, string>();
  for (const f of m[1]!.split(',')) {
    const eq = f.indexOf('=');
    if (eq > 0) fields.set(f.slice(0, eq).trim(), f.slice(eq + 1).trim());
  }
  const credText = fields.get('Credential');
  const signedText = fields.get('SignedHeaders');
  const given = fields.get('Signature');
  if (credText === undefined || signedText === undefined || given === undefined) throw new S3Error('AuthorizationHeaderMalformed', 'the Authorization header needs Credential, SignedHeaders and Signature');
  const cred = parseCredential(credText, 'AuthorizationHeaderMalformed', opts);
  const amzDate = first(req, 'x-amz-date') ?? '';
  let amzMs = parseAmzDate(amzDate);
  let dateForSigning = amzDate;
  if (amzMs === null) {
    const d = first(req, 'date');
    const t = d === undefined ? NaN : Date.parse(d);
    if (!Number.isFinite(t)) throw new S3Error('AccessDenied', 'the request needs a valid X-Amz-Date or Date header');
    amzMs = t;
    dateForSigning = new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  }
  if (dateForSigning.slice(0, 8) !== cred.date) throw new S3Error('SignatureDoesNotMatch', "the credential's date is not the request's date");
  checkSkew(amzMs, opts.nowMs);
  const payloadHash = first(req, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw new S3Error('InvalidRequest', 'missing required header for this request: x-amz-content-sha256');
  if (!isPayloadMode(payloadHash)) throw new S3Error('InvalidArgument', 'x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD or a STREAMING-* mode');
  const signed = signedHeaderList(signedText, 'AuthorizationHeaderMalformed');
  const key = signingKey(cred.secret, cred.date, cred.region, cred.service);
  if (!signatureMatches(req, canonicalQuery(pairs), canonicalHeaders(req.headers, signed), signed, payloadHash, dateForSigning, cred.scope, key, given)) {
    throw new S3Error('SignatureDoesNotMatch', 'the request signature we calculated does not match the signature you provided; check your key and signing method');
  }
  return { accessKeyId: cred.accessKeyId, payloadHash, signature: given, amzDate: dateForSigning, scope: cred.scope, signingKey: key };
}

function isPayloadMode(h: string): boolean {
  return /^[0-9a-f]{64}$/.test(h) || h === UNSIGNED_PAYLOAD || h === STREAMING_SIGNED || h === STREAMING_SIGNED_TRAILER || h === STREAMING_UNSIGNED_TRAILER;
}

function verifyPresigned(req: SignedRequest, pairs: Array<[string, string]>, opts: VerifyOptions): VerifiedAuth {
  const q = new Map(pairs);
  const bad = (msg: string): S3Error => new S3Error('AuthorizationQueryParametersError', msg);
  if (q.get('X-Amz-Algorithm') !== ALGORITHM) throw bad('X-Amz-Algorithm must be AWS4-HMAC-SHA256');
  const credText = q.get('X-Amz-Credential');
  const amzDate = q.get('X-Amz-Date') ?? '';
  const expiresText = q.get('X-Amz-Expires') ?? '';
  const signedText = q.get('X-Amz-SignedHeaders');
  const given = q.get('X-Amz-Signature') ?? '';
  if (credText === undefined || signedText === undefined) throw bad('a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
  const cred = parseCredential(credText, 'AuthorizationQueryParametersError', opts);
  const amzMs = parseAmzDate(amzDate);
  if (amzMs === null) throw bad('X-Amz-Date must be yyyymmddThhmmssZ');
  if (amzDate.slice(0, 8) !== cred.date) throw new S3Error('SignatureDoesNotMatch', "the credential's date is not X-Amz-Date's date");
  if (!/^\d{1,7}$/.test(expiresText)) throw bad('X-Amz-Expires must be a number of seconds');
  const expires = Number(expiresText);
  if (expires < 1 || expires > PRESIGN_EXPIRES_SEC_MAX) throw bad(`X-Amz-Expires must be from 1 to ${PRESIGN_EXPIRES_SEC_MAX} seconds`);
  if (amzMs - opts.nowMs > CLOCK_SKEW_MS_MAX) throw new S3Error('RequestTimeTooSkewed', 'X-Amz-Date is too far in the future');
  if (opts.nowMs > amzMs + expires * 1000) throw new S3Error('AccessDenied', 'Request has expired');
  const signed = signedHeaderList(signedText, 'AuthorizationQueryParametersError');
  const payloadHash = q.get('X-Amz-Content-Sha256') ?? first(req, 'x-amz-content-sha256') ?? UNSIGNED_PAYLOAD;
  if (!isPayloadMode(payloadHash) || payloadHash.startsWith('STREAMING-')) throw bad('a presigned request carries UNSIGNED-PAYLOAD or a SHA-256 of its body');
  const key = signingKey(cred.secret, cred.date, cred.region, cred.service);
  if (!signatureMatches(req, canonicalQuery(pairs, 'X-Amz-Signature'), canonicalHeaders(req.headers, signed), signed, payloadHash, amzDate, cred.scope, key, given)) {
    throw new S3Error('SignatureDoesNotMatch', 'the request signature we calculated does not match the signature you provided; check your key and signing method');
  }
  return { accessKeyId: cred.accessKeyId, payloadHash, signature: given, amzDate, scope: cred.scope, signingKey: key };
}

/** The string a streaming chunk's signature is made from (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
export function chunkStringToSign(amzDate: string, scope: string, previousSignature: string, chunkSha256Hex: string): string {
  return ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previousSignature, EMPTY_SHA256, chunkSha256Hex].join('\n');
}

/** The string a trailer's signature is made from (…-PAYLOAD-TRAILER). */
export function trailerStringToSign(amzDate: string, scope: string, previousSignature: string, trailerText: string): string {
  return ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previousSignature, sha256Hex(trailerText)].join('\n');
}

/**
 * S3 error codes and their statuses (the subset this endpoint answers), the mapping of Cairn's
 * catalogue codes onto them, and the XML writer every S3 response body uses.
 */
import { ERROR_CODES, isCairnError, isRetryable, type ErrorCode } from '../util/errors.js';

export const S3_ERRORS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3Code = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  override name = 'S3Error';
  readonly code: S3Code;
  readonly status: number;
  /** Extra elements of the error document (e.g. Region, BucketName). */
  readonly extra: Record<string, string>;

  constructor(code: S3Code, message: string, extra: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.status = S3_ERRORS[code];
    this.extra = extra;
  }
}

/** Cairn's catalogue onto S3's codes; `key` tells NotFound of an object from one of a bucket. */
export function s3ErrorOf(err: unknown, onNotFound: S3Code = 'NoSuchKey'): S3Error {
  if (err instanceof S3Error) return err;
  if (!isCairnError(err)) return new S3Error('InternalError', 'we encountered an internal error; please try again');
  const msg = err.expose ? err.message : ERROR_CODES[err.code].message;
  const map: Partial<Record<ErrorCode, S3Code>> = {
    InvalidArgument: 'InvalidArgument',
    InvalidPath: 'InvalidArgument',
    Unauthorized: 'AccessDenied',
    NotFound: onNotFound,
    MethodNotAllowed: 'MethodNotAllowed',
    // A key under a "directory" that is a file, or a key that is a directory: the namespace
    // cannot hold both (docs/s3.md).
    AlreadyExists: 'InvalidRequest',
    NotADirectory: 'InvalidRequest',
    IsADirectory: onNotFound,
    NotEmpty: 'BucketNotEmpty',
    PreconditionFailed: 'PreconditionFailed',
    TooLarge: 'EntityTooLarge',
    RangeNotSatisfiable: 'InvalidRange',
    NoSpace: 'ServiceUnavailable',
  };
  const code = map[err.code] ?? (isRetryable(err.code) ? 'ServiceUnavailable' : 'InternalError');
  return new S3Error(code, code === 'InternalError' ? 'we encountered an internal error; please try again' : msg);
}

/** XML text escaping for element content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** An XML element tree: a string is text, an array repeats the element, an object nests. */
export type XmlValue = string | number | boolean | null | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

function writeValue(name: string, v: XmlValue, out: string[]): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const item of v) writeValue(name, item, out);
    return;
  }
  if (typeof v === 'object') {
    out.push(`<${name}>`);
    for (const [k, child] of Object.entries(v)) writeValue(k, child, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${xmlEscape(String(v))}</${name}>`);
}

const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** A whole XML document with `root` (in the S3 namespace unless `ns` is false). */
export function xmlDocument(root: string, body: XmlNode, ns = true): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n', ns ? `<${root} xmlns="${S3_NS}">` : `<${root}>`];
  for (const [k, v] of Object.entries(body)) writeValue(k, v, out);
  out.push(`</${root}>`);
  return out.join('');
}

export function errorDocument(e: S3Error, resource: string, requestId: string): string {
  return xmlDocument('Error', { Code: e.code, Message: e.message, ...e.extra, Resource: resource, RequestId: requestId }, false);
}

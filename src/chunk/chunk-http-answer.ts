/**
 * What the chunk data plane's handlers (chunk-http-server.ts, chunk-put.ts, chunk-get.ts) share:
 * reading request headers, the answers' headers and bodies, and how an error goes on the wire
 * and into the log. The wire API itself is described in chunk-http-server.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { H_CRC, H_SIZE, errorHead, type WireError } from '../proto/chunk-http.js';
import { crcToHex } from '../util/crc32c.js';
import { CairnError, ERROR_CODES, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

/** Why an upload stopped when its client went away (a disconnect, a Ctrl-C): not this server's fault. */
export function clientGone(): CairnError {
  return new CairnError('Unavailable', 'the client went away mid-upload', { clientGone: true });
}

export function isClientGone(e: unknown): boolean {
  return isCairnError(e) && e.detail?.clientGone === true;
}

/** A refused request or a client that went away is routine (info); anything else is an error. */
export function logRequestError(log: Logger, msg: string, e: unknown, fields: Record<string, unknown>): void {
  if (isCairnError(e) && (e.status < 500 || isClientGone(e))) log.info(msg, { ...fields, code: e.code, err: e.message });
  else log.error(msg, { ...fields, err: e instanceof Error ? e.message : String(e) });
}

/** The headers of a GET/HEAD answer: the body's length, and the WHOLE chunk's size and CRC. */
export function chunkHeaders(size: number, crc: number, length: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(length),
    'accept-ranges': 'bytes',
    [H_SIZE]: String(size),
    [H_CRC]: crcToHex(crc),
  };
}

/** A header given at most once; InvalidArgument when repeated. */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw new CairnError('InvalidArgument', `header ${name} given more than once`);
  return v;
}

export function parseSize(v: string | string[] | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new CairnError('InvalidArgument', `bad ${name}`);
  return Number(v);
}

export function wireOf(e: unknown): WireError {
  if (isCairnError(e)) return { code: e.code, message: e.expose ? e.message : ERROR_CODES[e.code].message };
  if ((e as { name?: unknown })?.name === 'AbortError') return { code: 'Unavailable', message: 'aborted' };
  return { code: 'Internal', message: ERROR_CODES.Internal.message };
}

export function notAttempted(): WireError {
  return { code: 'Unavailable', message: 'not attempted: an earlier server in the pipeline failed' };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, Object.assign({}, headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }));
  res.end(text);
}

/** An error answer: the code's status, the code in X-Cairn-Error, and `body` (which carries it too). */
export function sendError(res: ServerResponse, err: WireError, body: unknown): void {
  const { status, headers } = errorHead(err.code);
  sendJson(res, status, body, headers);
}

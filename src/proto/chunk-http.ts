/**
 * The chunk servers' HTTP data plane as one definition that both sides import: header names, the
 * write-pipeline header, the PUT result entries, and error code ↔ HTTP status in both directions.
 * The routes and their semantics are documented in src/chunk/chunk-http-server.ts.
 *
 * Errors: every error response carries its code twice — in the `X-Cairn-Error` header (the only
 * channel a HEAD answer has) and in the JSON body `{"error":{"code","message"}}` (GET, PUT,
 * DELETE). The status is the code's status in util/errors.ts. A reader takes the code from the
 * header, else the body, and falls back to a status mapping only when neither names a known
 * code (a server from before the header, a proxy, Node's own answers to malformed HTTP).
 */
import { parseHostPort } from './addr.js';
import { CairnError, ERROR_CODES, type ErrorCode } from '../util/errors.js';

/** A chunk token (src/chunk/chunk-token.ts) for this chunk and operation. */
export const H_TOKEN = 'x-cairn-token';
/** The whole chunk's size: expected size on PUT, actual size on GET/HEAD answers. */
export const H_SIZE = 'x-cairn-size';
/** The whole chunk's CRC-32C as 8 hex digits: expected on PUT, actual on GET/HEAD answers. */
export const H_CRC = 'x-cairn-crc32c';
/**
 * On a GET: `reader` (VERIFY_BY_READER) says the reader checks a whole chunk's bytes against its
 * CRC-32C (X-Cairn-Crc32c) and reports a mismatch (fs.bad, which makes the server re-verify its
 * replica), so a whole-chunk answer goes out without the server checking each segment first: the
 * bytes are hashed once, by the reader, not twice (HDFS leaves a client read's checksums to the
 * client the same way). A ranged answer is checked segment by segment whatever this says: a range
 * cannot be checked against the whole-chunk CRC.
 */
export const H_VERIFY = 'x-cairn-verify';
export const VERIFY_BY_READER = 'reader';
/** Downstream servers of a pipelined PUT (formatPipeline). */
export const H_PIPELINE = 'x-cairn-pipeline';
/** The error code of an error answer. */
export const H_ERROR = 'x-cairn-error';

/** Characters of X-Cairn-Pipeline allowed per downstream server. */
const PIPELINE_ENTRY_CHARS_MAX = 400;

export interface ChunkTarget {
  /** `host:port` of a chunk server's data plane. */
  addr: string;
  /** A 'write' (or 'copy') token for this chunk. */
  token: string;
}

/** An error as it travels: code and a message fit for the caller. */
export interface WireError {
  code: ErrorCode;
  message: string;
}

/** One entry of a PUT answer's `results`, in pipeline order starting with the receiving server. */
export interface ChunkTargetResult {
  addr: string;
  ok: boolean;
  /** Why this target failed; `code` 'Unavailable' + 'not attempted' when the pipeline never reached it. */
  error?: WireError;
}

/** `addr token, addr token` — the downstream part of a write pipeline. */
export function formatPipeline(targets: readonly ChunkTarget[]): string {
  return targets.map((t) => `${t.addr} ${t.token}`).join(', ');
}

/** Parses X-Cairn-Pipeline. Throws InvalidArgument on anything malformed or over `targetsMax`. */
export function parsePipeline(header: string | undefined, targetsMax: number): ChunkTarget[] {
  if (header === undefined || header.trim() === '') return [];
  if (header.length > targetsMax * PIPELINE_ENTRY_CHARS_MAX) throw new CairnError('InvalidArgument', 'pipeline header too long');
  const out: ChunkTarget[] = [];
  for (const part of header.split(',')) {
    const m = /^\s*(\S+) ([A-Za-z0-9_-]{1,200})\s*$/.exec(part);
    if (!m) throw new CairnError('InvalidArgument', 'pipeline entries are "host:port token", comma-separated');
    parseHostPort(m[1]!);
    out.push({ addr: m[1]!, token: m[2]! });
  }
  if (out.length > targetsMax) throw new CairnError('InvalidArgument', `a pipeline has at most ${targetsMax} downstream servers`);
  return out;
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, v);
}

/** The status an error answer with this code is sent with. */
export function statusOfCode(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** Status and headers of an error answer (the body is `{"error": WireError, …}`). */
export function errorHead(code: ErrorCode): { status: number; headers: Record<string, string> } {
  return { status: statusOfCode(code), headers: { [H_ERROR]: code } };
}

/**
 * The code for an error answer that did not name one. A status shared by several codes maps to
 * the one that claims nothing more than the status itself says:
 *   - 500 → Internal, never Corrupt: a reader that sees Corrupt reports the replica as damaged;
 *   - 503 → Unavailable, never NotLeader (chunk servers have no leader; NotLeader sends a caller
 *     looking for a leader hint), Timeout or ProposalDropped;
 *   - 400 → InvalidArgument (Node's own answer to malformed HTTP), 408 → Timeout (Node's request
 *     timeout), 414 / 431 → TooLarge (URL / header block over Node's limits);
 *   - 409 → ProtocolError: every 409 code makes a specific claim (AlreadyExists: a different
 *     replica is stored; the others are namespace or membership states a chunk server never has),
 *     and a chunk server always sends the code with its one 409, so a bare 409 did not come from
 *     the chunk protocol; nothing in it may be assumed.
 * Any other 5xx is Unavailable (try another replica); any other status is ProtocolError.
 */
export function codeOfStatus(status: number): ErrorCode {
  const code = STATUS_FALLBACK[status];
  if (code !== undefined) return code;
  return status >= 500 && status <= 599 ? 'Unavailable' : 'ProtocolError';
}

const STATUS_FALLBACK: Readonly<Record<number, ErrorCode>> = {
  400: 'InvalidArgument',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  408: 'Timeout',
  409: 'ProtocolError',
  412: 'PreconditionFailed',
  413: 'TooLarge',
  414: 'TooLarge',
  416: 'RangeNotSatisfiable',
  431: 'TooLarge',
  500: 'Internal',
  503: 'Unavailable',
  507: 'NoSpace',
};

/**
 * The error an answer carries: the code from X-Cairn-Error, else from the body's `error.code`,
 * else codeOfStatus(status). The message is the body's when it has one.
 */
export function wireErrorOf(status: number, headerCode: string | string[] | undefined, body: unknown): WireError {
  const e = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  const fields = typeof e === 'object' && e !== null ? (e as { code?: unknown; message?: unknown }) : {};
  const code = isErrorCode(headerCode) ? headerCode : isErrorCode(fields.code) ? fields.code : null;
  if (code !== null) return { code, message: typeof fields.message === 'string' ? fields.message : code };
  return { code: codeOfStatus(status), message: `HTTP ${status}` };
}

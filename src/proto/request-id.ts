/**
 * Request ids: one id names one user request (a gateway request, a client library put or read)
 * in every log line it causes — the gateway's access line, the chunk servers' lines for its
 * chunk requests and the metadata servers' lines for its calls — so `grep <id> logs/*.log`
 * follows it across processes.
 *
 * It travels as the `X-Request-Id` header (gateway requests and answers, chunk requests) and
 * as the `rid` field of a metadata RPC request frame (net/net-server.ts). It is a label, never
 * trusted for anything: a malformed one is dropped (and, at the gateway, replaced).
 */

/** The HTTP header carrying it (gateway and chunk data plane alike). */
export const REQUEST_ID_HEADER = 'x-request-id';

/** Longest request id kept. */
export const REQUEST_ID_CHARS_MAX = 128;

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id when `v` is a well-formed request id (1..128 of [A-Za-z0-9._:-]), else null. */
export function parseRequestId(v: unknown): string | null {
  return typeof v === 'string' && REQUEST_ID_RE.test(v) ? v : null;
}

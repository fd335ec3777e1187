/**
 * What an HTTP server does with a request body nothing has read when it answers early (a refusal:
 * no upload slot, a bad token, a full budget). A body nothing has read yet, of a known length up
 * to UNREAD_BODY_DRAIN_BYTES_MAX, is read and dropped after the answer and the connection stays
 * open: a client still sending it is not cut off before it reads the answer (closing with bytes
 * unread makes the kernel reset the connection, which can discard the answer on the client's
 * side, seen there as EPIPE or "fetch failed"). Anything else closes the connection: its bytes
 * must not be parsed as the next request, and an endless body is not worth reading. This is
 * nginx's lingering close, bounded; the server's idle timeout still cuts a drain that stalls.
 *
 * Used by the gateway (native and S3 routes) and the chunk servers' data plane.
 */
import { UNREAD_BODY_DRAIN_BYTES_MAX } from '../config/defaults.js';

/** What this needs of a node:http IncomingMessage (HTTP itself lives in chunk, api and server). */
export interface UnreadRequest {
  readonly complete: boolean;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly readableDidRead: boolean;
  readonly destroyed: boolean;
  resume(): unknown;
}

/** Drain `req`'s unread body after the answer, or set `Connection: close` through `setHeader`. */
export function closeOrDrainUnreadBody(req: UnreadRequest, setHeader: (field: string, value: string) => void): void {
  if (req.complete) return;
  const length = Number(req.headers['content-length']);
  const drainable = req.headers['transfer-encoding'] === undefined && Number.isSafeInteger(length) && length <= UNREAD_BODY_DRAIN_BYTES_MAX && !req.readableDidRead && !req.destroyed;
  if (drainable) req.resume();
  else setHeader('connection', 'close');
}

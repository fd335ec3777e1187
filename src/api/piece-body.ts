/**
 * An opened file's bytes as a GET's response body, for /v1 (file-routes.ts) and S3
 * (s3-objects.ts): an inline file's as one buffer through koa; a chunked file's written by this
 * module, piece by piece, from the reader's pooled buffers (FileReader.nextPiece) straight to the
 * response, each buffer given back once its write completed. Through koa (a Readable piped to the
 * response) every piece needed a fresh chunk-sized buffer — the pipe cannot say when the socket
 * is done with one — and those buffers, freed only by the collector, were most of the gateway's
 * GC time and its peak RSS on a large GET (bench/RESULTS.md).
 *
 * Contracts:
 * - Status and headers are the route's, as set before sendOpened, and Content-Length is the
 *   range's length; ctx.body is the reader, as it was when koa piped it (so koa's rules for a
 *   stream body hold: Content-Type when the route set none), but koa writes nothing for this
 *   response (ctx.respond = false).
 * - Backpressure: a piece is written only once the response has taken the previous ones
 *   ('drain'), so a client that stops reading holds at most the reader's read-ahead plus the
 *   piece being written; nothing more is fetched.
 * - A client that goes away (the response closes before its end) destroys the reader, which
 *   aborts its chunk requests (their sockets are closed, not left half-read) and gives back the
 *   pieces it fetched ahead; a piece whose write never reported completion is dropped, not reused.
 * - A read that fails mid-body (no replica of a chunk can be read, or every copy fails its
 *   checksum) destroys the response: the client sees a cut connection, never a short body
 *   passed off as whole or bytes that were not verified. As with koa's stream body, this holds
 *   also when the failure comes before the first byte (the status line is not sent then).
 */
import type { ServerResponse } from 'node:http';
import type Koa from 'koa';
import { FileReader, type LentPiece, type OpenResult } from '../client/file-reader.js';
import { CairnError } from '../util/errors.js';

/** The part of a koa context this needs (the /v1 and the S3 contexts both are one). */
type BodyCtx = Pick<Koa.Context, 'res' | 'body' | 'length' | 'respond' | 'onerror'>;

/** `o`'s bytes of [o.start, o.end) as the response body (the route has set status and headers). */
export function sendOpened(ctx: BodyCtx, o: OpenResult): void {
  if (o.inline !== null) {
    ctx.body = o.inline;
    return;
  }
  const reader = o.stream;
  ctx.length = o.end - o.start;
  if (!(reader instanceof FileReader)) {
    // Not a reader of this library (nothing makes one today): koa pipes it, cut off if the client goes away.
    ctx.res.once('close', () => reader.destroy(ctx.res.writableFinished ? undefined : clientGone()));
    ctx.body = reader;
    return;
  }
  // What every middleware sees is a stream body, as before (koa sets its Content-Type when the
  // route set none, and destroys it when the response ends); koa does not pipe it: writePieces
  // writes the response.
  ctx.body = reader;
  ctx.respond = false;
  void writePieces(ctx, reader);
}

/** Drops an opened file that will not be sent (an inline one has no stream to drop). */
export function discardOpened(o: OpenResult): void {
  if (o.inline === null) o.stream.destroy();
}

const clientGone = (): CairnError => new CairnError('Unavailable', 'the client went away');

/** The reader's pieces to ctx.res in order, then its end; see the contracts above. Never rejects. */
async function writePieces(ctx: BodyCtx, reader: FileReader): Promise<void> {
  const res: ServerResponse = ctx.res;
  // A failure reaches this loop through nextPiece; the 'error' the destroyed Readable also emits
  // has nobody else to hear it (unheard, it would end the process).
  reader.on('error', () => undefined);
  /** Pieces handed to res.write whose completion has not been reported. */
  const writing = new Set<LentPiece>();
  let closed = false;
  const onClose = (): void => {
    closed = true;
    if (!res.writableFinished) reader.destroy(clientGone());
    // The socket is gone: a write that has not reported by now is not reused (dropped).
    for (const p of writing) p.drop();
    writing.clear();
  };
  res.once('close', onClose);
  if (res.destroyed) onClose();
  try {
    // Bounded by the range's pieces: nextPiece gives null after the last (or throws).
    for (;;) {
      const piece = await reader.nextPiece();
      if (piece === null) break;
      if (closed) {
        piece.release();
        return;
      }
      writing.add(piece);
      const more = res.write(piece.bytes, (err) => {
        if (!writing.delete(piece)) return; // settled by onClose
        if (err) piece.drop();
        else piece.release();
      });
      if (!more) await drained(res);
      if (closed) return;
    }
    if (!closed) res.end();
  } catch (e) {
    if (closed) return;
    // Mid-body (or before the first byte): cut the response; koa's onerror logs it, as for a stream body.
    res.destroy();
    ctx.onerror(e as Error);
  }
}

/** Resolves once `res` has taken what it was given ('drain') or closed. */
function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

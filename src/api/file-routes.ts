/**
 * File routes: PUT /v1/files/{path} (raw body), POST (multipart, multipart-upload.ts), GET/HEAD
 * with Range and conditional headers, DELETE; and the GET body writer S3's GetObject shares
 * (sendOpened, at the end).
 *
 * Decisions where CONTRACT.md is silent (see README "HTTP API"):
 *   - Range: one range only; several ranges or a malformed header → the whole file (200)
 *     (proto/http-range.ts).
 *   - PUT without If-None-Match replaces; `If-None-Match: *` refuses an existing file (412);
 *     any other If-None-Match or an If-Match on PUT → 400 (not supported).
 *   - GET of a directory → 409 IsADirectory.
 *   - Content-Type: a PUT's (and a multipart part's) is stored as the file's `content-type`
 *     attribute, as sent; a PUT without one stores none, and GET/HEAD then answer
 *     application/octet-stream. A value over 1 KiB or with control characters → 400.
 *   - GET/HEAD of a file also send X-Cairn-Crc32c (the whole file's CRC-32C, also on a 206) and
 *     Content-Disposition: the file's stored `content-disposition` attribute, else
 *     `attachment; filename*=UTF-8''<name, percent-encoded>` (RFC 6266/8187). HEAD answers from
 *     one stat: no data is read.
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type Router from '@koa/router';
import type Koa from 'koa';
import { FileReader, type LentPiece, type OpenResult } from '../client/file-reader.js';
import type { PutResult } from '../client/file-writer.js';
import type { FileAttrs } from '../proto/file-attrs.js';
import type { RemotePath } from '../proto/path.js';
import { crcToHex } from '../util/crc32c.js';
import { decideRange, formatContentRange, unsatisfiedContentRange } from '../proto/http-range.js';
import { CairnError, isCairnError } from '../util/errors.js';
import { contentHeaders, contentTypeAttrs } from './content-headers.js';
import { etagListMatches, quoteEtag } from './etag-match.js';
import { FILES, readBody, remotePath, type GatewayCtx, type GatewayState, type RouteDeps } from './gateway-context.js';
import { multipartUpload } from './multipart-upload.js';

/**
 * A PUT body whose Content-Length is at most this is read whole, then stored from memory (the
 * small-file path: no stream pipeline per request); larger or unsized bodies stream. Memory:
 * at most inflightMax × this.
 */
export const BUFFERED_BODY_BYTES_MAX = 64 * 1024;

export function fileRoutes(router: Router<GatewayState>, deps: RouteDeps): void {
  const { client, limits, uploads } = deps;

  router.put(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.put';
    const path = remotePath(ctx.path, FILES);
    const inm = ctx.get('if-none-match');
    if (ctx.get('if-match') !== '' || (inm !== '' && inm.trim() !== '*')) {
      throw new CairnError('InvalidArgument', 'on PUT only "If-None-Match: *" is supported');
    }
    const createOnly = inm.trim() === '*';
    const declared = ctx.get('content-length');
    if (declared !== '' && Number(declared) > limits.uploadBytesMax) throw new CairnError('TooLarge', `the body exceeds ${limits.uploadBytesMax} bytes`);
    const attrs = contentTypeAttrs(ctx.get('content-type'));
    const r =
      declared !== '' && Number(declared) <= BUFFERED_BODY_BYTES_MAX ? await putSmall(ctx, path, Number(declared), createOnly, attrs) : await putStream(ctx, path, declared, createOnly, attrs);
    ctx.status = 201;
    ctx.set('ETag', quoteEtag(r.etag));
    ctx.body = { path: r.path, size: r.size, etag: r.etag };
  });

  /** A small body, read whole first, then stored with one put of its bytes (one fs.put when it goes inline). */
  const putSmall = async (ctx: GatewayCtx, path: RemotePath, length: number, createOnly: boolean, attrs: FileAttrs): Promise<PutResult> => {
    // Refused while the upload budget is full; its few bytes are bounded by inflightMax instead.
    uploads.begin('the upload').end();
    const body = await readBody(ctx.req, length);
    try {
      return await client.put(path, body, { overwrite: !createOnly, attrs, requestId: ctx.state.requestId });
    } catch (e) {
      if (createOnly && isCairnError(e, 'AlreadyExists')) throw new CairnError('PreconditionFailed', `${path} exists (If-None-Match: *)`);
      throw e;
    }
  };

  /**
   * A body of unknown or large size, streamed to the chunk servers as it arrives; aborted if the
   * client goes away or sends nothing for the upload idle timeout; its buffered bytes count
   * against the upload budget (upload-budget.ts).
   */
  const putStream = async (ctx: GatewayCtx, path: RemotePath, declared: string, createOnly: boolean, attrs: FileAttrs): Promise<PutResult> => {
    const upload = uploads.begin('the upload');
    const ac = new AbortController();
    const onGone = (): void => {
      if (!ctx.req.complete) ac.abort(new CairnError('Unavailable', 'the client went away mid-upload'));
    };
    ctx.req.once('close', onGone);
    let r: PutResult;
    let w: ReturnType<typeof client.createWriteStream> | null = null;
    try {
      w = client.createWriteStream(path, { overwrite: !createOnly, signal: ac.signal, attrs, requestId: ctx.state.requestId, onProgress: (b) => upload.stored(b), ...(declared === '' ? {} : { expectedSize: Number(declared) }) });
      await pipeline(ctx.req, upload.meter({ bytesMax: limits.uploadBytesMax, what: 'the body' }), w);
      r = await w.done;
    } catch (e) {
      w?.destroy(e as Error);
      if (createOnly && isCairnError(e, 'AlreadyExists')) throw new CairnError('PreconditionFailed', `${path} exists (If-None-Match: *)`);
      throw e;
    } finally {
      ctx.req.off('close', onGone);
      upload.end();
    }
    return r;
  };

  router.post(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.multipart';
    const dir = remotePath(ctx.path, FILES);
    if (!/^multipart\/form-data\s*;/i.test(ctx.get('content-type'))) throw new CairnError('InvalidArgument', 'POST /v1/files/{dir} needs a multipart/form-data body');
    ctx.body = { files: await multipartUpload(ctx, dir, deps) };
    ctx.status = 201;
  });

  /**
   * Validators and preconditions of one version: sets Accept-Ranges, ETag, Last-Modified,
   * X-Cairn-Crc32c and the content headers (type, disposition); throws PreconditionFailed when
   * If-Match fails; true when If-None-Match matches (answer 304).
   */
  const notModified = (ctx: GatewayCtx, path: RemotePath, v: { etag: string | null; mtime: number; crc32c: number | null; attrs: FileAttrs }): boolean => {
    const { etag, mtime } = v;
    ctx.set('Accept-Ranges', 'bytes');
    if (etag !== null) ctx.set('ETag', quoteEtag(etag));
    ctx.set('Last-Modified', new Date(mtime).toUTCString());
    if (v.crc32c !== null) ctx.set('X-Cairn-Crc32c', crcToHex(v.crc32c));
    const ifMatch = ctx.get('if-match');
    if (ifMatch !== '' && !etagListMatches(ifMatch, etag, false)) throw new CairnError('PreconditionFailed', 'If-Match does not match the current ETag');
    const content = contentHeaders(path.name, v.attrs);
    // Set as stored: koa's `ctx.type` would rewrite it (a charset added to text types).
    ctx.set('Content-Type', content.type);
    ctx.set('Content-Disposition', content.disposition);
    const ifNoneMatch = ctx.get('if-none-match');
    return ifNoneMatch !== '' && etagListMatches(ifNoneMatch, etag, true);
  };

  /**
   * GET of a whole file: one open (one metadata call; a small file's bytes come in its answer)
   * gives the version's size and validators, so no stat goes before it.
   */
  const getWhole = async (ctx: GatewayCtx, path: RemotePath): Promise<void> => {
    const o = await client.open(path, { requestId: ctx.state.requestId });
    let sent = false;
    try {
      if (notModified(ctx, path, o)) {
        ctx.status = 304;
        return;
      }
      ctx.status = 200;
      sent = true;
      await sendOpened(ctx, o);
    } finally {
      if (!sent) discardOpened(o);
    }
  };

  /**
   * The Range header decided against `size`: sets the status (206 with Content-Range, or 200) and
   * the type, and gives [start, end); RangeNotSatisfiable (416) past the end.
   */
  const rangeOf = (ctx: GatewayCtx, size: number): { start: number; end: number } => {
    const range = decideRange(ctx.get('range') || undefined, size);
    if (range.kind === 'unsatisfiable') {
      ctx.set('Content-Range', unsatisfiedContentRange(size));
      ctx.remove('Content-Disposition'); // the answer is an error document, not the file
      throw new CairnError('RangeNotSatisfiable', `range ${ctx.get('range')} is outside the file (${size} bytes)`);
    }
    if (range.kind === 'partial') {
      ctx.status = 206;
      ctx.set('Content-Range', formatContentRange(range.start, range.end, size));
      return { start: range.start, end: range.end };
    }
    ctx.status = 200;
    return { start: 0, end: size };
  };

  /** HEAD: the headers a GET would answer with (Range decided too), from one stat. */
  const headOf = async (ctx: GatewayCtx, path: RemotePath): Promise<void> => {
    const st = await client.stat(path);
    if (st.type === 'dir') throw new CairnError('IsADirectory', `${path} is a directory`);
    if (notModified(ctx, path, st)) {
      ctx.status = 304;
      return;
    }
    const { start, end } = rangeOf(ctx, st.size);
    // No body: koa answers HEAD with these headers and the length.
    ctx.length = end - start;
  };

  /**
   * GET with a Range, decided against the size the open gives: an inline file's range is a slice
   * of the bytes that came with it (one metadata call); a chunked file's range is opened as such
   * once the whole-file open has given its size and version.
   */
  const getRange = async (ctx: GatewayCtx, path: RemotePath): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const o = await client.open(path, { requestId: ctx.state.requestId });
      let part: { start: number; end: number };
      let sent = false;
      try {
        if (notModified(ctx, path, o)) {
          ctx.status = 304;
          return;
        }
        part = rangeOf(ctx, o.size);
        if (o.inline !== null) {
          ctx.body = o.inline.subarray(part.start, part.end);
          return;
        }
        if (part.start === 0 && part.end === o.size) {
          sent = true;
          await sendOpened(ctx, o);
          return;
        }
      } finally {
        if (!sent) discardOpened(o);
      }
      const r = await client.open(path, { ...part, requestId: ctx.state.requestId });
      if (r.etag !== o.etag) {
        // Replaced between the two opens: answer for the new version (once).
        discardOpened(r);
        if (attempt === 0) continue;
        throw new CairnError('Unavailable', `${path} is being replaced; retry`);
      }
      await sendOpened(ctx, r);
      return;
    }
  };

  const getOrHead = async (ctx: GatewayCtx): Promise<void> => {
    const head = ctx.method === 'HEAD';
    ctx.state.route = head ? 'files.head' : 'files.get';
    const path = remotePath(ctx.path, FILES);
    if (head) return headOf(ctx, path);
    if (ctx.get('range') === '') return getWhole(ctx, path);
    return getRange(ctx, path);
  };
  // A GET route answers HEAD too (koa-router); getOrHead tells them apart.
  router.get(/^\/v1\/files\/.*$/, getOrHead);

  router.delete(/^\/v1\/files\/.*$/, async (ctx) => {
    ctx.state.route = 'files.delete';
    const path = remotePath(ctx.path, FILES);
    const rec = ctx.query.recursive;
    if (rec !== undefined && rec !== 'true' && rec !== 'false') throw new CairnError('InvalidArgument', 'recursive must be true or false');
    await client.rm(path, { recursive: rec === 'true' });
    ctx.status = 204;
  });
}

/*
 * GET bodies, one writer for /v1 (above) and S3 (s3-objects.ts): an inline file's bytes as one
 * buffer through koa; a chunked file's written here, piece by piece, from the reader's pooled
 * buffers (FileReader.nextPiece) straight to the response, each buffer given back once its write
 * completed. Through koa (a Readable piped to the response) every piece needed a fresh
 * chunk-sized buffer — the pipe cannot say when the socket is done with one — and those buffers,
 * freed only by the collector, were most of the gateway's GC time and its peak RSS on a large
 * GET (bench/RESULTS.md).
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
 * - The first piece is read before anything is sent: a read that fails then (no replica of the
 *   first chunk can be read now, or every copy fails its checksum) is thrown to the route, whose
 *   error middleware answers it (JSON for /v1, XML for S3) without the file's headers.
 * - A read that fails mid-body destroys the response: the client sees a cut connection, never a
 *   short body passed off as whole or bytes that were not verified.
 */

/** The part of a koa context this needs (the /v1 and the S3 contexts both are one). */
type BodyCtx = Pick<Koa.Context, 'res' | 'body' | 'length' | 'respond' | 'onerror'>;

/**
 * `o`'s bytes of [o.start, o.end) as the response body (the route has set status and headers).
 * Takes `o` over: resolves once the body is under way (or, for a file the client went away from
 * meanwhile, given up); rejects, with `o` dropped and the file's headers taken off the response,
 * when its first piece cannot be read.
 */
export async function sendOpened(ctx: BodyCtx, o: OpenResult): Promise<void> {
  if (o.inline !== null) {
    ctx.body = o.inline;
    return;
  }
  const reader = o.stream;
  if (!(reader instanceof FileReader)) {
    // Not a reader of this library (nothing makes one today): koa pipes it, cut off if the client goes away.
    ctx.length = o.end - o.start;
    ctx.res.once('close', () => reader.destroy(ctx.res.writableFinished ? undefined : clientGone()));
    ctx.body = reader;
    return;
  }
  // A failure reaches writePieces through nextPiece; the 'error' the destroyed Readable also
  // emits has nobody else to hear it (unheard, it would end the process).
  reader.on('error', () => undefined);
  const res: ServerResponse = ctx.res;
  const gone = (): void => void reader.destroy(clientGone());
  res.once('close', gone);
  let first: LentPiece | null;
  try {
    first = await reader.nextPiece();
  } catch (e) {
    reader.destroy();
    if (!res.headersSent) for (const h of res.getHeaderNames()) if (!KEPT_ON_ERROR.has(h)) res.removeHeader(h);
    throw e;
  } finally {
    res.off('close', gone);
  }
  if (res.destroyed) {
    first?.release();
    reader.destroy(clientGone());
    return;
  }
  ctx.length = o.end - o.start;
  // What every middleware sees is a stream body, as before (koa sets its Content-Type when the
  // route set none, and destroys it when the response ends); koa does not pipe it: writePieces
  // writes the response.
  ctx.body = reader;
  ctx.respond = false;
  void writePieces(ctx, reader, first);
}

/** Headers an error answer keeps from the route (lower case, as getHeaderNames gives them). */
const KEPT_ON_ERROR = new Set(['x-request-id', 'x-amz-request-id']);

/** Drops an opened file that will not be sent (an inline one has no stream to drop). */
export function discardOpened(o: OpenResult): void {
  if (o.inline === null) o.stream.destroy();
}

const clientGone = (): CairnError => new CairnError('Unavailable', 'the client went away');

/** `first`, then the reader's other pieces to ctx.res in order, then its end; see the contracts above. Never rejects. */
async function writePieces(ctx: BodyCtx, reader: FileReader, first: LentPiece | null): Promise<void> {
  const res: ServerResponse = ctx.res;
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
    for (let piece = first; piece !== null; piece = await reader.nextPiece()) {
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
    // Mid-body: cut the response; koa's onerror logs it, as for a stream body.
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

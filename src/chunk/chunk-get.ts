/**
 * GET and HEAD of /chunks/<id> (the wire API is in chunk-http-server.ts).
 *
 * A replica's verified bytes go out batch by batch, each read straight into one of two buffers
 * this server keeps and reuses (no buffer, Readable or pipeline per chunk): batch k is written to
 * the socket while batch k+1 is read and verified into the other buffer, and a buffer is read
 * into again only once its socket write has completed. Every segment is checked before a byte of
 * it is sent (segment-reader.ts) — except in a whole chunk sent to a reader that checks the
 * whole-chunk CRC itself (X-Cairn-Verify: reader, proto/chunk-http.ts), which then hashes each
 * byte once instead of twice. A mismatch in the first batch is answered 500 Corrupt; a later
 * one cuts the response short (the client sees fewer bytes than Content-Length). A repair
 * copy's read (X-Cairn-Io-Class: repair) waits for io-priority's admission before each batch.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { H_VERIFY, VERIFY_BY_READER } from '../proto/chunk-http.js';
import { decideRange, formatContentRange, unsatisfiedContentRange } from '../proto/http-range.js';
import type { ChunkStore } from '../storage/chunk-store.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { chunkHeaders, headerOf } from './chunk-http-answer.js';
import { IO_CLASS_HEADER, IO_CLASS_REPAIR, type IoPriority } from './io-priority.js';

/** Batch buffers kept for reuse between requests (two per GET in flight). */
const POOLED_BUFFERS_MAX = 8;

export interface ChunkGetComponents {
  store: ChunkStore;
  logger: Logger;
  /** Paces repair reads (IO_CLASS_HEADER) behind client requests. */
  io?: IoPriority;
}

export class ChunkGet {
  /** Free batch buffers, all of `pooledBytes`. */
  private readonly pool: Buffer[] = [];
  private pooledBytes = 0;

  constructor(private readonly c: ChunkGetComponents) {}

  /** Answers a GET (or HEAD) of chunk `id`; throws CairnError before any header is sent. */
  async serve(id: string, req: IncomingMessage, res: ServerResponse, head: boolean): Promise<void> {
    const store = this.c.store;
    if (head) {
      const meta = await store.stat(id);
      if (!meta) throw new CairnError('NotFound', `chunk ${id} not found`);
      res.writeHead(200, chunkHeaders(meta.size, meta.crc32c, meta.size)).end();
      return;
    }
    const rangeHeader = headerOf(req, 'range');
    let rangeWanted = false;
    let size = -1;
    const rd = await store
      .read(id, {
        readerVerifiesWhole: headerOf(req, H_VERIFY) === VERIFY_BY_READER,
        resolveRange: (chunkSize) => {
          size = chunkSize;
          const r = decideRange(rangeHeader, chunkSize);
          if (r.kind === 'unsatisfiable') throw new CairnError('RangeNotSatisfiable', `range ${rangeHeader ?? ''} of a ${chunkSize}-byte chunk`, { size: chunkSize });
          rangeWanted = r.kind === 'partial';
          return r.kind === 'partial' ? { start: r.start, end: r.end } : { start: 0, end: chunkSize };
        },
      })
      .catch((e: unknown) => {
        if (isCairnError(e, 'RangeNotSatisfiable')) res.setHeader('content-range', unsatisfiedContentRange(size));
        throw e;
      });
    const { meta, start, end } = rd;
    const headers = chunkHeaders(meta.size, meta.crc32c, end - start);
    if (rangeWanted) headers['content-range'] = formatContentRange(start, end, meta.size);
    const batches = rd.batches;
    if (batches === undefined) {
      // A small replica, already verified in memory: one write, no stream.
      res.writeHead(rangeWanted ? 206 : 200, headers).end(rd.bytes);
      return;
    }
    const bufs = [this.take(batches.bufferBytes), this.take(batches.bufferBytes)];
    let written = true; // whether every write has completed (the buffers may be lent again)
    try {
      // The first batch before the headers: a replica corrupt from its start is answered 500.
      let piece = await batches.next(bufs[0]);
      res.writeHead(rangeWanted ? 206 : 200, headers);
      const io = req.headers[IO_CLASS_HEADER] === IO_CLASS_REPAIR ? this.c.io : undefined;
      const gone = closed(res);
      try {
        for (let k = 1; piece !== null; k++) {
          const admitted = io?.admitRepair();
          if (admitted) await Promise.race([admitted, gone.promise]);
          written = false;
          const w = writeOut(res, piece);
          // The next batch is read into the other buffer while this one goes out.
          const n = batches.next(bufs[k % 2]);
          const [wr, nr] = await Promise.allSettled([Promise.race([w, gone.promise]), n]);
          if (wr.status === 'rejected') throw wr.reason;
          written = true;
          if (nr.status === 'rejected') throw nr.reason;
          piece = nr.value;
        }
      } finally {
        gone.dispose();
      }
      res.end();
    } catch (e) {
      if (!res.headersSent) throw e;
      // Headers are out: the only signal left is cutting the response short.
      if (isCairnError(e, 'Corrupt')) this.c.logger.warn('corrupt segment mid-read; response cut', { id });
      res.destroy();
    } finally {
      await batches.close();
      // A buffer whose write never completed may still be read by the socket: not lent again
      // until the socket is gone (then dropped: the collector has it).
      if (written || res.destroyed) for (const b of bufs) this.give(b);
    }
  }

  /** A buffer of at least `bytes`: a pooled one when they are that long. */
  private take(bytes: number): Buffer {
    if (bytes > this.pooledBytes) {
      // Longer batches than before (a replica with bigger segments): pool those from now on.
      this.pool.length = 0;
      this.pooledBytes = bytes;
    }
    return this.pool.pop() ?? Buffer.allocUnsafeSlow(this.pooledBytes);
  }

  private give(buf: Buffer): void {
    if (buf.length === this.pooledBytes && this.pool.length < POOLED_BUFFERS_MAX) this.pool.push(buf);
  }
}

/** Resolves once the socket has taken all of `buf` (the buffer may then be reused). */
function writeOut(res: ServerResponse, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

/** A promise that rejects when the response closes early (the client went away). */
function closed(res: ServerResponse): { promise: Promise<never>; dispose: () => void } {
  let onClose!: () => void;
  const promise = new Promise<never>((_, reject) => {
    onClose = (): void => reject(new CairnError('Unavailable', 'the client went away mid-read'));
  });
  promise.catch(() => undefined);
  res.once('close', onClose);
  return { promise, dispose: () => res.off('close', onClose) };
}

/**
 * A PUT body's way through a chunk server: read off the socket in flowing mode and handed on
 * buffer by buffer (no concatenation), with backpressure from every branch it feeds.
 */
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import { CairnError } from '../util/errors.js';

/**
 * Reads a request body in flowing mode, handing each buffer to `sink` as it came off the socket;
 * while the promise `sink` returns is pending the request is paused (backpressure). Resolves at
 * the body's end; rejects when the body breaks, the client goes away before the end, the body
 * passes `limit` bytes (TooLarge, before more is read) or `sink`'s promise rejects.
 */
export function pumpBody(req: IncomingMessage, limit: number, sink: (buf: Buffer) => Promise<unknown> | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let received = 0;
    let settled = false;
    const settle = (e: unknown): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (e === null) resolve();
      else {
        req.pause();
        reject(e);
      }
    };
    const onData = (buf: Buffer): void => {
      received += buf.length;
      // A body of unknown length past the limit: refuse it now (413), before reading more.
      if (received > limit) return settle(new CairnError('TooLarge', `chunk of more than ${limit} bytes`));
      const wait = sink(buf);
      if (wait === undefined) return;
      req.pause();
      wait.then(
        () => {
          if (!settled) req.resume();
        },
        (e: unknown) => settle(e),
      );
    };
    const onEnd = (): void => settle(null);
    const onClose = (): void => settle(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', settle);
    req.once('close', onClose);
  });
}

/** Socket reads gathered before they go downstream together (one writev of them). */
const FEED_BATCH_BYTES = 256 * 1024;

/**
 * A PUT body pushed downstream buffer by buffer as it arrives (a chunk server forwarding a
 * pipelined write; ChunkClient.putChunk sends it). Buffers are gathered up to FEED_BATCH_BYTES
 * and written together, so the socket sees one writev per batch rather than one write per socket
 * read. Once the request is gone (failed, answered, destroyed) writes are dropped: the branch
 * has settled and the caller keeps feeding the others.
 */
export class PutFeed {
  /**
   * @param defer runs a function once the current event-loop turn's I/O callbacks are done
   *   (env/system.ts systemDefer): what is queued below a batch is sent then, so a body that
   *   trickles in still reaches the next server at once (its idle timeout runs too). Absent:
   *   every write below a batch is sent at once.
   */
  constructor(private readonly defer?: (fn: () => void) => void) {}

  private req: Writable | null = null;
  private flushDeferred = false;
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private gone = false;
  private waiting: { promise: Promise<void>; resolve: () => void } | null = null;

  /** Takes `buf` (kept until sent: do not change it). A returned promise: the socket is full; wait for it before the next write. */
  write(buf: Buffer): Promise<void> | undefined {
    if (this.gone || this.ended) return undefined;
    this.queued.push(buf);
    this.queuedBytes += buf.length;
    if (this.req === null) return undefined;
    if (this.queuedBytes < FEED_BATCH_BYTES) {
      if (this.defer === undefined) return this.flush() ? undefined : this.drained();
      // A deferred send filled the socket: the caller waits for it to drain (what is queued
      // now still leaves at the end of the turn).
      const full = this.req.writableNeedDrain && !this.req.destroyed;
      if (!this.flushDeferred) {
        this.flushDeferred = true;
        this.defer(() => {
          this.flushDeferred = false;
          if (!this.gone && this.queued.length > 0) this.flush();
        });
      }
      return full ? this.drained() : undefined;
    }
    return this.flush() ? undefined : this.drained();
  }

  /** The body is complete: sends what is queued and ends the request. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.req === null || this.gone) return;
    this.flush();
    this.req.end();
  }

  /** Connects the request the body goes into (once, by ChunkClient). */
  attach(req: Writable): void {
    this.req = req;
    req.once('close', () => {
      this.gone = true;
      this.wake();
    });
    req.on('drain', () => this.wake());
    if (this.queued.length > 0) this.flush();
    if (this.ended) req.end();
  }

  /** Writes the queued buffers back to back (the request corks them into one writev); false when the socket is full. */
  private flush(): boolean {
    const req = this.req!;
    let room = true;
    if (!req.destroyed) for (const b of this.queued) room = req.write(b);
    this.queued = [];
    this.queuedBytes = 0;
    return room || req.destroyed;
  }

  private drained(): Promise<void> {
    if (this.waiting === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiting = { promise, resolve };
    }
    return this.waiting.promise;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.resolve();
  }
}

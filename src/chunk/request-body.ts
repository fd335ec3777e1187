/**
 * A PUT body's way through a chunk server: read off the socket in flowing mode and handed on
 * buffer by buffer (no concatenation), with backpressure from every branch it feeds.
 */
import type { IncomingMessage } from 'node:http';
import type { PassThrough } from 'node:stream';
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

/** Writes `buf` to a branch unless it is gone; waits for drain (or the branch's end) when full. */
export function feed(branch: PassThrough, buf: Buffer): Promise<void> | undefined {
  if (branch.destroyed || branch.writableEnded) return undefined;
  if (branch.write(buf)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      branch.off('drain', done);
      branch.off('close', done);
      resolve();
    };
    branch.on('drain', done);
    branch.on('close', done);
  });
}

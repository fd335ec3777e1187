/**
 * A TCP socket carrying length-prefixed frames (frame.ts): decodes inbound chunks into payloads,
 * writes outbound payloads with their headers, and turns every protocol error into a closed
 * connection — never an exception escaping into the event loop, never a process crash.
 *
 * Contract of the callbacks:
 * - onFrame(payload) runs synchronously for each complete frame, in order. The payload may be a
 *   view into a received chunk: do not mutate it; copy what you keep long-term if it is small.
 *   Throwing a CairnError from onFrame counts as a protocol error and closes the connection;
 *   any other exception is a programmer error and propagates.
 * - onClose(err) runs exactly once, after the socket is gone; `err` is the reason (null for a
 *   clean end). No onFrame call follows it.
 */
import type { Socket } from 'node:net';
import { systemDefer } from '../env/system.js';
import { CairnError } from '../util/errors.js';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrame, frameJoined, frameLength, type FrameBytes, type FrameGate } from './frame.js';

/**
 * Payloads below this are copied behind their header into one buffer (cheaper than a second
 * writev entry); larger ones are written as they are, after a separate 4-byte header.
 */
const FRAME_COPY_BYTES_MAX = 1024;

export interface FramedSocketHandlers {
  onFrame(payload: Uint8Array): void;
  onClose(err: Error | null): void;
  /** A malformed or oversize frame arrived (the connection is being closed). For counters. */
  onProtocolError?(err: CairnError): void;
}

export class FramedSocket {
  readonly socket: Socket;
  readonly remoteAddr: string;
  private readonly decoder: FrameDecoder;
  private frameBytesMax: number;
  private handlers: FramedSocketHandlers;
  private closedFlag = false;
  /** A cork is open for the current tick (see write()). */
  private corked = false;
  private closeReason: Error | null = null;

  constructor(socket: Socket, frameBytesMax: number, handlers: FramedSocketHandlers) {
    this.socket = socket;
    this.remoteAddr = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.frameBytesMax = frameBytesMax;
    this.decoder = new FrameDecoder({ frameBytesMax });
    this.handlers = handlers;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // 'error' is always followed by 'close'; remember the reason for onClose.
    socket.on('error', (err) => {
      this.closeReason ??= err;
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.finish();
    });
  }

  get closed(): boolean {
    return this.closedFlag || this.socket.destroyed;
  }

  /**
   * Replace the handlers (e.g. after a handshake hands the socket to its owner). If the socket
   * has already closed, the new onClose still runs once (in a microtask).
   */
  setHandlers(h: FramedSocketHandlers): void {
    this.handlers = h;
    if (this.finished) queueMicrotask(() => h.onClose(this.closeReason));
  }

  /** Raise or lower the inbound limit for frames not yet started (see FrameDecoder). */
  setFrameBytesMax(n: number): void {
    this.frameBytesMax = n;
    this.decoder.setFrameBytesMax(n);
  }

  /** Check inbound frames not yet started against `gate` (see FrameDecoder.setGate). */
  setGate(gate: FrameGate | null): void {
    this.decoder.setGate(gate);
  }

  /**
   * Queue one frame (its payload whole, or in parts written one after another). Returns
   * socket.write's verdict: false means the kernel buffer is full and the caller should wait
   * for 'drain' before writing more (backpressure). Throws InvalidArgument when the payload
   * exceeds this socket's frame limit; returns false and writes nothing once closed.
   */
  write(payload: FrameBytes): boolean {
    if (this.closed) return false;
    // Frames written in the same event-loop turn leave in one writev instead of one syscall
    // each: a Ready's messages, a batch of RPC answers, and the calls a gateway makes for the
    // requests it read in one turn (on a 4 KiB PUT load the gateway's writes to the leader went
    // from 1.07 to 0.34 per request when the cork ended with the turn rather than the tick).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      systemDefer(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    const length = frameLength(payload);
    if (length < FRAME_COPY_BYTES_MAX) return this.socket.write(encodeFrame(frameJoined(payload), this.frameBytesMax));
    // A large payload is not copied behind its header: header and parts go out as neighbours
    // in the cork's writev. The socket keeps references until the kernel has the bytes, so the
    // caller must not mutate the payload after write() (every caller hands over bytes it no
    // longer changes).
    if (length > this.frameBytesMax) throw new CairnError('InvalidArgument', `frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`);
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(length, 0);
    let ok = this.socket.write(header);
    if (payload instanceof Uint8Array) return this.socket.write(payload);
    for (const part of payload) if (part.length > 0) ok = this.socket.write(part);
    return ok;
  }

  /** Half-close after flushing what was written (used after sending a final error frame). */
  end(): void {
    if (this.closed) return;
    this.closedFlag = true;
    this.socket.end();
    // A peer that never reads could keep the half-closed socket open: destroySoon is not enough.
    this.socket.setTimeout(2000, () => this.socket.destroy());
  }

  /** Close now, dropping anything unsent. */
  destroy(err?: Error): void {
    if (err) this.closeReason ??= err;
    this.closedFlag = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closedFlag) return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.protocolError(err as CairnError);
      return;
    }
    for (const f of frames) {
      if (this.closedFlag) return;
      try {
        this.handlers.onFrame(f);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        this.protocolError(err);
        return;
      }
    }
  }

  private protocolError(err: CairnError): void {
    if (this.closedFlag) return;
    this.handlers.onProtocolError?.(err);
    this.destroy(err);
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.handlers.onClose(this.closeReason);
  }
}

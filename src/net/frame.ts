/**
 * Length-prefixed frames: a u32 big-endian payload length, then the payload.
 *
 * FrameDecoder is a streaming parser: feed it socket chunks of any size (a byte at a time, or
 * hundreds of frames at once) and it returns the complete payloads in order. Each input byte is
 * copied at most once (a payload lying inside one chunk is returned as a view, no copy), so a
 * large frame arriving in many small chunks costs O(n), not O(n^2). A length header above
 * frameBytesMax is rejected as soon as its 4 bytes arrive, before any of the payload is buffered.
 */
import { CairnError } from '../util/errors.js';
import { markOwned } from '../util/owned-bytes.js';

export const FRAME_HEADER_BYTES = 4;

/** Default largest payload accepted: 64 MiB (fits a MsgApp of maxMsgBytes and a modest snapshot). */
export const DEFAULT_FRAME_BYTES_MAX = 64 << 20;

/** True for the error FrameDecoder throws on an oversize length. */
export function isOversizeFrameError(err: CairnError): boolean {
  return err.code === 'ProtocolError' && typeof err.detail?.frameBytesMax === 'number';
}

/**
 * One frame's payload: bytes, or consecutive parts of it that go out as neighbours in one writev
 * (a MsgApp's head and its entries, shared by every follower, need no copy into one buffer).
 */
export type FrameBytes = Uint8Array | readonly Uint8Array[];

/** Length of a frame's payload in bytes. */
export function frameLength(p: FrameBytes): number {
  if (p instanceof Uint8Array) return p.length;
  let n = 0;
  for (const part of p) n += part.length;
  return n;
}

/** The payload as one buffer: itself when it is one, else its parts copied together. */
export function frameJoined(p: FrameBytes): Uint8Array {
  if (p instanceof Uint8Array) return p;
  if (p.length === 1) return p[0]!;
  return Buffer.concat(p as Uint8Array[]);
}

/** Header + payload in one buffer. Throws InvalidArgument when the payload exceeds frameBytesMax. */
export function encodeFrame(payload: Uint8Array, frameBytesMax: number = DEFAULT_FRAME_BYTES_MAX): Buffer {
  if (payload.length > frameBytesMax) throw new CairnError('InvalidArgument', `frame of ${payload.length} bytes exceeds the limit of ${frameBytesMax}`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * A check of each frame against its own limit, made from the frame's length and first bytes
 * before the rest is buffered (e.g. a request's method names how large it may be).
 */
export interface FrameGate {
  /** Bytes of a frame's start that check() reads (fewer when the frame is shorter). */
  readonly headBytes: number;
  /** Throws CairnError('ProtocolError') to refuse a frame of `frameBytes` bytes beginning with `head`. */
  check(frameBytes: number, head: Uint8Array): void;
}

export class FrameDecoder {
  private frameBytesMax: number;
  private gate: FrameGate | null = null;
  /** The frame being assembled has not passed the gate yet. */
  private gatePending = false;
  /** Header bytes of the next frame, while fewer than 4 have arrived. */
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** The payload being assembled across chunks (allocated once at its final size), or null. */
  private body: Uint8Array | null = null;
  private bodyFilled = 0;
  private failed = false;

  constructor(opts: { frameBytesMax?: number } = {}) {
    this.frameBytesMax = opts.frameBytesMax ?? DEFAULT_FRAME_BYTES_MAX;
  }

  /**
   * Change the limit for frames whose header has not arrived yet. Servers start a connection
   * with a small limit (the handshake is tiny) and raise it once the peer has authenticated, so
   * an unauthenticated stranger cannot make us allocate a large frame buffer.
   */
  setFrameBytesMax(n: number): void {
    this.frameBytesMax = n;
  }

  /** Check every frame whose header has not arrived yet with `gate` (null: none). */
  setGate(gate: FrameGate | null): void {
    this.gate = gate;
  }

  /** Bytes held for a partial frame (at most 4 + frameBytesMax). */
  bufferedBytes(): number {
    return this.headerFilled + this.bodyFilled;
  }

  /**
   * Add a chunk; returns the payloads it completes, in order. Throws CairnError('ProtocolError')
   * on an oversize length; after that the decoder is dead (the connection must be closed).
   * A payload lying wholly inside `chunk` is returned as a view into it: callers must not
   * mutate chunks they have pushed.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw new CairnError('ProtocolError', 'frame decoder used after a protocol error');
    try {
      return this.pushChunk(chunk);
    } catch (err) {
      this.failed = true;
      this.body = null;
      throw err;
    }
  }

  private pushChunk(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    // Bounded: every iteration consumes at least one byte of the chunk or emits a frame of
    // length 0 after consuming its 4 header bytes.
    while (pos < chunk.length) {
      if (this.body !== null) {
        const k = Math.min(this.body.length - this.bodyFilled, chunk.length - pos);
        this.body.set(chunk.subarray(pos, pos + k), this.bodyFilled);
        this.bodyFilled += k;
        pos += k;
        if (this.gatePending && this.bodyFilled >= Math.min(this.body.length, this.gate!.headBytes)) {
          this.gatePending = false;
          this.gate!.check(this.body.length, this.body.subarray(0, this.gate!.headBytes));
        }
        if (this.bodyFilled === this.body.length) {
          // Its own memory, which nothing here touches again: a decoder may keep views into it.
          out.push(markOwned(this.body));
          this.body = null;
          this.bodyFilled = 0;
        }
        continue;
      }
      const k = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - pos);
      this.header.set(chunk.subarray(pos, pos + k), this.headerFilled);
      this.headerFilled += k;
      pos += k;
      if (this.headerFilled < FRAME_HEADER_BYTES) break;
      this.headerFilled = 0;
      const h = this.header;
      const len = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
      if (len > this.frameBytesMax) {
        throw new CairnError('ProtocolError', `frame of ${len} bytes exceeds the limit of ${this.frameBytesMax}`, { frameBytes: len, frameBytesMax: this.frameBytesMax });
      }
      const headBytes = this.gate === null ? 0 : Math.min(len, this.gate.headBytes);
      if (this.gate !== null && chunk.length - pos >= headBytes) this.gate.check(len, chunk.subarray(pos, pos + headBytes));
      if (chunk.length - pos >= len) {
        // Whole payload inside this chunk: no copy.
        out.push(chunk.subarray(pos, pos + len));
        pos += len;
      } else {
        // Unzeroed: every byte is overwritten before the payload is handed out. Pages of a large
        // buffer are only touched as bytes arrive, so a frame the gate refuses costs no memory.
        this.body = Buffer.allocUnsafe(len);
        this.bodyFilled = 0;
        this.gatePending = this.gate !== null && chunk.length - pos < headBytes;
      }
    }
    return out;
  }
}

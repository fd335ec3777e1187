/**
 * Bounds on msgpack input, checked on the raw bytes before msgpackr decodes them: msgpackr has
 * no limit on elements or nesting, and a small frame can claim (or hold) millions of empty maps,
 * each a JS object once decoded.
 *
 * scanMsgpack walks the headers without allocating: O(bytes) time, O(depthMax) memory. A
 * container header claiming more elements than the limit, or more than the bytes left could
 * hold, is refused at that header.
 */
import { CairnError } from '../util/errors.js';

export interface MsgpackLimits {
  /** Values in the whole message, map keys and container headers included. */
  elementsMax: number;
  /** Containers open at once (the top-level map is depth 1). */
  depthMax: number;
}

/** Extension types a request may hold: msgpackr's `undefined` (0) and the timestamp (-1). */
const EXT_TYPES_ALLOWED = new Set([0, 0xff]);

function refuse(why: string): never {
  throw new CairnError('ProtocolError', `msgpack refused: ${why}`);
}

/** Thrown inside a scan of a prefix when its bytes run out: the prefix is fine so far. */
const PREFIX_END = Symbol('prefix end');

/**
 * Throws CairnError('ProtocolError') unless `bytes` is exactly one msgpack value within
 * `limits` (extension types other than EXT_TYPES_ALLOWED and the never-used byte 0xc1 refused).
 * With `prefix`, `bytes` is the start of a message: running out of bytes is no error, and only
 * what the prefix already shows (a container claiming too many elements, nesting, bad bytes)
 * is refused.
 */
export function scanMsgpack(bytes: Uint8Array, limits: MsgpackLimits, prefix = false): void {
  try {
    scan(bytes, limits, prefix);
  } catch (err) {
    if (err !== PREFIX_END) throw err;
  }
}

function scan(bytes: Uint8Array, limits: MsgpackLimits, prefix: boolean): void {
  const truncated = (): never => {
    if (prefix) throw PREFIX_END;
    return refuse('truncated');
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  // remaining[d]: values still expected inside the container open at depth d (d = 0: the message).
  const remaining: number[] = [1];
  let pos = 0;
  let elements = 0;
  while (remaining.length > 0) {
    if (remaining[remaining.length - 1] === 0) {
      remaining.pop();
      continue;
    }
    remaining[remaining.length - 1]!--;
    if (pos >= end) truncated();
    if (++elements > limits.elementsMax) refuse(`more than ${limits.elementsMax} elements`);
    const b = bytes[pos++]!;
    let skip = 0;
    let children = -1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b <= 0x8f) children = (b & 0x0f) * 2;
    else if (b <= 0x9f) children = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      const need = (n: number): void => {
        if (pos + n > end) truncated();
      };
      switch (b) {
        case 0xc4: case 0xd9: need(1); skip = bytes[pos]!; pos += 1; break;
        case 0xc5: case 0xda: need(2); skip = dv.getUint16(pos); pos += 2; break;
        case 0xc6: case 0xdb: need(4); skip = dv.getUint32(pos); pos += 4; break;
        case 0xc7: need(2); skip = bytes[pos]!; ext(bytes[pos + 1]!); pos += 2; break;
        case 0xc8: need(3); skip = dv.getUint16(pos); ext(bytes[pos + 2]!); pos += 3; break;
        case 0xc9: need(5); skip = dv.getUint32(pos); ext(bytes[pos + 4]!); pos += 5; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: need(1); ext(bytes[pos]!); skip = 1 + (1 << (b - 0xd4)); break;
        case 0xdc: need(2); children = dv.getUint16(pos); pos += 2; break;
        case 0xdd: need(4); children = dv.getUint32(pos); pos += 4; break;
        case 0xde: need(2); children = dv.getUint16(pos) * 2; pos += 2; break;
        case 0xdf: need(4); children = dv.getUint32(pos) * 2; pos += 4; break;
        default: refuse(`byte 0x${b.toString(16)}`);
      }
    }
    if (children < 0) {
      if (pos + skip > end) truncated();
      pos += skip;
      continue;
    }
    // Every value takes at least one byte: a claim beyond the bytes left is a lie, refused now.
    if (elements + children > limits.elementsMax) refuse(`more than ${limits.elementsMax} elements`);
    if (children > end - pos && !prefix) refuse('truncated');
    if (children === 0) continue;
    if (remaining.length > limits.depthMax) refuse(`nested deeper than ${limits.depthMax}`);
    remaining.push(children);
  }
  if (pos !== end && !prefix) refuse('trailing bytes');
}

function ext(type: number): void {
  if (!EXT_TYPES_ALLOWED.has(type)) refuse(`extension type ${type}`);
}

/** What the start of a request frame names, when it names it before any other field. */
export interface RequestHead {
  id?: number;
  method?: string;
}

/**
 * Read the leading `id` and `method` fields of a request map `{ id, method, body }` from its
 * first bytes (`head` may be a prefix of the frame). Stops at the first other key, at the end of
 * `head`, or at anything unexpected: absent fields are simply not returned. Never throws.
 */
export function peekRequestHead(head: Uint8Array): RequestHead {
  const out: RequestHead = {};
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let pos = 0;
  const b0 = head[pos++];
  let entries: number;
  if (b0 === undefined) return out;
  if (b0 >= 0x80 && b0 <= 0x8f) entries = b0 & 0x0f;
  else if (b0 === 0xde && head.length >= 3) {
    entries = dv.getUint16(1);
    pos = 3;
  } else if (b0 === 0xdf && head.length >= 5) {
    entries = dv.getUint32(1);
    pos = 5;
  } else return out;
  const readStr = (): string | null => {
    const b = head[pos];
    if (b === undefined) return null;
    let len: number;
    if (b >= 0xa0 && b <= 0xbf) {
      len = b & 0x1f;
      pos += 1;
    } else if (b === 0xd9 && pos + 1 < head.length) {
      len = head[pos + 1]!;
      pos += 2;
    } else return null;
    if (pos + len > head.length) return null;
    const s = Buffer.from(head.buffer, head.byteOffset + pos, len).toString('utf8');
    pos += len;
    return s;
  };
  for (let i = 0; i < entries && i < 2; i++) {
    const key = readStr();
    if (key === 'method') {
      const m = readStr();
      if (m === null) return out;
      out.method = m;
    } else if (key === 'id') {
      const b = head[pos];
      if (b === undefined) return out;
      if (b <= 0x7f) {
        out.id = b;
        pos += 1;
      } else if (b === 0xcc && pos + 1 < head.length) {
        out.id = head[pos + 1]!;
        pos += 2;
      } else if (b === 0xcd && pos + 2 < head.length) {
        out.id = dv.getUint16(pos + 1);
        pos += 3;
      } else if (b === 0xce && pos + 4 < head.length) {
        out.id = dv.getUint32(pos + 1);
        pos += 5;
      } else return out;
    } else return out;
  }
  return out;
}

/**
 * The one parser of the HTTP Range header (RFC 9110 §14), pure; the chunk servers and the
 * gateway both answer by it.
 *
 * Range: one range of the `bytes` unit — `a-b`, `a-`, `-n`. What we do with the rest:
 *   - a malformed header, another unit, or several ranges: ignored, the whole file is sent (200),
 *     which RFC 9110 §14.2 allows (a server MAY ignore Range) — no multipart/byteranges;
 *   - a well-formed range that starts at or past the end (or `-0`, or any range of an empty
 *     file): unsatisfiable → 416 with `Content-Range: bytes *\/size`.
 */

export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number /* exclusive */ }
  | { kind: 'unsatisfiable' };

const RANGE_RE = /^bytes=(\d*)-(\d*)$/;
/** Digits beyond this cannot be a real offset (2^53 has 16): treated as malformed. */
const OFFSET_DIGITS_MAX = 16;

/** How to answer a request with this Range header (undefined: none) for a body of `size` bytes. */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const m = RANGE_RE.exec(header.trim());
  if (!m) return { kind: 'full' };
  const [, a = '', b = ''] = m;
  if ((a === '' && b === '') || a.length > OFFSET_DIGITS_MAX || b.length > OFFSET_DIGITS_MAX) return { kind: 'full' };
  if (a === '') {
    // Suffix: the last n bytes (all of them when n exceeds the size).
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  const last = b === '' ? size - 1 : Number(b);
  if (b !== '' && last < start) return { kind: 'full' }; // invalid range-spec: ignore the header
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(last, size - 1) + 1 };
}

/** The Range header asking for [start, end) (`end` omitted: to the end of the body). */
export function formatRange(start: number, end?: number): string {
  return `bytes=${start}-${end === undefined ? '' : end - 1}`;
}

/** Content-Range of a 206 answer carrying [start, end) of a `size`-byte body. */
export function formatContentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end - 1}/${size}`;
}

/** Content-Range of a 416 answer. */
export function unsatisfiedContentRange(size: number): string {
  return `bytes */${size}`;
}

/** [start, end) and the size from a 206 answer's Content-Range, or null when it is not one. */
export function parseContentRange(header: string | undefined): { start: number; end: number; size: number } | null {
  const m = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/.exec(header ?? '');
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]) + 1, size: Number(m[3]) };
}

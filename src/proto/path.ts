/**
 * Remote paths: absolute, '/'-separated, UTF-8, compared byte for byte. No Unicode normalization:
 * a name is kept exactly as given, so "é" precomposed (NFC) and decomposed (NFD) are two
 * different names — as on POSIX file systems and in S3, and so that every name a client reads
 * back is byte for byte the one it wrote.
 *
 * A valid path is "/" (the root) or "/" followed by segments joined by single '/'. Refused, with
 * CairnError('InvalidPath'):
 *   - not starting with '/'; empty segments ("//") and a trailing '/' (only "/" itself ends in
 *     '/': one spelling per path, so keys and cursors are canonical — the CLI may strip a
 *     trailing slash before it calls us);
 *   - "." and ".." segments;
 *   - NUL, C0 controls (U+0000..U+001F), DEL (U+007F) and C1 controls (U+0080..U+009F);
 *   - bidirectional controls (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C): they make
 *     a name display as another ("evil\u202Etxt.exe" shows as "evilexe.txt");
 *   - lone UTF-16 surrogates (not representable in UTF-8; two such names would collide);
 *   - a segment over NAME_BYTES_MAX UTF-8 bytes, a path over PATH_BYTES_MAX bytes or deeper than
 *     PATH_DEPTH_MAX segments.
 */
import { CairnError } from '../util/errors.js';

/** A segment (file or directory name), in UTF-8 bytes (as Linux NAME_MAX). */
export const NAME_BYTES_MAX = 255;
/** A whole path, in UTF-8 bytes (as Linux PATH_MAX). */
export const PATH_BYTES_MAX = 4096;
/** Segments in a path. */
export const PATH_DEPTH_MAX = 256;

// Control characters (C0, DEL, C1) and lone surrogates.
// eslint-disable-next-line no-control-regex
const BAD_CHAR = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;
/** Bidirectional formatting characters (embeddings, overrides, isolates, marks). */
const BIDI_CHAR = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const encoder = new TextEncoder();

/** UTF-8 length of a string without lone surrogates. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Why `name` is not a valid segment, or null when it is. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'empty segment';
  if (name === '.' || name === '..') return `'${name}' segment`;
  if (name.includes('/')) return "'/' in a name";
  if (BAD_CHAR.test(name)) return 'control character or invalid UTF-16 in a name';
  if (BIDI_CHAR.test(name)) return 'bidirectional control character in a name';
  if (utf8Bytes(name) > NAME_BYTES_MAX) return `segment longer than ${NAME_BYTES_MAX} bytes`;
  return null;
}

/** Throw InvalidPath unless `name` is a valid single segment. */
export function checkName(name: string): void {
  const problem = nameProblem(name);
  if (problem) throw new CairnError('InvalidPath', `invalid name: ${problem}`);
}

/** Split a path into its segments ([] for "/"); throws CairnError('InvalidPath'). */
export function parsePath(path: string): string[] {
  if (typeof path !== 'string') throw new CairnError('InvalidPath', 'path must be a string');
  if (!path.startsWith('/')) throw new CairnError('InvalidPath', `path must be absolute: ${quote(path)}`);
  if (path === '/') return [];
  // Cheap bounds before splitting: a UTF-16 unit takes 1 to 3 UTF-8 bytes, so only a path in between is encoded.
  if (path.length > PATH_BYTES_MAX || (path.length * 3 > PATH_BYTES_MAX && encoder.encode(path).byteLength > PATH_BYTES_MAX)) {
    throw new CairnError('InvalidPath', `path longer than ${PATH_BYTES_MAX} bytes`);
  }
  if (path.endsWith('/')) throw new CairnError('InvalidPath', `trailing '/' in ${quote(path)}`);
  const segments = path.slice(1).split('/');
  if (segments.length > PATH_DEPTH_MAX) throw new CairnError('InvalidPath', `path deeper than ${PATH_DEPTH_MAX} segments`);
  for (const s of segments) {
    const problem = nameProblem(s);
    if (problem) throw new CairnError('InvalidPath', `${problem} in ${quote(path)}`);
  }
  return segments;
}

/** The canonical path of segments ("/" for none). */
export function joinPath(segments: readonly string[]): string {
  return '/' + segments.join('/');
}

/** Is `inner` equal to `outer` or below it (segment-wise; "/a" is not above "/ab")? */
export function isSameOrBelow(outer: readonly string[], inner: readonly string[]): boolean {
  if (inner.length < outer.length) return false;
  for (let i = 0; i < outer.length; i++) if (outer[i] !== inner[i]) return false;
  return true;
}

/** A path for an error message: JSON-quoted (control characters escaped), cut to 200 chars. */
export function quote(path: string): string {
  const q = JSON.stringify(path);
  return q.length > 200 ? `${q.slice(0, 200)}…` : q;
}

/**
 * A remote path parsed once, where it enters (CLI argument, client API call): its segments and
 * its canonical string. Holding one means the text is valid, so code inside the client passes
 * it on without checking it again; the server still checks whatever arrives over the wire.
 */
export class RemotePath {
  static readonly ROOT = new RemotePath([], '/');

  private constructor(
    /** [] for the root. */
    readonly segments: readonly string[],
    /** The canonical form ("/" or "/a/b"), what goes on the wire. */
    readonly text: string,
  ) {}

  /** Throws CairnError('InvalidPath') unless `path` is a valid canonical path. */
  static parse(path: string): RemotePath {
    const segments = parsePath(path);
    return segments.length === 0 ? RemotePath.ROOT : new RemotePath(segments, path);
  }

  /** A RemotePath as is; a string parsed (the client API accepts both). */
  static of(path: string | RemotePath): RemotePath {
    return path instanceof RemotePath ? path : RemotePath.parse(path);
  }

  get isRoot(): boolean {
    return this.segments.length === 0;
  }

  /** The last segment ('' for the root). */
  get name(): string {
    return this.segments.at(-1) ?? '';
  }

  /** This directory's entry `name`; throws InvalidPath unless `name` is one valid segment. */
  child(name: string): RemotePath {
    checkName(name);
    if (this.segments.length + 1 > PATH_DEPTH_MAX) throw new CairnError('InvalidPath', `path deeper than ${PATH_DEPTH_MAX} segments`);
    const text = this.isRoot ? `/${name}` : `${this.text}/${name}`;
    if (utf8Bytes(text) > PATH_BYTES_MAX) throw new CairnError('InvalidPath', `path longer than ${PATH_BYTES_MAX} bytes`);
    return new RemotePath([...this.segments, name], text);
  }

  toString(): string {
    return this.text;
  }
}

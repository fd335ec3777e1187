/**
 * The fs.concat request (its own file to keep meta-requests.ts in bounds; registered there).
 */
import { bool, body, optAttrs, path, session, strArray } from './fields.js';
import type { FileAttrs } from './file-attrs.js';
import type { SessionHeader } from './meta-fields.js';
import { nameProblem } from './path.js';
import { CairnError } from '../util/errors.js';

/** Source files of one fs.concat (S3's part count). */
export const CONCAT_SOURCES_MAX = 10_000;

/**
 * fs.concat: commit `to` as the files `dir/names[0]`, `dir/names[1]`, … one after the other,
 * sharing their chunks (no bytes move), and remove those files in the same step
 * (meta/namespace-concat.ts); answered like fs.commit. Destination rules as fs.commit's.
 */
export interface ConcatRequest {
  dir: string;
  /** 1..CONCAT_SOURCES_MAX distinct names of files in `dir`. */
  names: string[];
  to: string;
  /** Optional on the wire, default false. */
  overwrite: boolean;
  /** Create missing parents. Optional on the wire, default true. */
  parents: boolean;
  /** The new file's attributes; absent: none. */
  attrs?: FileAttrs;
  s: SessionHeader;
}

export function decodeConcatRequest(raw: unknown): ConcatRequest {
  const b = body(raw);
  const names = strArray(b, 'names', CONCAT_SOURCES_MAX, (n) => nameProblem(n) === null);
  if (names.length === 0 || new Set(names).size !== names.length) throw new CairnError('InvalidArgument', 'names must be 1 or more distinct names');
  const out: ConcatRequest = { dir: path(b, 'dir'), names, to: path(b, 'to'), overwrite: bool(b, 'overwrite'), parents: bool(b, 'parents', true), s: session(b) };
  const attrs = optAttrs(b);
  if (attrs !== undefined) out.attrs = attrs;
  return out;
}

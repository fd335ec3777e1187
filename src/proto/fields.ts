/**
 * Validators for RPC request bodies (msgpack maps): each returns the typed field or throws
 * CairnError('InvalidArgument') naming the field and its bound. Every RPC handler reads its
 * input through these, so no unchecked value reaches the state machine.
 */
import { CairnError } from '../util/errors.js';
import { attrsProblem, checkedAttrs, type FileAttrs } from './file-attrs.js';
import { CLIENT_ID_RE, type SessionHeader } from './meta-fields.js';
import { PATH_BYTES_MAX, utf8Bytes } from './path.js';

export type Body = Record<string, unknown>;

export function body(v: unknown): Body {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new CairnError('InvalidArgument', 'request body must be a map');
  return v as Body;
}

export function str(b: Body, field: string, charsMax: number): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > charsMax) throw new CairnError('InvalidArgument', `${field} must be a string of 1-${charsMax} characters`);
  return v;
}

export function optStr(b: Body, field: string, charsMax: number): string | undefined {
  return b[field] === undefined || b[field] === null ? undefined : str(b, field, charsMax);
}

/** A safe integer in [min, max]. */
export function int(b: Body, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = b[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new CairnError('InvalidArgument', `${field} must be an integer in [${min}, ${max}]`);
  return v;
}

export function optInt(b: Body, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return b[field] === undefined || b[field] === null ? undefined : int(b, field, min, max);
}

export function bool(b: Body, field: string, dflt = false): boolean {
  const v = b[field];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new CairnError('InvalidArgument', `${field} must be a boolean`);
  return v;
}

export function bytes(b: Body, field: string, bytesMax: number): Uint8Array {
  const v = b[field];
  if (!(v instanceof Uint8Array) || v.byteLength > bytesMax) throw new CairnError('InvalidArgument', `${field} must be bytes, at most ${bytesMax}`);
  return v;
}

/** An array of at most itemsMax strings, each passing `check`. */
export function strArray(b: Body, field: string, itemsMax: number, check: (s: string) => boolean): string[] {
  const v = b[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > itemsMax) throw new CairnError('InvalidArgument', `${field} must be an array of at most ${itemsMax} items`);
  for (const s of v) if (typeof s !== 'string' || !check(s)) throw new CairnError('InvalidArgument', `${field} holds an invalid item`);
  return v as string[];
}

/** A finite number in [min, max]. */
export function num(b: Body, field: string, min: number, max: number): number {
  const v = b[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new CairnError('InvalidArgument', `${field} must be a number in [${min}, ${max}]`);
  return v;
}

/** A path as sent: a non-empty string of at most PATH_BYTES_MAX bytes (its syntax is checked where it is parsed). */
export function path(b: Body, field: string): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0 || utf8Bytes(v) > PATH_BYTES_MAX) throw new CairnError('InvalidPath', `${field} must be an absolute path of at most ${PATH_BYTES_MAX} bytes`);
  return v;
}

/** attrs: absent or null → undefined; else a valid attribute map (InvalidArgument naming the problem). */
export function optAttrs(b: Body): FileAttrs | undefined {
  const v = b.attrs;
  if (v === undefined || v === null) return undefined;
  const problem = attrsProblem(v);
  if (problem) throw new CairnError('InvalidArgument', `attrs: ${problem}`);
  return checkedAttrs(v);
}

/** s = [client, seq, ackedBelow]: the request id that makes retries apply once. */
export function session(b: Body): SessionHeader {
  const s = b.s;
  if (!Array.isArray(s) || s.length !== 3) throw new CairnError('InvalidArgument', 's must be [client, seq, ackedBelow]');
  const [client, seq, ackedBelow] = s as unknown[];
  if (typeof client !== 'string' || !CLIENT_ID_RE.test(client)) throw new CairnError('InvalidArgument', 's client must match [A-Za-z0-9._:-]{1,128}');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new CairnError('InvalidArgument', 's seq must be a positive integer');
  if (typeof ackedBelow !== 'number' || !Number.isSafeInteger(ackedBelow) || ackedBelow < 0 || ackedBelow > seq) throw new CairnError('InvalidArgument', 's ackedBelow must be an integer in [0, seq]');
  return { client, seq, ackedBelow };
}

/**
 * Validators for RPC request bodies (msgpack maps): each returns the typed field or throws
 * CairnError('InvalidArgument') naming the field and its bound. Every RPC handler reads its
 * input through these, so no unchecked value reaches the state machine.
 */
import { CairnError } from '../util/errors.js';

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

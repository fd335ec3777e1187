/**
 * Field readers for decoding answers: each names `method answer: <prefix><field>` in its
 * ProtocolError, so a malformed answer says which call and which field were wrong.
 */
import { isChunkId } from '../util/chunk-id.js';
import { CairnError } from '../util/errors.js';
import { attrsProblem, checkedAttrs, type FileAttrs } from './file-attrs.js';

/** A namespace entry's type, as answers carry it. */
export type EntryType = 'file' | 'dir';

export type Map = Record<string, unknown>;

/** Field readers that name `method answer: <prefix><field>` in their errors. */
export class At {
  constructor(
    private readonly method: string,
    private readonly prefix = '',
  ) {}

  fail(field: string, what: string): never {
    const name = this.prefix + field;
    throw new CairnError('ProtocolError', name === '' ? `${this.method} answer must be ${what}` : `${this.method} answer: ${name} must be ${what}`);
  }

  /** The whole answer (or an element) as a map. */
  map(v: unknown, name = ''): Map {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) this.fail(name, 'a map');
    return v as Map;
  }

  /** A nested map and the reader for its fields (named `field.x`). */
  sub(o: Map, field: string): [Map, At] {
    return [this.map(o[field], field), new At(this.method, `${this.prefix}${field}.`)];
  }

  str(o: Map, field: string): string {
    const v = o[field];
    if (typeof v !== 'string') this.fail(field, 'a string');
    return v;
  }

  optStr(o: Map, field: string): string | null {
    const v = o[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') this.fail(field, 'a string or null');
    return v;
  }

  count(o: Map, field: string): number {
    const v = o[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(field, 'a non-negative integer');
    return v;
  }

  crc(o: Map, field: string): number {
    const v = o[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) this.fail(field, 'a CRC-32C (an integer in [0, 2^32))');
    return v;
  }

  /** An optional CRC as a field to spread: absent or null → nothing. */
  optCrc<F extends string>(o: Map, field: F): { [K in F]?: number } {
    if (o[field] === undefined || o[field] === null) return {};
    return { [field]: this.crc(o, field) } as { [K in F]?: number };
  }

  bool(o: Map, field: string): boolean {
    const v = o[field];
    if (typeof v !== 'boolean') this.fail(field, 'a boolean');
    return v;
  }

  chunkId(o: Map, field: string): string {
    const v = o[field];
    if (!isChunkId(v)) this.fail(field, 'a chunk id (32 lowercase hex digits)');
    return v;
  }

  entryType(o: Map, field: string): EntryType {
    return this.oneOf(o, field, ['file', 'dir'] as const);
  }

  oneOf<T extends string>(o: Map, field: string, values: readonly T[]): T {
    const v = o[field];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(field, `one of ${values.map((x) => `'${x}'`).join(', ')}`);
    return v as T;
  }

  strings(o: Map, field: string): string[] {
    const v = o[field];
    if (!Array.isArray(v)) this.fail(field, 'an array of strings');
    v.forEach((s: unknown, i) => {
      if (typeof s !== 'string') this.fail(`${field}[${i}]`, 'a string');
    });
    return [...(v as string[])];
  }

  /** A file's attributes as a field to spread: absent or null → nothing (no attributes). */
  attrs(o: Map, field: string): { attrs?: FileAttrs } {
    const v = o[field];
    if (v === undefined || v === null) return {};
    const problem = attrsProblem(v);
    if (problem) this.fail(field, `an attribute map (${problem})`);
    return { attrs: checkedAttrs(v) };
  }

  /** An array whose items the caller checks. */
  list(o: Map, field: string): unknown[] {
    const v = o[field];
    if (!Array.isArray(v)) this.fail(field, 'an array');
    return [...(v as unknown[])];
  }

  /** An array of maps, each decoded by `item` with field names under `field[i].`. */
  array<T>(o: Map, field: string, item: (m: Map, at: At) => T): T[] {
    const v = o[field];
    if (!Array.isArray(v)) this.fail(field, 'an array');
    return v.map((x: unknown, i) => item(this.map(x, `${field}[${i}]`), new At(this.method, `${this.prefix}${field}[${i}].`)));
  }
}

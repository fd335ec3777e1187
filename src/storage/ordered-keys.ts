/**
 * Key order shared by the LMDB state store and its in-memory twin, and the ordered-range
 * machinery both use to merge a batch's staged writes into reads (read-your-writes).
 *
 * Order: LMDB (lmdb-js ordered-binary) compares string keys by their UTF-8 bytes, which is
 * Unicode code point order. JavaScript's `<` compares UTF-16 code units, which differs for
 * characters above U+FFFF versus U+E000..U+FFFF; compareKeys() is code point order, so the twin
 * lists exactly what LMDB lists.
 */

/** Compare two keys in UTF-8 byte order (= code point order). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800 && cb >= 0xd800) {
      // Surrogates (D800..DFFF) encode code points above FFFF: move them after E000..FFFF.
      ca = ca >= 0xe000 ? ca - 0x800 : ca + 0x2000;
      cb = cb >= 0xe000 ? cb - 0x800 : cb + 0x2000;
    }
    return ca - cb;
  }
  return a.length - b.length;
}

/**
 * A set of string keys kept sortable cheaply under interleaved inserts and range reads (a
 * two-level LSM): new keys wait in `pending`, are sorted and merged into the small `recent` level
 * at the next read, and `recent` is merged into the big `sorted` level once it outgrows an eighth
 * of it, so n inserts interleaved with reads cost O(n log n) overall. Removed keys stay until
 * enough have piled up; reads skip them by asking `isLive`.
 *
 * Keys without UTF-16 surrogates (every character below U+10000) order the same by code units
 * and by code points, so while no key or bound has one, the native string comparison is used.
 */
export class OrderedKeys {
  private sorted: string[] = [];
  private recent: string[] = [];
  private pending: string[] = [];
  private removed = 0;
  /** Some key has a surrogate: compare with compareKeys. */
  private wide = false;

  constructor(private readonly isLive: (key: string) => boolean) {}

  /** Record a key that just became live (a key added twice is listed once). */
  add(key: string): void {
    if (!this.wide && SURROGATE.test(key)) this.wide = true;
    this.pending.push(key);
  }

  /** Record that a key stopped being live. */
  remove(): void {
    this.removed++;
  }

  clear(): void {
    this.sorted = [];
    this.recent = [];
    this.pending = [];
    this.removed = 0;
    this.wide = false;
  }

  /**
   * Live keys with start <= key < end (either bound optional), in key order, lazily. An iterator
   * lists the keys added before it started (arrays are replaced, never mutated) that are still
   * live when it reaches them.
   */
  *range(start?: string, end?: string): Generator<string> {
    const wide = this.wide || (start !== undefined && SURROGATE.test(start)) || (end !== undefined && SURROGATE.test(end));
    const cmp = wide ? compareKeys : nativeCompare;
    this.normalize(cmp);
    const a = this.sorted;
    const b = this.recent;
    let i = start === undefined ? 0 : lowerBound(a, start, cmp);
    let j = start === undefined ? 0 : lowerBound(b, start, cmp);
    while (i < a.length || j < b.length) {
      let k: string;
      if (j >= b.length) k = a[i++]!;
      else if (i >= a.length) k = b[j++]!;
      else {
        const c = cmp(a[i]!, b[j]!);
        if (c < 0) k = a[i++]!;
        else {
          k = b[j++]!;
          if (c === 0) i++;
        }
      }
      if (end !== undefined && cmp(k, end) >= 0) return;
      if (this.isLive(k)) yield k;
    }
  }

  private normalize(cmp: (a: string, b: string) => number): void {
    if (this.pending.length > 0) {
      const add = cmp === nativeCompare ? this.pending.sort() : this.pending.sort(cmp);
      this.pending = [];
      this.recent = mergeUnique(this.recent, add, cmp);
      if (this.recent.length > Math.max(1024, this.sorted.length >>> 3)) {
        this.sorted = mergeUnique(this.sorted, this.recent, cmp);
        this.recent = [];
      }
    }
    if (this.removed > 64 && this.removed * 2 > this.sorted.length + this.recent.length) {
      this.sorted = this.sorted.filter((k) => this.isLive(k));
      this.recent = this.recent.filter((k) => this.isLive(k));
      this.removed = 0;
    }
  }
}

const SURROGATE = /[\ud800-\udfff]/;

function nativeCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merge two sorted arrays into a new one, keeping one of equal keys. */
function mergeUnique(a: string[], b: string[], cmp: (a: string, b: string) => number): string[] {
  if (a.length === 0) return dedupe(b);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let k: string;
    if (j >= b.length) k = a[i++]!;
    else if (i >= a.length) k = b[j++]!;
    else {
      const c = cmp(a[i]!, b[j]!);
      if (c <= 0) {
        k = a[i++]!;
        if (c === 0) j++;
      } else k = b[j++]!;
    }
    if (out.length === 0 || out[out.length - 1] !== k) out.push(k);
  }
  return out;
}

function dedupe(sorted: string[]): string[] {
  const out: string[] = [];
  for (const k of sorted) if (out.length === 0 || out[out.length - 1] !== k) out.push(k);
  return out;
}

/** Index of the first key >= target in `keys`, sorted by `cmp` (LMDB's key order by default). */
export function lowerBound(keys: readonly string[], target: string, cmp: (a: string, b: string) => number = compareKeys): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(keys[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merge committed pairs with a batch's staged writes (staged wins; a staged null is a delete),
 * both in key order, yielding at most `limit` live pairs.
 */
export function* mergeStaged(
  committed: Iterator<[string, Uint8Array]>,
  stagedKeys: Iterator<string>,
  staged: ReadonlyMap<string, Uint8Array | null>,
  limit: number,
): Generator<[string, Uint8Array]> {
  if (limit <= 0) return;
  let count = 0;
  let c = committed.next();
  let s = stagedKeys.next();
  while (!c.done || !s.done) {
    let out: [string, Uint8Array] | null;
    if (s.done || (!c.done && compareKeys(c.value[0], s.value) < 0)) {
      const [k, v] = c.value as [string, Uint8Array];
      // Committed key without a staged write (keys with one come through the staged side).
      out = staged.has(k) ? null : [k, v];
      c = committed.next();
    } else {
      const k = s.value;
      if (!c.done && c.value[0] === k) c = committed.next();
      const v = staged.get(k);
      out = v ? [k, v] : null;
      s = stagedKeys.next();
    }
    if (out) {
      yield out;
      if (++count >= limit) return;
    }
  }
}

/** Check a range limit: undefined means unbounded; otherwise a non-negative safe integer. */
export function rangeLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`range limit must be a non-negative integer, got ${limit}`);
  return limit;
}

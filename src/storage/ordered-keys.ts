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
 * A set of string keys kept sortable cheaply under interleaved inserts and range reads: new keys
 * wait in `pending` and are sorted and merged in (linear) at the next read; removed keys stay in
 * `sorted` until enough have piled up, and reads skip them by asking `isLive`.
 */
export class OrderedKeys {
  private sorted: string[] = [];
  private pending: string[] = [];
  private removed = 0;

  constructor(private readonly isLive: (key: string) => boolean) {}

  /** Record a key that just became live (a key added twice is listed once). */
  add(key: string): void {
    this.pending.push(key);
  }

  /** Record that a key stopped being live. */
  remove(): void {
    this.removed++;
  }

  clear(): void {
    this.sorted = [];
    this.pending = [];
    this.removed = 0;
  }

  /**
   * Live keys with start <= key < end (either bound optional), in key order, lazily. An iterator
   * lists the keys added before it started (arrays are replaced, never mutated) that are still
   * live when it reaches them.
   */
  *range(start?: string, end?: string): Generator<string> {
    this.normalize();
    const keys = this.sorted;
    let i = start === undefined ? 0 : lowerBound(keys, start);
    for (; i < keys.length; i++) {
      const k = keys[i]!;
      if (end !== undefined && compareKeys(k, end) >= 0) return;
      if (this.isLive(k)) yield k;
    }
  }

  private normalize(): void {
    if (this.pending.length > 0) {
      const add = this.pending.sort(compareKeys);
      this.pending = [];
      const out: string[] = [];
      let i = 0;
      let j = 0;
      const a = this.sorted;
      while (i < a.length || j < add.length) {
        let k: string;
        if (j >= add.length) k = a[i++]!;
        else if (i >= a.length) k = add[j++]!;
        else {
          const c = compareKeys(a[i]!, add[j]!);
          if (c <= 0) {
            k = a[i++]!;
            if (c === 0) j++;
          } else k = add[j++]!;
        }
        if (out.length === 0 || out[out.length - 1] !== k) out.push(k);
      }
      this.sorted = out;
    }
    if (this.removed > 64 && this.removed * 2 > this.sorted.length) {
      this.sorted = this.sorted.filter((k) => this.isLive(k));
      this.removed = 0;
    }
  }
}

/** Index of the first key >= target. */
function lowerBound(keys: string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, target) < 0) lo = mid + 1;
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

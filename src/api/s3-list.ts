/**
 * S3 listings (ListObjects v1 and v2) over the namespace: keys of a bucket in UTF-8 byte order,
 * with prefix, delimiter, a lower bound (start-after / marker / continuation token) and max-keys,
 * walked with the library's paged directory listings — never a whole tree in memory.
 *
 * Order: a directory `d` holds the keys `d/…`, so within one directory a subdirectory sorts as
 * its name plus '/', not as its name (`a-b` < `a/x` though `a` < `a-b`). The walk merges: a
 * subdirectory waits in a small sorted set until the listing passes `name/`, then is walked.
 *
 * Items: a key, or (with a delimiter) a common prefix standing for every key that rolls up to it.
 * An item is returned only when it sorts after the lower bound, so a token or marker that is a
 * common prefix skips all of its keys.
 *
 * Pruning: a directory is entered only when its keys can match the prefix and sort after the
 * bound; with delimiter '/', a directory right below the prefix is a common prefix and is not
 * entered. An empty directory, listed from its start, is the folder key `d/` (docs/s3.md).
 */
import type { ListResult } from '../client/cairn-client.js';
import { RemotePath } from '../proto/path.js';
import { isCairnError } from '../util/errors.js';

/** The paged listing the walk reads (CairnClient.list). */
export interface ListSource {
  list(path: RemotePath, opts: { limit: number; cursor: string | null }): Promise<ListResult>;
}

export interface ListQuery {
  prefix: string;
  /** '' for none. */
  delimiter: string;
  /** Items must sort strictly after this ('' for none). */
  after: string;
  maxKeys: number;
}

export interface ListedObject {
  key: string;
  size: number;
  mtime: number;
}

export interface ListPage {
  objects: ListedObject[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last item returned (key or common prefix), when truncated. */
  last: string | null;
}

/** Directory entries read per fs.list call. */
export const LIST_PAGE_ENTRIES = 1000;

/** Byte order of the UTF-8 encodings (JS string order differs above U+FFFF). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

type PrefixItem = { kind: 'prefix'; prefix: string };
type Item = { kind: 'key'; obj: ListedObject } | PrefixItem;

/** One page of a listing of the bucket directory `bucket`. */
export async function listPage(source: ListSource, bucket: RemotePath, q: ListQuery): Promise<ListPage> {
  const out: ListPage = { objects: [], commonPrefixes: [], isTruncated: false, last: null };
  if (q.maxKeys <= 0) return out;
  let n = 0;
  let lastPrefix: string | null = null;
  for await (const item of walk(source, bucket, '', q)) {
    if (item.kind === 'prefix') {
      if (item.prefix === lastPrefix) continue; // several keys roll up to it
      lastPrefix = item.prefix;
    }
    if (n === q.maxKeys) {
      out.isTruncated = true;
      return out;
    }
    n++;
    if (item.kind === 'key') {
      out.objects.push(item.obj);
      out.last = item.obj.key;
    } else {
      out.commonPrefixes.push(item.prefix);
      out.last = item.prefix;
    }
  }
  out.last = null;
  return out;
}

/** The item a key stands for: itself, or its common prefix under the delimiter. */
function rollup(key: string, q: ListQuery): PrefixItem | string {
  if (q.delimiter === '') return key;
  const i = key.indexOf(q.delimiter, q.prefix.length);
  return i < 0 ? key : { kind: 'prefix', prefix: key.slice(0, i + q.delimiter.length) };
}

/** Items of the keys below directory key `d` ('' or 'x/y/'), in order. */
async function* walk(source: ListSource, bucket: RemotePath, d: string, q: ListQuery): AsyncGenerator<Item> {
  const dirPath = d === '' ? bucket : RemotePath.parse(`${bucket.text}/${d.slice(0, -1)}`);
  // Directories waiting for the listing to pass their key (name + '/'), sorted by key.
  const pending: string[] = [];
  const flushBefore = async function* (bound: string | null): AsyncGenerator<Item> {
    while (pending.length > 0 && (bound === null || compareUtf8(pending[0]!, bound) < 0)) {
      yield* enterDir(source, bucket, pending.shift()!, q);
    }
  };
  let cursor = seekCursor(d, q);
  let seen = 0;
  for (;;) {
    let page: ListResult;
    try {
      page = await source.list(dirPath, { limit: LIST_PAGE_ENTRIES, cursor });
    } catch (e) {
      // Removed while we walked: it holds nothing now.
      if (isCairnError(e, 'NotFound') || isCairnError(e, 'NotADirectory')) break;
      throw e;
    }
    for (const e of page.entries) {
      seen++;
      const k0 = d + e.name;
      const dk = k0 + (e.type === 'dir' ? '/' : '');
      yield* flushBefore(dk);
      // Past the prefix (names come in order): nothing further in this directory can match.
      if (!k0.startsWith(q.prefix) && !q.prefix.startsWith(k0) && compareUtf8(k0, q.prefix) > 0) {
        yield* flushBefore(null);
        return;
      }
      if (e.type === 'dir') {
        insertSorted(pending, dk);
        continue;
      }
      if (!dk.startsWith(q.prefix)) continue;
      const r = rollup(dk, q);
      const item: Item = typeof r === 'string' ? { kind: 'key', obj: { key: dk, size: e.size, mtime: e.mtime } } : r;
      if (compareUtf8(typeof r === 'string' ? r : r.prefix, q.after) > 0) yield item;
    }
    if (page.cursor === null || page.entries.length === 0) break;
    cursor = page.cursor;
  }
  yield* flushBefore(null);
  // An empty directory (listed from its start) is a folder key.
  if (seen === 0 && d !== '' && seekCursor(d, q) === null && d.startsWith(q.prefix)) {
    const r = rollup(d, q);
    if (typeof r === 'string' && compareUtf8(d, q.after) > 0) yield { kind: 'key', obj: { key: d, size: 0, mtime: 0 } };
    else if (typeof r !== 'string' && compareUtf8(r.prefix, q.after) > 0) yield r;
  }
}

/** Directory key `dk`: a common prefix, skipped, or walked. */
async function* enterDir(source: ListSource, bucket: RemotePath, dk: string, q: ListQuery): AsyncGenerator<Item> {
  if (!dk.startsWith(q.prefix) && !q.prefix.startsWith(dk)) return;
  if (dk.startsWith(q.prefix)) {
    const r = rollup(dk, q);
    // The delimiter closes inside this directory's own key: all of it is one common prefix.
    if (typeof r !== 'string' && r.prefix.length <= dk.length) {
      if (compareUtf8(r.prefix, q.after) > 0) yield r;
      return;
    }
  }
  // Every key below sorts before the bound.
  if (compareUtf8(q.after, dk) > 0 && !q.after.startsWith(dk)) return;
  yield* walk(source, bucket, dk, q);
}

/**
 * Where to start listing directory `d`: names before the segment the bound or the prefix points
 * at cannot hold an item — except a directory whose name is a proper prefix of that segment
 * followed by a character below '/' (`a/…` sorts after `a.txt`). The cursor is exclusive, so it
 * is that segment cut before the first such character, less one more character (a name sorting
 * between is filtered as usual); null to list from the start.
 */
function seekCursor(d: string, q: ListQuery): string | null {
  let seg: string | null = null;
  for (const bound of [q.after, q.prefix]) {
    if (bound.length <= d.length || !bound.startsWith(d)) continue;
    const s = bound.slice(d.length).split('/')[0]!;
    if (s !== '' && (seg === null || compareUtf8(s, seg) > 0)) seg = s;
  }
  if (seg === null) return null;
  const chars = [...seg];
  let end = chars.findIndex((c, i) => i > 0 && c < '/');
  if (end < 0) end = chars.length;
  const cut = chars.slice(0, end - 1).join('');
  return cut === '' || cut === '.' || cut === '..' ? null : cut;
}

function insertSorted(list: string[], v: string): void {
  let i = list.length;
  while (i > 0 && compareUtf8(list[i - 1]!, v) > 0) i--;
  list.splice(i, 0, v);
}

/** The listing under a key that has no directory to walk (a file, or a missing or invalid path) is empty. */
export function bucketPath(bucket: string): RemotePath {
  return RemotePath.parse(`/${bucket}`);
}

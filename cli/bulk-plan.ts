/**
 * The pure parts of bulk transfers, shared by put -r, get -r and cp: where each source lands
 * (the `cp -r` destination rules of CONTRACT.md), and a small pool that keeps a bounded number
 * of transfers in flight.
 */
import { CairnError } from '../src/util/errors.js';

/** Files transferred at once by put -r, get -r and cp -r; memory ≈ this × the client's per-file buffers. */
export const BULK_FILES_INFLIGHT = 4;

/** What is known about the destination argument before anything is transferred. */
export interface DestinationFacts {
  /** The destination exists and is a directory. */
  isDir: boolean;
  /** The destination exists and is a file. */
  isFile: boolean;
  /** The user wrote it with a trailing '/'. */
  trailingSlash: boolean;
}

/**
 * Whether each source goes INTO the destination (DST/<name of SRC>) or becomes it (SRC copied
 * as DST), as `cp -r`: into an existing directory or a trailing '/'; several sources need a
 * directory (NotADirectory otherwise); a trailing '/' on an existing file is NotADirectory.
 */
export function intoDestination(dst: DestinationFacts, sources: number, shown: string): boolean {
  if (dst.isFile && dst.trailingSlash) throw new CairnError('NotADirectory', `${shown} is a file, not a directory`);
  if (dst.isDir || dst.trailingSlash) return true;
  if (sources > 1) throw new CairnError(dst.isFile ? 'NotADirectory' : 'NotFound', `${shown}: several sources need an existing directory (or a trailing /) as the destination`);
  return false;
}

/** A directory source can become a new directory but not replace a file (cp: "cannot overwrite non-directory with directory"). */
export function checkDirTarget(targetIsFile: boolean, shown: string): void {
  if (targetIsFile) throw new CairnError('NotADirectory', `${shown} is a file: a directory cannot replace it`);
}

/**
 * Run `work` over `items`, at most `inflight` at once, in order of start. The first failure
 * stops new starts; the ones in flight settle, then it is thrown.
 */
export async function runPool<T>(items: readonly T[], inflight: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(inflight, items.length)) }, lane));
  if (failure !== null) throw (failure as { err: unknown }).err;
}

const SIZE_UNITS: Record<string, number> = { '': 1, c: 1, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * `find -size [+-]N[ckMGT]` as a predicate on a byte count. As find(1), the size is rounded up
 * to whole units before comparing: `+N` more than N units, `-N` fewer than N, `N` exactly N;
 * without a unit (or with `c`) the unit is one byte.
 */
export function sizePredicate(expr: string): (bytes: number) => boolean {
  const m = /^([+-]?)(\d+)([ckKMGT]?)$/.exec(expr);
  if (!m) throw new CairnError('InvalidArgument', `-size takes [+-]N[ckMGT], not ${JSON.stringify(expr)}`);
  const unit = SIZE_UNITS[m[3]!]!;
  const n = Number(m[2]);
  const units = (bytes: number): number => Math.ceil(bytes / unit);
  if (m[1] === '+') return (b) => units(b) > n;
  if (m[1] === '-') return (b) => units(b) < n;
  return (b) => units(b) === n;
}

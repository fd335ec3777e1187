/**
 * The one place LMDB environments are opened (test/unit/storage/lmdb-open.test.ts checks that
 * nothing else in src/ calls lmdb's `open`, and that every store's environment syncs).
 *
 * Contract: an environment opened here fsyncs its commits. The options that would trade that
 * away — `noSync` (no fsync at commit: an OS crash loses acknowledged writes), `noMetaSync` (the
 * meta page is not synced: the last commits may be lost), `mapAsync` (dirty pages written back
 * by the kernel whenever) — are forced off, and the options the environment actually took (lmdb-js
 * merges its defaults into the root database) are checked after the open: one that does not sync
 * is closed and refused loudly, so no store can start without durability.
 * `overlappingSync` still fsyncs every commit, off the event loop (lmdb-state-store.ts explains
 * when a caller waits for that flush), and stays a store's choice.
 */
import { open, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';

/** Options that turn a commit's fsync off (or make it partial); always false here. */
export const LMDB_UNSYNCED_OPTIONS = ['noSync', 'noMetaSync', 'mapAsync'] as const;

/** lmdb-js's options; the unsynced ones may only be spelled out as false. */
export type LmdbOpenOptions = Omit<RootDatabaseOptionsWithPath, (typeof LMDB_UNSYNCED_OPTIONS)[number]> & { [K in (typeof LMDB_UNSYNCED_OPTIONS)[number]]?: false };

/** The unsynced options an opened environment carries (empty: it fsyncs every commit). */
export function lmdbUnsyncedOptions(db: RootDatabase): string[] {
  const taken = db as unknown as Record<string, unknown>;
  return LMDB_UNSYNCED_OPTIONS.filter((k) => taken[k] === true);
}

/** Open an LMDB environment that fsyncs its commits; throws (after closing it) if it would not. */
export function lmdbOpen(options: LmdbOpenOptions): RootDatabase {
  const synced: RootDatabaseOptionsWithPath & { mapAsync: false } = { ...options, noSync: false, noMetaSync: false, mapAsync: false };
  const db = open(synced);
  const unsynced = lmdbUnsyncedOptions(db);
  if (unsynced.length > 0) {
    void db.close();
    throw new Error(`LMDB environment at ${options.path} opened without syncing (${unsynced.join(', ')}): refusing to run on it`);
  }
  return db;
}

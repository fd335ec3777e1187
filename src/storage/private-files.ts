/**
 * Data on disk is the cluster's alone: directories 0700, files 0600 (chunk replicas, LMDB files,
 * logs, secrets, cluster.json with the client token). Modes are set at creation and again on
 * open, so a data directory made by an older version (0755/0644) is tightened on its next start.
 * The process umask only ever removes bits from these.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** mkdir -p with mode 0700, and the directory itself set to 0700 if it already existed. */
export function makePrivateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}

/** The files an LMDB environment in `dir` keeps (lmdb-js creates them with its own mode). */
const LMDB_FILES = ['data.mdb', 'lock.mdb'];

/** Set an opened LMDB environment's files in `dir` to 0600. */
export function privateLmdbFiles(dir: string): void {
  for (const f of LMDB_FILES) {
    const path = join(dir, f);
    if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE);
  }
}

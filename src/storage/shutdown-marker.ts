/**
 * A chunk server's clean-shutdown marker: the file `clean-shutdown` in its data directory,
 * written (durably: temp file, fsync, rename, directory fsync) as the very last step of a clean
 * stop, and taken (read and removed durably) at start. So at start it exists only if the previous
 * process stopped cleanly; a crash, kill -9 or power loss leaves none, and the server then
 * re-verifies its replicas first (chunk/scrubber.ts). The marker carries a small JSON object
 * (what the server wants to resume from).
 */
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, isErrno } from './chunk-files.js';

export const SHUTDOWN_MARKER_FILE = 'clean-shutdown';

/**
 * The marker's object, removed from the disk before this resolves; null when there is none (the
 * last stop was not clean, or this is the first start) or it cannot be parsed.
 */
export async function takeShutdownMarker(dir: string): Promise<Record<string, unknown> | null> {
  const path = join(dir, SHUTDOWN_MARKER_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
  await unlink(path);
  await fsyncDir(dir);
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Writes the marker durably (call it last, once nothing else will touch the data directory). */
export async function writeShutdownMarker(dir: string, content: Record<string, unknown>): Promise<void> {
  const path = join(dir, SHUTDOWN_MARKER_FILE);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(content) + '\n');
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dir);
}

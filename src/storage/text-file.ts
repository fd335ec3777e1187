/**
 * Small whole-file reads for configuration (the client's ./.cairn/cluster.json). Lives in
 * storage because only storage and server may touch node:fs (test/tidy.test.ts).
 */
import { readFileSync } from 'node:fs';

/** The file's UTF-8 text, or null when it does not exist. Other errors (EACCES, EISDIR) throw. */
export function readTextFileIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

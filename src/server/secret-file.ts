/**
 * Reading the cluster secret and the client token from their files (0600, written by `cairn dev`).
 * Its own module so that a server reading them loads nothing else of another server's (the
 * gateway does not load the metadata server's LMDB).
 */
import { readFileSync } from 'node:fs';
import { CairnError } from '../util/errors.js';

/** Read a secret file: its trimmed text (hex or any string), refused under 16 characters. */
export function readSecretFile(path: string, what: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new CairnError('InvalidArgument', `cannot read ${what} file ${path}: ${(err as Error).message}`);
  }
  if (text.length < 16) throw new CairnError('InvalidArgument', `${what} in ${path} is too short (at least 16 characters)`);
  return new TextEncoder().encode(text);
}

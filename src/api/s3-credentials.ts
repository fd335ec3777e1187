/**
 * The S3 credentials file and the keys the gateway accepts from it.
 *
 * Format: one `ACCESS_KEY_ID:SECRET_ACCESS_KEY` per line (id: 3–128 letters and digits; secret:
 * 16–128 printable characters without spaces), blank lines and `#` comments allowed. The gateway
 * and `cairn s3 keys` read and write the same file.
 *
 * Reloading: S3Credentials looks at the file's identity (mtime, size, inode) at most once per
 * checkIntervalMs, on a request's lookup, and reads it again when that changed — so keys added
 * or removed (`cairn s3 keys`, or an editor) take effect within about a second, without a
 * restart. A file that cannot be read or parsed then keeps the keys in force (and is logged), so a
 * half-edited file locks nobody out; a well-formed file with no keys revokes every key.
 */
import type { Clock } from '../env/clock.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';

export const ACCESS_KEY_ID_RE = /^[A-Za-z0-9]{3,128}$/;
export const SECRET_KEY_RE = /^[\x21-\x7e]{16,128}$/;
/** How often a lookup may look at the file for changes. */
export const CREDENTIALS_CHECK_INTERVAL_MS_DEFAULT = 1000;

/** The keys of a credentials file's text (InvalidArgument naming the line otherwise; may be empty). */
export function parseS3Credentials(text: string, path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const id = line.slice(0, colon);
    const secret = line.slice(colon + 1);
    if (colon <= 0 || !ACCESS_KEY_ID_RE.test(id) || !SECRET_KEY_RE.test(secret)) {
      throw new CairnError('InvalidArgument', `${path} line ${i + 1}: each line must be ACCESS_KEY_ID:SECRET (id of 3-128 letters and digits, secret of 16-128 printable characters)`);
    }
    out.set(id, secret);
  }
  return out;
}

/** The file as the gateway sees it: its identity (changes when it is rewritten) and its text. */
export interface CredentialsSource {
  /** e.g. `${mtimeMs}:${size}:${ino}`; throws when the file cannot be looked at. */
  identity(): string;
  read(): string;
}

export interface S3CredentialsComponents {
  source: CredentialsSource;
  /** Monotonic time (when to look at the file again). */
  clock: Clock;
  logger: Logger;
}

export interface S3CredentialsOptions {
  /** For messages. */
  path: string;
  /** @default CREDENTIALS_CHECK_INTERVAL_MS_DEFAULT */
  checkIntervalMs?: number;
}

export class S3Credentials {
  private keys: Map<string, string>;
  private seen: string;
  private checkedAt: number;

  /** Reads the file now: InvalidArgument if it cannot be read or parsed, or holds no key. */
  constructor(
    private readonly c: S3CredentialsComponents,
    private readonly o: S3CredentialsOptions,
  ) {
    try {
      this.seen = c.source.identity();
      this.keys = parseS3Credentials(c.source.read(), o.path);
    } catch (err) {
      if (err instanceof CairnError) throw err;
      throw new CairnError('InvalidArgument', `cannot read S3 credentials file ${o.path}: ${(err as Error).message}`);
    }
    if (this.keys.size === 0) throw new CairnError('InvalidArgument', `${o.path} holds no S3 credentials`);
    this.checkedAt = c.clock.nowMs();
  }

  /** The secret of access key `id`, as the file holds it now (within checkIntervalMs). */
  get(id: string): string | undefined {
    this.refresh();
    return this.keys.get(id);
  }

  /** The access key ids in force. */
  ids(): string[] {
    this.refresh();
    return [...this.keys.keys()];
  }

  private refresh(): void {
    const now = this.c.clock.nowMs();
    if (now - this.checkedAt < (this.o.checkIntervalMs ?? CREDENTIALS_CHECK_INTERVAL_MS_DEFAULT)) return;
    this.checkedAt = now;
    try {
      const identity = this.c.source.identity();
      if (identity === this.seen) return;
      this.seen = identity; // a malformed version is reported once, not on every check
      const keys = parseS3Credentials(this.c.source.read(), this.o.path);
      this.keys = keys;
      this.c.logger.info('s3 credentials reloaded', { path: this.o.path, keys: keys.size });
    } catch (err) {
      this.c.logger.warn('s3 credentials file not reloaded; the keys in force stay', { path: this.o.path, err: (err as Error).message });
    }
  }
}

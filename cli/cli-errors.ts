/**
 * How the `cairn` command fails: exit status non-zero and exactly one line on stderr,
 * `cairn: <Code>: <message>`, with a code from the error catalogue (src/util/errors.ts) — never
 * a stack trace, also for errors nobody expected. Local file-system errors are mapped onto the
 * same codes (ENOENT → NotFound, …) so scripts see one vocabulary.
 *
 * A reader closing our stdout early (`cairn cat /big | head`) is not an error worth a word: we
 * exit quietly with status 141 (128 + SIGPIPE), as `cat` killed by SIGPIPE does, so pipelines
 * under `set -o pipefail` still see that the output was cut short.
 */
import { CommanderError } from 'commander';
import { isCairnError, type ErrorCode } from '../src/util/errors.js';

export const EXIT_FAILURE = 1;
export const EXIT_EPIPE = 141;
export const EXIT_INTERRUPTED = 130;

const LOCAL_CODES: Record<string, ErrorCode> = {
  ENOENT: 'NotFound',
  EEXIST: 'AlreadyExists',
  EISDIR: 'IsADirectory',
  ENOTDIR: 'NotADirectory',
  ENOTEMPTY: 'NotEmpty',
  ENOSPC: 'NoSpace',
  EDQUOT: 'NoSpace',
  EFBIG: 'TooLarge',
  EACCES: 'InvalidArgument',
  EPERM: 'InvalidArgument',
  EROFS: 'InvalidArgument',
  ENAMETOOLONG: 'InvalidArgument',
  ECONNREFUSED: 'Unavailable',
  ECONNRESET: 'Unavailable',
  ETIMEDOUT: 'Timeout',
};

/** Actions run at exit on failure or interruption (remove a temp file, stop a progress bar). */
const cleanups = new Set<() => void>();

export function onFailureCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

function runCleanups(): void {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort: we are exiting anyway
    }
  }
  cleanups.clear();
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Our reader went away: stdout failed with EPIPE, or a stream into it was cut because of that. */
export function isEpipe(err: unknown): boolean {
  return errnoOf(err) === 'EPIPE' || (stdoutBroken && errnoOf(err) === 'ERR_STREAM_PREMATURE_CLOSE');
}

let stdoutBroken = false;

/** The one line we print for an error (without the trailing newline). */
export function errorLine(err: unknown): string {
  let code: string;
  let message: string;
  if (isCairnError(err)) {
    code = err.code;
    message = err.message;
  } else if (err instanceof Error && errnoOf(err) !== undefined && LOCAL_CODES[errnoOf(err)!] !== undefined) {
    code = LOCAL_CODES[errnoOf(err)!]!;
    message = localMessage(err as NodeJS.ErrnoException);
  } else {
    code = 'Internal';
    message = err instanceof Error ? err.message : String(err);
  }
  const oneLine = message.replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'failed';
  return `cairn: ${code}: ${oneLine}`;
}

function localMessage(err: NodeJS.ErrnoException): string {
  const what: Record<string, string> = {
    ENOENT: 'no such local file or directory',
    EEXIST: 'local file exists',
    EISDIR: 'is a local directory',
    ENOTDIR: 'not a local directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the local device',
    EFBIG: 'local file too large',
  };
  const text = what[err.code ?? ''];
  if (text) return err.path ? `${text}: ${err.path}` : text;
  return err.message;
}

/** Print the error's line and exit non-zero. Commander has already printed its own (formatted) line. */
export function fail(err: unknown): never {
  runCleanups();
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (isEpipe(err)) process.exit(EXIT_EPIPE);
  process.stderr.write(errorLine(err) + '\n');
  process.exit(EXIT_FAILURE);
}

/** Commander's own messages ("error: unknown option '--x'") in our one-line format. */
export function commanderErrorLine(str: string): string {
  const text = str.replace(/^error:\s*/i, '').replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return `cairn: InvalidArgument: ${text}\n`;
}

/**
 * Catch everything that could otherwise print a stack: stray exceptions and rejections, and
 * errors on stdout (EPIPE when the reader went away). SIGINT removes temp files before exiting.
 */
export function installProcessGuards(): void {
  process.on('uncaughtException', (err) => fail(err));
  process.on('unhandledRejection', (err) => fail(err));
  process.stdout.on('error', (err) => {
    if (errnoOf(err) === 'EPIPE') {
      stdoutBroken = true;
      runCleanups();
      process.exit(EXIT_EPIPE);
    }
    fail(err);
  });
}

/** Client commands stop on SIGINT/SIGTERM after cleaning up (server commands install their own handlers). */
export function exitOnSignals(): void {
  const stop = (): void => {
    runCleanups();
    process.exit(EXIT_INTERRUPTED);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

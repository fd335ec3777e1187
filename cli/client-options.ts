/**
 * What every client command shares: the --meta/--token flags, the client built from them
 * (flags > CAIRN_META/CAIRN_TOKEN > ./.cairn/cluster.json, resolved by the client library), remote
 * path checks done here before any request (so a bad path fails with a clear InvalidPath even
 * when no cluster is reachable), and stdout writes that respect backpressure.
 */
import type { Command } from 'commander';
import { CairnClient, resolveClientConfig } from '../src/client/index.js';
import { parsePath } from '../src/proto/path.js';
import { CairnError } from '../src/util/errors.js';
import { exitOnSignals } from './cli-errors.js';

export interface ClientFlags {
  meta?: string;
  token?: string;
}

/** Add --meta and --token to a client command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--meta <addrs>', 'metadata servers, host:port,… (default: $CAIRN_META, then ./.cairn/cluster.json)')
    .option('--token <token>', 'client token (default: $CAIRN_TOKEN, then ./.cairn/cluster.json)');
}

/** Run `fn` with a client for the configured cluster; the client is closed afterwards, whatever happens. */
export async function withClient<T>(flags: ClientFlags, fn: (client: CairnClient) => Promise<T>, init: { chunkSize?: number } = {}): Promise<T> {
  exitOnSignals();
  const config = resolveClientConfig({ meta: flags.meta, token: flags.token });
  const client = new CairnClient(config, init.chunkSize !== undefined ? { chunkSize: init.chunkSize } : {});
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * A remote path as typed by a user, checked and in canonical form: a trailing '/' is dropped
 * ("/a/" means "/a", as in a shell) and everything else must already be canonical — absolute,
 * no empty, "." or ".." segments, no control characters (CONTRACT.md).
 */
export function remotePath(typed: string): string {
  const p = typed.length > 1 && typed.endsWith('/') && !typed.endsWith('//') ? typed.slice(0, -1) : typed;
  parsePath(p);
  return p;
}

/** Whether the user wrote the path with a trailing '/' (a directory is meant). */
export function meansDirectory(typed: string): boolean {
  return typed.endsWith('/');
}

/** The last segment of a canonical remote path ('' for '/'). */
export function remoteBase(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `dir` + '/' + `name` for a canonical remote directory path. */
export function remoteJoin(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Parse a positive byte count (--chunk-size). */
export function positiveBytes(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new CairnError('InvalidArgument', `${flag} must be a positive integer number of bytes: ${v}`);
    return n;
  };
}

/** Write text to stdout, waiting for the pipe to drain when it is full. */
export async function out(text: string): Promise<void> {
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
  }
}

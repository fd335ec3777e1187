/**
 * What every client command shares: the --meta/--token-file/--token flags, the client built from
 * them (flags > CAIRN_META/CAIRN_TOKEN_FILE/CAIRN_TOKEN > CAIRN_CONFIG or the nearest
 * .cairn/cluster.json up from the current directory, resolved by the client library), remote
 * path checks done here before any request (so a bad path fails with a clear InvalidPath even
 * when no cluster is reachable), and stdout writes that respect backpressure.
 */
import type { Command } from 'commander';
import { createCairnClient, resolveClientConfig, type CairnClient } from '../src/client/index.js';
import { RemotePath } from '../src/proto/path.js';
import { CairnError } from '../src/util/errors.js';
import { exitOnSignals } from './cli-errors.js';

export interface ClientFlags {
  meta?: string;
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
}

/** Add --meta, --token-file and --token to a client command. */
export function withClientOptions(cmd: Command): Command {
  return cmd
    .option('--meta <addrs>', 'metadata servers, host:port,… (default: $CAIRN_META, then cluster.json)')
    .option('--token-file <file>', 'file holding the client token (default: $CAIRN_TOKEN_FILE or $CAIRN_TOKEN, then cluster.json)')
    .option('--token <token>', 'client token itself (visible in ps; prefer --token-file)')
    .option('--tls-ca <file>', 'talk TLS, verifying the servers against this PEM CA certificate (default: $CAIRN_TLS_CA; without either, plain TCP)');
}

/** Run `fn` with a client for the configured cluster; the client is closed afterwards, whatever happens. */
export async function withClient<T>(flags: ClientFlags, fn: (client: CairnClient) => Promise<T>, init: { chunkSize?: number } = {}): Promise<T> {
  exitOnSignals();
  const config = resolveClientConfig({ meta: flags.meta, token: flags.token, tokenFile: flags.tokenFile, tlsCa: flags.tlsCa });
  const client = createCairnClient(config, init.chunkSize !== undefined ? { chunkSize: init.chunkSize } : {});
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * A remote path as typed by a user, parsed once (commands pass the RemotePath on): a trailing
 * '/' is dropped ("/a/" means "/a", as in a shell) and everything else must already be
 * canonical — absolute, no empty, "." or ".." segments, no control characters (CONTRACT.md).
 */
export function remotePath(typed: string): RemotePath {
  const p = typed.length > 1 && typed.endsWith('/') && !typed.endsWith('//') ? typed.slice(0, -1) : typed;
  return RemotePath.parse(p);
}

/** Whether the user wrote the path with a trailing '/' (a directory is meant). */
export function meansDirectory(typed: string): boolean {
  return typed.endsWith('/');
}

/** A destination argument: the parsed path, and whether a trailing '/' said "into this directory". */
export interface DestinationArg {
  path: RemotePath;
  intoDirectory: boolean;
}

export function destinationArg(typed: string): DestinationArg {
  return { path: remotePath(typed), intoDirectory: meansDirectory(typed) };
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

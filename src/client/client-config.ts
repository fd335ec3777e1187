/**
 * Where a client finds the cluster (CONTRACT "Client configuration"). Each setting is taken
 * from the first source that has it — flag, then environment, then a cluster.json:
 *
 * - metadata addresses: `--meta` > CAIRN_META > cluster.json `metaAddrs`
 *   (comma-separated host:port, any subset of the group);
 * - the credential: `--token-file` / `--token` > CAIRN_TOKEN_FILE / CAIRN_TOKEN > cluster.json
 *   `token`. A token file holds the token (surrounding whitespace ignored), so it stays out of
 *   `ps` and shell history. Both forms at the same level (both flags, or both variables) is
 *   an InvalidArgument: which one was meant is not ours to guess;
 * - cluster.json: CAIRN_CONFIG names one (it must then be readable), else the first
 *   `.cairn/cluster.json` found walking up from the current directory (`cairn dev` writes one
 *   under the directory it runs in). It is read only when a flag or variable left something
 *   missing.
 *
 * Every failure is a CairnError('InvalidArgument') whose one-line message names the source
 * (flag, variable or file) at fault.
 */
import { dirname, join, resolve } from 'node:path';
import { formatHostPort, parseHostPort } from '../proto/addr.js';
import { readTextFileIfExists } from '../storage/text-file.js';
import { CairnError } from '../util/errors.js';

export interface ClientConfig {
  /** `host:port` of metadata servers; any subset of the group works. */
  metaAddrs: string[];
  /** The client credential ('' when the cluster runs without auth). */
  token: string;
  /** Talk TLS to every server, verifying their certificates against this CA (PEM); absent: plain TCP. */
  tls?: { ca: Uint8Array } | null;
}

export interface ResolveClientConfigInput {
  /** `--meta`: comma-separated host:port. */
  meta?: string;
  /** `--token`: the token itself. */
  token?: string;
  /** `--token-file`: a file holding the token. */
  tokenFile?: string;
  /** `--tls-ca` (else CAIRN_TLS_CA): a PEM file of the CA that signed the servers' certificates. */
  tlsCa?: string;
  /** Where the walk up for `.cairn/cluster.json` starts. @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Reads a file's text or returns null when absent (other errors throw). @default a node:fs read */
  readFile?: (path: string) => string | null;
}

/** The directory and file name a cluster.json is looked for under, at each level of the walk. */
export const CLUSTER_JSON_RELATIVE_PATH = join('.cairn', 'cluster.json');

/** Splits and validates `host:port,host:port`. Throws InvalidArgument. */
export function parseMetaAddrs(s: string): string[] {
  const addrs = s
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.length > 0)
    .map((a) => formatHostPort(parseHostPort(a)));
  if (addrs.length === 0) throw new CairnError('InvalidArgument', 'no metadata server address given (expected host:port[,host:port…])');
  return addrs;
}

export function resolveClientConfig(o: ResolveClientConfigInput = {}): ClientConfig {
  const c = resolveEndpoints(o);
  const env = o.env ?? process.env;
  const ca = pick([
    ['--tls-ca', nonEmpty(o.tlsCa)],
    ['CAIRN_TLS_CA', nonEmpty(env.CAIRN_TLS_CA)],
  ]);
  if (ca === undefined) return c;
  const text = (o.readFile ?? readTextFileIfExists)(resolve(o.cwd ?? process.cwd(), ca.value));
  if (text === null || !text.includes('-----BEGIN CERTIFICATE-----')) throw new CairnError('InvalidArgument', `${ca.source}: ${ca.value} is not a readable PEM certificate file`);
  return { ...c, tls: { ca: new TextEncoder().encode(text) } };
}

function resolveEndpoints(o: ResolveClientConfigInput): ClientConfig {
  const env = o.env ?? process.env;
  const readFile = o.readFile ?? readTextFileIfExists;
  const cwd = resolve(o.cwd ?? process.cwd());
  const meta = pick([
    ['--meta', nonEmpty(o.meta)],
    ['CAIRN_META', nonEmpty(env.CAIRN_META)],
  ]);
  const token =
    credential(o.tokenFile, '--token-file', o.token, '--token', cwd, readFile) ??
    credential(env.CAIRN_TOKEN_FILE, 'CAIRN_TOKEN_FILE', env.CAIRN_TOKEN, 'CAIRN_TOKEN', cwd, readFile);
  if (meta !== undefined && token !== undefined) return { metaAddrs: addrsFrom(meta.value, meta.source), token };

  const file = findClusterJson(env, cwd, readFile);
  if (file === null) {
    if (meta !== undefined) return { metaAddrs: addrsFrom(meta.value, meta.source), token: '' };
    throw new CairnError(
      'InvalidArgument',
      `no cluster configured: pass --meta ADDRS and --token-file F (or set CAIRN_META and CAIRN_TOKEN_FILE or CAIRN_TOKEN), set CAIRN_CONFIG to a cluster.json, or run at or below a directory holding .cairn/cluster.json (cairn dev writes it); none found from ${cwd} up`,
    );
  }
  const j = parseClusterJson(file.path, file.text);
  if (meta === undefined && j.metaAddrs === null) throw new CairnError('InvalidArgument', `${file.path} has no metaAddrs`);
  return { metaAddrs: meta !== undefined ? addrsFrom(meta.value, meta.source) : addrsFrom(j.metaAddrs!, file.path), token: token ?? j.token };
}

/**
 * The cluster.json to use: CAIRN_CONFIG's (an error when it cannot be read), else the first
 * `.cairn/cluster.json` from `cwd` up to the root; null when there is none.
 */
export function findClusterJson(env: NodeJS.ProcessEnv, cwd: string, readFile: (path: string) => string | null): { path: string; text: string } | null {
  const named = nonEmpty(env.CAIRN_CONFIG);
  if (named !== undefined) {
    const path = resolve(cwd, named);
    const text = readOrFail(path, 'CAIRN_CONFIG', readFile);
    return { path, text };
  }
  for (let dir = cwd; ; dir = dirname(dir)) {
    const path = join(dir, CLUSTER_JSON_RELATIVE_PATH);
    const text = readOrFail(path, 'cluster file', readFile, true);
    if (text !== null) return { path, text };
    if (dirname(dir) === dir) return null;
  }
}

function parseClusterJson(path: string, text: string): { metaAddrs: string | null; token: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CairnError('InvalidArgument', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CairnError('InvalidArgument', `${path} is not a JSON object`);
  const j = parsed as { metaAddrs?: unknown; token?: unknown };
  const addrs = Array.isArray(j.metaAddrs) && j.metaAddrs.every((a) => typeof a === 'string') ? j.metaAddrs.join(',') : j.metaAddrs;
  if (addrs !== undefined && addrs !== null && typeof addrs !== 'string') throw new CairnError('InvalidArgument', `${path}: metaAddrs must be a "host:port,…" string or an array of them`);
  if (j.token !== undefined && j.token !== null && typeof j.token !== 'string') throw new CairnError('InvalidArgument', `${path}: token must be a string or null`);
  return { metaAddrs: typeof addrs === 'string' && addrs.trim() !== '' ? addrs : null, token: (j.token as string | null | undefined) ?? '' };
}

/** The token from one level (flags, or environment): its file, or itself; undefined when neither is set. */
function credential(file: string | undefined, fileSource: string, literal: string | undefined, literalSource: string, cwd: string, readFile: (path: string) => string | null): string | undefined {
  const f = nonEmpty(file);
  if (f !== undefined && literal !== undefined) throw new CairnError('InvalidArgument', `both ${fileSource} and ${literalSource} are set; give one`);
  if (literal !== undefined) return literal;
  if (f === undefined) return undefined;
  const path = resolve(cwd, f);
  const token = readOrFail(path, fileSource, readFile).trim();
  if (token === '') throw new CairnError('InvalidArgument', `token file ${path} (${fileSource}) is empty`);
  if (/[\r\n]/.test(token)) throw new CairnError('InvalidArgument', `token file ${path} (${fileSource}) holds more than one line`);
  return token;
}

function readOrFail(path: string, source: string, readFile: (path: string) => string | null, absentOk: true): string | null;
function readOrFail(path: string, source: string, readFile: (path: string) => string | null): string;
function readOrFail(path: string, source: string, readFile: (path: string) => string | null, absentOk = false): string | null {
  let text: string | null;
  try {
    text = readFile(path);
  } catch (e) {
    throw new CairnError('InvalidArgument', `cannot read ${path} (${source}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text === null && !absentOk) throw new CairnError('InvalidArgument', `cannot read ${path} (${source}): no such file`);
  return text;
}

function addrsFrom(value: string, source: string): string[] {
  try {
    return parseMetaAddrs(value);
  } catch (e) {
    throw new CairnError('InvalidArgument', `${source}: ${(e as Error).message}`);
  }
}

function pick(candidates: Array<[source: string, value: string | undefined]>): { source: string; value: string } | undefined {
  for (const [source, value] of candidates) if (value !== undefined) return { source, value };
  return undefined;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s;
}

/**
 * Where a client finds the cluster (CONTRACT "Client configuration"): metadata addresses from
 * `--meta` or CAIRN_META (comma-separated host:port, any subset of the group), the credential
 * from `--token` or CAIRN_TOKEN; whatever is missing comes from `<cwd>/.cairn/cluster.json`
 * (written by `cairn dev`) when present. Nothing configured → CairnError('InvalidArgument').
 */
import { join } from 'node:path';
import { formatHostPort, parseHostPort } from '../proto/addr.js';
import { readTextFileIfExists } from '../storage/text-file.js';
import { CairnError } from '../util/errors.js';

export interface ClientConfig {
  /** `host:port` of metadata servers; any subset of the group works. */
  metaAddrs: string[];
  /** The client credential ('' when the cluster runs without auth). */
  token: string;
}

export interface ResolveClientConfigInput {
  meta?: string;
  token?: string;
  /** Directory holding `.cairn/cluster.json`. @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Reads a file's text or returns null when absent. @default a node:fs read */
  readFile?: (path: string) => string | null;
}

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
  const env = o.env ?? process.env;
  const meta = nonEmpty(o.meta) ?? nonEmpty(env.CAIRN_META);
  const token = o.token ?? env.CAIRN_TOKEN;
  if (meta !== undefined && token !== undefined) return { metaAddrs: parseMetaAddrs(meta), token };

  const file = join(o.cwd ?? process.cwd(), '.cairn', 'cluster.json');
  const text = (o.readFile ?? readTextFileIfExists)(file);
  if (text === null) {
    if (meta !== undefined) return { metaAddrs: parseMetaAddrs(meta), token: '' };
    throw new CairnError('InvalidArgument', `no cluster configured: pass --meta ADDRS and --token TOKEN (or set CAIRN_META and CAIRN_TOKEN), or run where ./.cairn/cluster.json exists (cairn dev writes it); looked for ${file}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CairnError('InvalidArgument', `${file} is not valid JSON`);
  }
  const j = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { metaAddrs?: unknown; token?: unknown };
  const fileMeta = Array.isArray(j.metaAddrs) ? j.metaAddrs.join(',') : j.metaAddrs;
  if (meta === undefined && (typeof fileMeta !== 'string' || fileMeta.trim() === '')) throw new CairnError('InvalidArgument', `${file} has no metaAddrs`);
  if (j.token !== undefined && j.token !== null && typeof j.token !== 'string') throw new CairnError('InvalidArgument', `${file}: token must be a string or null`);
  return { metaAddrs: parseMetaAddrs(meta ?? (fileMeta as string)), token: token ?? (j.token as string | null | undefined) ?? '' };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s;
}

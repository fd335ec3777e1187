/**
 * TLS certificates from the --tls-cert/--tls-key/--tls-ca flags (PEM files), for every server
 * role and the client. A server listens with TLS when --tls-cert is given, and then needs all
 * three (the CA verifies the servers it dials: peers, the pipeline's next chunk servers, the
 * metadata leader). Plain TCP without any of them. (A client's --tls-ca: client/client-config.ts.)
 */
import { readFileSync } from 'node:fs';
import { CairnError } from '../util/errors.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export interface ServerTls {
  cert: Uint8Array;
  key: Uint8Array;
  ca: Uint8Array;
}

function readPem(path: string, flag: string, marker: RegExp): Uint8Array {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (err) {
    throw new CairnError('InvalidArgument', `${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!marker.test(b.toString('latin1'))) throw new CairnError('InvalidArgument', `${flag}: ${path} holds no PEM ${marker.source.replace(/\\/g, '')}`);
  return b;
}

const CERT = /-----BEGIN CERTIFICATE-----/;
const KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** A server's TLS (null: plain TCP); InvalidArgument naming the missing flag when only some are given. */
export function serverTlsFromFlags(f: TlsFlags): ServerTls | null {
  if (f.tlsCert === undefined && f.tlsKey === undefined && f.tlsCa === undefined) return null;
  for (const [v, flag] of [[f.tlsCert, '--tls-cert'], [f.tlsKey, '--tls-key'], [f.tlsCa, '--tls-ca']] as const)
    if (v === undefined) throw new CairnError('InvalidArgument', `${flag} is required with TLS (--tls-cert, --tls-key and --tls-ca go together)`);
  return { cert: readPem(f.tlsCert!, '--tls-cert', CERT), key: readPem(f.tlsKey!, '--tls-key', KEY), ca: readPem(f.tlsCa!, '--tls-ca', CERT) };
}

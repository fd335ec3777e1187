/** --tls-cert/--tls-key/--tls-ca (server/tls-files.ts): none is plain TCP; all three or a clear error naming the missing flag or the bad file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serverTlsFromFlags } from '../../../src/server/tls-files.js';
import { isCairnError } from '../../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-tls-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n';
const f = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isCairnError(err, 'InvalidArgument')) return err.message;
    throw err;
  }
  throw new Error('expected InvalidArgument');
}

describe('TLS flags', () => {
  it('reads all three, or none; names what is missing or wrong', () => {
    const cert = f('cert.pem', CERT);
    const key = f('key.pem', KEY);
    const ca = f('ca.pem', CERT);
    expect(serverTlsFromFlags({})).toBeNull();
    const t = serverTlsFromFlags({ tlsCert: cert, tlsKey: key, tlsCa: ca })!;
    expect(Buffer.from(t.key).toString()).toBe(KEY);
    expect(Buffer.from(t.cert).toString()).toBe(CERT);
    expect(message(() => serverTlsFromFlags({ tlsCert: cert, tlsCa: ca }))).toMatch(/^--tls-key is required with TLS/);
    expect(message(() => serverTlsFromFlags({ tlsKey: key }))).toMatch(/^--tls-cert is required/);
    expect(message(() => serverTlsFromFlags({ tlsCert: key, tlsKey: key, tlsCa: ca }))).toMatch(/^--tls-cert: .* holds no PEM/);
    expect(message(() => serverTlsFromFlags({ tlsCert: cert, tlsKey: cert, tlsCa: ca }))).toMatch(/^--tls-key: .* holds no PEM/);
    expect(message(() => serverTlsFromFlags({ tlsCert: cert, tlsKey: key, tlsCa: join(dir, 'nope') }))).toMatch(/^--tls-ca: cannot read /);
  });
});

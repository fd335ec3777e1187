import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMetaAddrs, resolveClientConfig } from '../../../src/client/client-config.js';
import { RequestIds } from '../../../src/client/request-ids.js';
import { isCairnError } from '../../../src/util/errors.js';

const files = (m: Record<string, string>) => (p: string) => m[p] ?? null;
const CLUSTER_JSON = JSON.stringify({ metaAddrs: '127.0.0.1:7001,127.0.0.1:7002', token: 'tok-file', gateway: null, meta: [], chunks: [] });

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('resolveClientConfig', () => {
  it('adds the TLS CA from --tls-ca over CAIRN_TLS_CA, relative to cwd; refuses a file that is not a PEM certificate', () => {
    const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const readFile = files({ '/w/ca.pem': CA, '/w/env-ca.pem': CA.replace('MIIB', 'MIIC'), '/w/key.pem': 'not a cert' });
    const base = { meta: 'a:1', token: 't', cwd: '/w', readFile };
    expect(resolveClientConfig({ ...base, env: {} })).toEqual({ metaAddrs: ['a:1'], token: 't' });
    expect(resolveClientConfig({ ...base, tlsCa: 'ca.pem', env: { CAIRN_TLS_CA: 'env-ca.pem' } }).tls).toEqual({ ca: new TextEncoder().encode(CA) });
    expect(new TextDecoder().decode(resolveClientConfig({ ...base, env: { CAIRN_TLS_CA: '/w/env-ca.pem' } }).tls!.ca)).toMatch(/MIIC/);
    for (const [tlsCa, env, msg] of [
      ['key.pem', {}, /^--tls-ca: key\.pem is not a readable PEM certificate file$/],
      [undefined, { CAIRN_TLS_CA: 'missing.pem' }, /^CAIRN_TLS_CA: missing\.pem/],
    ] as const) {
      const e = thrown(() => resolveClientConfig({ ...base, ...(tlsCa ? { tlsCa } : {}), env }));
      expect(isCairnError(e, 'InvalidArgument') && msg.test(e.message)).toBe(true);
    }
  });

  it('takes flags over the environment over cluster.json', () => {
    const readFile = files({ '/w/.cairn/cluster.json': CLUSTER_JSON });
    expect(resolveClientConfig({ meta: 'a:1, b:2', token: 't', cwd: '/w', env: { CAIRN_META: 'x:9', CAIRN_TOKEN: 'e' }, readFile })).toEqual({ metaAddrs: ['a:1', 'b:2'], token: 't' });
    expect(resolveClientConfig({ cwd: '/w', env: { CAIRN_META: 'x:9', CAIRN_TOKEN: 'e' }, readFile })).toEqual({ metaAddrs: ['x:9'], token: 'e' });
    expect(resolveClientConfig({ cwd: '/w', env: {}, readFile })).toEqual({ metaAddrs: ['127.0.0.1:7001', '127.0.0.1:7002'], token: 'tok-file' });
  });

  it('fills only the missing piece from cluster.json', () => {
    const readFile = files({ '/w/.cairn/cluster.json': CLUSTER_JSON });
    expect(resolveClientConfig({ meta: 'h:5', cwd: '/w', env: {}, readFile })).toEqual({ metaAddrs: ['h:5'], token: 'tok-file' });
    expect(resolveClientConfig({ token: 'mine', cwd: '/w', env: {}, readFile })).toEqual({ metaAddrs: ['127.0.0.1:7001', '127.0.0.1:7002'], token: 'mine' });
    // No file: addresses alone work (auth off); the server refuses if it wants a token.
    expect(resolveClientConfig({ meta: 'h:5', cwd: '/none', env: {}, readFile })).toEqual({ metaAddrs: ['h:5'], token: '' });
  });

  it('accepts a null token (auth off) and an address array in cluster.json', () => {
    const readFile = files({ '/w/.cairn/cluster.json': JSON.stringify({ metaAddrs: ['h:1', 'h:2'], token: null }) });
    expect(resolveClientConfig({ cwd: '/w', env: {}, readFile })).toEqual({ metaAddrs: ['h:1', 'h:2'], token: '' });
  });

  it('fails with a clear InvalidArgument when nothing is configured or the file is bad', () => {
    const none = thrown(() => resolveClientConfig({ cwd: '/nowhere', env: {}, readFile: () => null }));
    expect(isCairnError(none, 'InvalidArgument')).toBe(true);
    expect((none as Error).message).toMatch(/--meta.*CAIRN_META.*cluster\.json/);
    expect(isCairnError(thrown(() => resolveClientConfig({ cwd: '/w', env: {}, readFile: () => '{nope' })), 'InvalidArgument')).toBe(true);
    expect(isCairnError(thrown(() => resolveClientConfig({ cwd: '/w', env: {}, readFile: () => '{"token":"t"}' })), 'InvalidArgument')).toBe(true);
    expect(isCairnError(thrown(() => resolveClientConfig({ meta: 'nohost', token: 't', env: {} })), 'InvalidArgument')).toBe(true);
  });

  it('reads the real ./.cairn/cluster.json through node:fs by default (absent here → error)', () => {
    expect(isCairnError(thrown(() => resolveClientConfig({ cwd: '/proc/self/nonexistent', env: {} })), 'InvalidArgument')).toBe(true);
  });

  it('parseMetaAddrs splits, trims, validates', () => {
    expect(parseMetaAddrs(' a:1 ,,[::1]:2 ')).toEqual(['a:1', '[::1]:2']);
    expect(isCairnError(thrown(() => parseMetaAddrs(' , ')), 'InvalidArgument')).toBe(true);
    expect(isCairnError(thrown(() => parseMetaAddrs('a:99999')), 'InvalidArgument')).toBe(true);
  });
});

describe('resolveClientConfig on a real file tree', () => {
  // root/.cairn/cluster.json, root/a/b/c (no cluster.json below root), tokens in root/tok*.
  const root = mkdtempSync(join(tmpdir(), 'cairn-client-config-'));
  const deep = join(root, 'a', 'b', 'c');
  mkdirSync(deep, { recursive: true });
  mkdirSync(join(root, '.cairn'));
  writeFileSync(join(root, '.cairn', 'cluster.json'), JSON.stringify({ metaAddrs: 'r:1', token: 'root-token' }));
  mkdirSync(join(root, 'a', '.cairn'));
  writeFileSync(join(root, 'a', '.cairn', 'cluster.json'), JSON.stringify({ metaAddrs: ['a:1', 'a:2'], token: 'a-token' }));
  const other = join(root, 'other.json');
  writeFileSync(other, JSON.stringify({ metaAddrs: 'o:1', token: 'other-token' }));
  writeFileSync(join(root, 'tok'), '  file-token\n');
  writeFileSync(join(root, 'tok2'), 'env-file-token\n');
  writeFileSync(join(root, 'empty'), '\n');
  const unreadable = join(root, 'secret');
  writeFileSync(unreadable, 'x');
  chmodSync(unreadable, 0o000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const message = (fn: () => unknown): string => {
    const e = thrown(fn);
    expect(isCairnError(e, 'InvalidArgument')).toBe(true);
    const m = (e as Error).message;
    expect(m).not.toContain('\n');
    return m;
  };

  it('walks up from the current directory to the nearest .cairn/cluster.json', () => {
    expect(resolveClientConfig({ cwd: deep, env: {} })).toEqual({ metaAddrs: ['a:1', 'a:2'], token: 'a-token' });
    expect(resolveClientConfig({ cwd: join(root, 'a'), env: {} })).toEqual({ metaAddrs: ['a:1', 'a:2'], token: 'a-token' });
    expect(resolveClientConfig({ cwd: root, env: {} })).toEqual({ metaAddrs: ['r:1'], token: 'root-token' });
  });

  it('CAIRN_CONFIG names the cluster.json (relative to the current directory), and must exist', () => {
    expect(resolveClientConfig({ cwd: deep, env: { CAIRN_CONFIG: other } })).toEqual({ metaAddrs: ['o:1'], token: 'other-token' });
    expect(resolveClientConfig({ cwd: root, env: { CAIRN_CONFIG: 'other.json' } })).toEqual({ metaAddrs: ['o:1'], token: 'other-token' });
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_CONFIG: join(root, 'missing.json') } }))).toMatch(/missing\.json.*CAIRN_CONFIG/);
  });

  it('reads the token from --token-file or CAIRN_TOKEN_FILE (trimmed), flags before variables before the file', () => {
    const tok = join(root, 'tok');
    const tok2 = join(root, 'tok2');
    expect(resolveClientConfig({ tokenFile: tok, cwd: deep, env: { CAIRN_TOKEN: 'env', CAIRN_TOKEN_FILE: tok2 } })).toEqual({ metaAddrs: ['a:1', 'a:2'], token: 'file-token' });
    expect(resolveClientConfig({ token: 'flag', cwd: deep, env: { CAIRN_TOKEN_FILE: tok2 } })).toEqual({ metaAddrs: ['a:1', 'a:2'], token: 'flag' });
    expect(resolveClientConfig({ cwd: deep, env: { CAIRN_TOKEN_FILE: tok2, CAIRN_META: 'e:1' } })).toEqual({ metaAddrs: ['e:1'], token: 'env-file-token' });
    expect(resolveClientConfig({ tokenFile: 'tok', cwd: root, env: { CAIRN_META: 'e:1' } })).toEqual({ metaAddrs: ['e:1'], token: 'file-token' });
    expect(resolveClientConfig({ meta: 'f:1', cwd: deep, env: { CAIRN_META: 'e:1', CAIRN_TOKEN: 'env' } })).toEqual({ metaAddrs: ['f:1'], token: 'env' });
  });

  it('names the source of a bad setting in one line', () => {
    const tok = join(root, 'tok');
    expect(message(() => resolveClientConfig({ tokenFile: join(root, 'nope'), cwd: deep, env: {} }))).toMatch(/nope.*--token-file/);
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_TOKEN_FILE: join(root, 'nope') } }))).toMatch(/nope.*CAIRN_TOKEN_FILE/);
    expect(message(() => resolveClientConfig({ tokenFile: join(root, 'empty'), cwd: deep, env: {} }))).toMatch(/empty.*--token-file.*empty/);
    if (process.getuid?.() !== 0) expect(message(() => resolveClientConfig({ tokenFile: unreadable, cwd: deep, env: {} }))).toMatch(/secret.*--token-file.*EACCES/);
    expect(message(() => resolveClientConfig({ tokenFile: tok, token: 't', cwd: deep, env: {} }))).toMatch(/--token-file and --token/);
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_TOKEN_FILE: tok, CAIRN_TOKEN: 't' } }))).toMatch(/CAIRN_TOKEN_FILE and CAIRN_TOKEN/);
    expect(message(() => resolveClientConfig({ meta: 'nohost', cwd: deep, env: {} }))).toMatch(/--meta/);
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_META: 'h:99999' } }))).toMatch(/CAIRN_META/);
    const bad = join(root, 'bad.json');
    writeFileSync(bad, '{"metaAddrs": 5}');
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_CONFIG: bad } }))).toMatch(/bad\.json.*metaAddrs/);
    writeFileSync(bad, '{"metaAddrs": "x:1",');
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_CONFIG: bad } }))).toMatch(/bad\.json is not valid JSON/);
    writeFileSync(bad, '{"metaAddrs": "nohost"}');
    expect(message(() => resolveClientConfig({ cwd: deep, env: { CAIRN_CONFIG: bad } }))).toMatch(/bad\.json/);
  });
});

describe('RequestIds', () => {
  it('ackedBelow is the lowest seq still waiting for its answer', () => {
    const ids = new RequestIds('c1');
    expect(ids.begin()).toEqual(['c1', 1, 1]);
    expect(ids.begin()).toEqual(['c1', 2, 1]);
    expect(ids.begin()).toEqual(['c1', 3, 1]);
    ids.end(2);
    expect(ids.begin()).toEqual(['c1', 4, 1]);
    ids.end(1);
    expect(ids.begin()).toEqual(['c1', 5, 3]);
    ids.end(3);
    ids.end(4);
    ids.end(5);
    expect(ids.inflight).toBe(0);
    expect(ids.begin()).toEqual(['c1', 6, 6]);
  });
});

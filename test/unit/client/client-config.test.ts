import { describe, expect, it } from 'vitest';
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

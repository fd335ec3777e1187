/** Remote globbing: segment patterns (* ? [..], escapes, dot files) and expansion over a fake namespace. */
import { describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/index.js';
import { RemotePath } from '../../../src/proto/path.js';
import { CairnError } from '../../../src/util/errors.js';
import { expandRemote, hasWildcard, matchSegment } from '../../../cli/remote-glob.js';

describe('segment patterns', () => {
  it('* ? and classes match within one segment', () => {
    const m = (p: string, names: string[]) => names.filter((n) => matchSegment(p, n));
    expect(m('*.iso', ['a.iso', 'b.iso.bak', '.iso', 'iso', 'x.ISO'])).toEqual(['a.iso']);
    expect(m('?.txt', ['a.txt', 'ab.txt', '.txt'])).toEqual(['a.txt']);
    expect(m('f[0-2]', ['f0', 'f2', 'f3', 'f', 'f-'])).toEqual(['f0', 'f2']);
    expect(m('f[!0-2]', ['f0', 'f3', 'fx'])).toEqual(['f3', 'fx']);
    expect(m('f[^a]', ['fa', 'fb'])).toEqual(['fb']);
    expect(m('[]x]', [']', 'x', 'y'])).toEqual([']', 'x']);
    expect(m('a\\*', ['a*', 'ab'])).toEqual(['a*']);
    expect(m('a+b(c).$', ['a+b(c).$', 'aab(c).$'])).toEqual(['a+b(c).$']);
    expect(m('.*', ['.hidden', 'shown'])).toEqual(['.hidden']);
    expect(m('*', ['.hidden', 'shown', 'ünï'])).toEqual(['shown', 'ünï']);
    expect(m('[a', ['[a', 'a'])).toEqual(['[a']);
  });

  it('tells wildcards from plain names', () => {
    expect(['a*', 'a?', 'a[b]', 'plain', 'a\\*', '[x', 'a]'].map(hasWildcard)).toEqual([true, true, true, false, false, false, false]);
  });
});

/** A namespace of directories (names ending in '/') and files, read through stat and ls. */
function fakeClient(paths: string[]): CairnClient {
  const entries = new Map<string, 'file' | 'dir'>([['/', 'dir']]);
  for (const p of paths) entries.set(p.endsWith('/') ? p.slice(0, -1) : p, p.endsWith('/') ? 'dir' : 'file');
  const stat = (p: RemotePath) => {
    const type = entries.get(p.text);
    if (!type) throw new CairnError('NotFound', `no such file or directory: ${p.text}`);
    return Promise.resolve({ path: p.text, type, size: 1, mtime: 0, etag: null, chunks: [] });
  };
  async function* ls(p: RemotePath) {
    const prefix = p.isRoot ? '/' : `${p.text}/`;
    for (const [path, type] of [...entries].sort()) {
      if (path !== '/' && path.startsWith(prefix) && !path.slice(prefix.length).includes('/')) yield { name: path.slice(prefix.length), path, type, size: 1, mtime: 0 };
    }
  }
  return { stat, ls } as unknown as CairnClient;
}

describe('expandRemote', () => {
  const client = fakeClient(['/isos/', '/isos/a.iso', '/isos/b.iso', '/isos/c.img', '/isos/sub/', '/isos/sub/d.iso', '/x/', '/x/a[1]', '/y/', '/y/sub/', '/y/sub/d.iso']);
  const texts = async (typed: string) => (await expandRemote(client, typed)).map((p) => p.text);

  it('expands each wildcard segment against its directory, sorted', async () => {
    expect(await texts('/isos/*.iso')).toEqual(['/isos/a.iso', '/isos/b.iso']);
    expect(await texts('/*/sub/d.iso')).toEqual(['/isos/sub/d.iso', '/y/sub/d.iso']);
    expect(await texts('/*/sub')).toEqual(['/isos/sub', '/y/sub']);
    expect(await texts('/isos/?.i*')).toEqual(['/isos/a.iso', '/isos/b.iso', '/isos/c.img']);
    expect(await texts('/*/')).toEqual(['/isos', '/x', '/y']);
  });

  it('passes a plain path through unchecked; no match is NotFound unless the literal name exists', async () => {
    expect(await texts('/none/at/all')).toEqual(['/none/at/all']);
    await expect(expandRemote(client, '/isos/*.zip')).rejects.toMatchObject({ code: 'NotFound', message: 'no match: /isos/*.zip' });
    await expect(expandRemote(client, '/isos/a.iso/*')).rejects.toMatchObject({ code: 'NotFound' });
    expect(await texts('/x/a[1]')).toEqual(['/x/a[1]']);
    await expect(expandRemote(client, 'rel/*')).rejects.toMatchObject({ code: 'InvalidPath' });
  });
});

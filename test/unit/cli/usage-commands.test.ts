/** du's totals and per-directory order over a fake namespace walk; find's expression. */
import { describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/index.js';
import { RemotePath } from '../../../src/proto/path.js';
import { findPredicate, parseFindArgs, usageOf, type Usage } from '../../../cli/usage-commands.js';

/** Pre-order walk entries as fs.walk yields them; PATH itself is a directory unless listed as a file. */
function walker(entries: Array<[string, 'file' | 'dir', number]>): CairnClient {
  return {
    stat: (p: RemotePath) => {
      const e = entries.find(([path]) => path === p.text);
      return Promise.resolve({ type: e ? e[1] : 'dir', size: e ? e[2] : 0 });
    },
    async *ls(p: RemotePath) {
      for (const [path, type, size] of entries) if (path.startsWith(`${p.text}/`)) yield { name: path.slice(path.lastIndexOf('/') + 1), path, type, size, mtime: 0 };
    },
  } as unknown as CairnClient;
}

describe('du totals', () => {
  it('counts files, directories below PATH (not PATH) and bytes; each directory comes after its children', async () => {
    const client = walker([
      ['/p/a', 'dir', 0],
      ['/p/a/b', 'dir', 0],
      ['/p/a/b/f1', 'file', 10],
      ['/p/a/f2', 'file', 5],
      ['/p/ab', 'dir', 0],
      ['/p/ab/f3', 'file', 7],
      ['/p/e', 'dir', 0],
      ['/p/top', 'file', 1],
    ]);
    const dirs: Usage[] = [];
    const total = await usageOf(client, RemotePath.parse('/p'), (u) => Promise.resolve(void dirs.push(u)));
    expect(total).toEqual({ path: '/p', files: 4, dirs: 4, bytes: 23 });
    expect(dirs).toEqual([
      { path: '/p/a/b', files: 1, dirs: 0, bytes: 10 },
      { path: '/p/a', files: 2, dirs: 1, bytes: 15 },
      { path: '/p/ab', files: 1, dirs: 0, bytes: 7 },
      { path: '/p/e', files: 0, dirs: 0, bytes: 0 },
    ]);
  });

  it('a file counts as itself; an empty directory is all zeros', async () => {
    expect(await usageOf(walker([['/f', 'file', 9]]), RemotePath.parse('/f'))).toEqual({ path: '/f', files: 1, dirs: 0, bytes: 9 });
    expect(await usageOf(walker([]), RemotePath.parse('/d'))).toEqual({ path: '/d', files: 0, dirs: 0, bytes: 0 });
  });
});

describe('find expression', () => {
  it('parses paths then -name, -type, -size; refuses the rest', () => {
    expect(parseFindArgs(['/a', '/b', '-name', '*.iso', '-type', 'f', '-size', '+1M'])).toEqual({ paths: ['/a', '/b'], tests: { name: '*.iso', type: 'f', size: '+1M' } });
    for (const bad of [['-name', 'x'], ['/a', '-type', 'x'], ['/a', '-size', '1q'], ['/a', '-newer', 'x'], ['/a', '-name'], ['/a', '-type', 'd', '/b']]) {
      expect(() => parseFindArgs(bad), bad.join(' ')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }) as Error);
    }
  });

  it('matches every test given', () => {
    const p = findPredicate({ name: '*.iso', type: 'f', size: '+1k' });
    expect(p({ name: 'a.iso', type: 'file', size: 2000 })).toBe(true);
    expect(p({ name: 'a.iso', type: 'file', size: 1000 })).toBe(false);
    expect(p({ name: 'a.img', type: 'file', size: 2000 })).toBe(false);
    expect(p({ name: 'a.iso', type: 'dir', size: 0 })).toBe(false);
    expect(findPredicate({ type: 'd' })({ name: 'x', type: 'dir', size: 0 })).toBe(true);
    expect(findPredicate({})({ name: 'x', type: 'file', size: 0 })).toBe(true);
  });
});

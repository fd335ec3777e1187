/**
 * The page arithmetic behind splitInline (src/meta/namespace-keys.ts), checked against the LMDB
 * that lmdb-js ships: a value of k × LMDB_PAGE_BYTES − LMDB_OVERFLOW_HEADER_BYTES bytes fills
 * exactly k overflow pages, one byte more takes k + 1. If an lmdb upgrade changes the header,
 * inline files still read and write correctly, but their heads would waste a page: this fails first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { LMDB_OVERFLOW_HEADER_BYTES, LMDB_PAGE_BYTES, inlineHeadKey, splitInline } from '../../../src/meta/namespace-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'cairn-lmdb-overflow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('LMDB overflow pages', () => {
  it('a split head fills whole overflow pages; one byte more needs another', async () => {
    const env = open({ path: join(dir, 'env'), maxDbs: 8 });
    try {
      expect(env.getStats()).toMatchObject({ pageSize: LMDB_PAGE_BYTES });
      const pagesOf = async (name: string, bytes: number): Promise<number> => {
        const db = env.openDB<Buffer, string>({ name, encoding: 'binary' });
        await db.batch(() => {
          for (let i = 0; i < 10; i++) db.put(inlineHeadKey(i + 2), Buffer.alloc(bytes, i));
        });
        return (db.getStats() as { overflowPages: number }).overflowPages / 10;
      };
      for (const [size, pages] of [
        [4096, 1],
        [8192, 2],
        [65536, 16],
      ] as const) {
        const head = splitInline(size);
        expect(head).toBe(pages * LMDB_PAGE_BYTES - LMDB_OVERFLOW_HEADER_BYTES);
        expect(await pagesOf(`h${size}`, head)).toBe(pages);
        expect(await pagesOf(`o${size}`, head + 1)).toBe(pages + 1);
      }
    } finally {
      await env.close();
    }
  });
});

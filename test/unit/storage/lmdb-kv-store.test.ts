import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbKvStore } from '../../../src/storage/lmdb-kv-store.js';
import { kvStoreContract } from './kv-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'cairn-kv-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('LmdbKvStore', () => {
  kvStoreContract(() => LmdbKvStore.open(join(root, `s${++n}`)));

  it('keeps state and applied index across a reopen', async () => {
    const dir = join(root, 'reopen');
    const a = await LmdbKvStore.open(dir);
    await a.applyBatch(9, (t) => t.put('x', Uint8Array.from([1, 2, 3])));
    await a.close();
    const b = await LmdbKvStore.open(dir);
    expect(b.appliedIndex()).toBe(9);
    expect(Array.from(b.get('x')!)).toEqual([1, 2, 3]);
    await b.close();
  });
});

/** One contract for the key-value state stores (LMDB and its in-memory twin). */
import { expect, it } from 'vitest';

export interface KvStoreUnderTest {
  appliedIndex(): number;
  applyBatch(index: number, fn: (txn: { get(k: string): Uint8Array | undefined; put(k: string, v: Uint8Array): void; del(k: string): void }) => void): Promise<void>;
  get(key: string): Uint8Array | undefined;
  exportImage(): Promise<Uint8Array>;
  importImage(image: Uint8Array, index: number): Promise<void>;
  close(): Promise<void>;
}

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array | undefined) => (u ? new TextDecoder().decode(u) : undefined);

export function kvStoreContract(make: () => Promise<KvStoreUnderTest>): void {
  it('applies a batch and its index together, reading its own writes', async () => {
    const st = await make();
    expect(st.appliedIndex()).toBe(0);
    await st.applyBatch(3, (t) => {
      t.put('a', b('1'));
      expect(s(t.get('a'))).toBe('1');
      t.put('b', b('2'));
      t.del('b');
    });
    expect(st.appliedIndex()).toBe(3);
    expect(s(st.get('a'))).toBe('1');
    expect(st.get('b')).toBeUndefined();
    await st.close();
  });

  it('refuses to apply at or below the applied index', async () => {
    const st = await make();
    await st.applyBatch(5, (t) => t.put('a', b('1')));
    await expect(st.applyBatch(5, (t) => t.put('a', b('2')))).rejects.toThrow(/already applied/);
    expect(s(st.get('a'))).toBe('1');
    await st.close();
  });

  it('exports a consistent image and imports it elsewhere byte-exact', async () => {
    const st = await make();
    await st.applyBatch(7, (t) => {
      for (let i = 0; i < 100; i++) t.put(`k${i}`, Uint8Array.from([i, 0, 255]));
    });
    const image = await st.exportImage();
    const other = await make();
    await other.applyBatch(2, (t) => t.put('stale', b('x')));
    await other.importImage(image, 7);
    expect(other.appliedIndex()).toBe(7);
    expect(other.get('stale')).toBeUndefined();
    for (let i = 0; i < 100; i++) expect(Array.from(other.get(`k${i}`)!)).toEqual([i, 0, 255]);
    await st.close();
    await other.close();
  });
}

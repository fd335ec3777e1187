/** One contract for the key-value state stores (LMDB and its in-memory twin). */
import { expect, it } from 'vitest';

export interface KvStoreUnderTest {
  appliedIndex(): number;
  applyBatch(index: number, fn: (txn: { get(k: string): Uint8Array | undefined; put(k: string, v: Uint8Array): void; del(k: string): void }) => void): Promise<void>;
  get(key: string): Uint8Array | undefined;
  exportImage(): Promise<Uint8Array>;
  importImage(image: Uint8Array, index: number): Promise<void>;
  readSnapshot(): Promise<Iterable<[string, Uint8Array]> & { applied: number; close(): void }>;
  beginStaging(): { put(pairs: Iterable<[string, Uint8Array]>): Promise<void>; finish(index: number): Promise<void>; abort(): Promise<void> };
  stagedIndex(): number;
  installStaged(index: number): Promise<void>;
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

  it('stages a received image out of sight and installs it atomically with its index', async () => {
    const st = await make();
    await st.applyBatch(4, (t) => {
      t.put('old', b('o'));
      t.put('k1', b('live'));
    });
    const w = st.beginStaging();
    await w.put([['k1', b('new')], ['k2', b('2')]]);
    await w.put([['k3', b('3')]]);
    // Staging is invisible until installed.
    expect(s(st.get('k1'))).toBe('live');
    expect(st.get('k2')).toBeUndefined();
    expect(st.stagedIndex()).toBe(0);
    await w.finish(9);
    expect(st.stagedIndex()).toBe(9);
    expect(st.appliedIndex()).toBe(4);
    await expect(st.installStaged(8)).rejects.toThrow(/no staged image at 8/);
    await st.installStaged(9);
    expect(st.appliedIndex()).toBe(9);
    expect(st.stagedIndex()).toBe(0);
    expect(s(st.get('k1'))).toBe('new');
    expect(st.get('old')).toBeUndefined();
    const view = await st.readSnapshot();
    expect(view.applied).toBe(9);
    expect([...view].map(([k, v]) => `${k}=${s(v)}`)).toEqual(['k1=new', 'k2=2', 'k3=3']);
    view.close();
    // Applying continues on the installed state.
    await st.applyBatch(10, (t) => t.put('k4', b('4')));
    expect(s(st.get('k4'))).toBe('4');
    await st.close();
  });

  it('a newer staging supersedes an older one, and an aborted one leaves nothing staged', async () => {
    const st = await make();
    const a = st.beginStaging();
    await a.put([['x', b('from-a')]]);
    const c = st.beginStaging();
    await expect(a.put([['y', b('late')]])).rejects.toThrow(/superseded/);
    await expect(a.finish(5)).rejects.toThrow(/superseded/);
    await a.abort(); // no-op: c is current
    await c.put([['z', b('from-c')]]);
    await c.finish(6);
    await st.installStaged(6);
    expect(st.get('x')).toBeUndefined();
    expect(st.get('y')).toBeUndefined();
    expect(s(st.get('z'))).toBe('from-c');
    const d = st.beginStaging();
    await d.put([['q', b('1')]]);
    await d.abort();
    expect(st.stagedIndex()).toBe(0);
    await expect(st.installStaged(7)).rejects.toThrow(/no staged image/);
    expect(st.appliedIndex()).toBe(6);
    await st.close();
  });
}

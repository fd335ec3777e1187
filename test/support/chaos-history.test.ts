/**
 * The chaos run's checker can fail: a lost acknowledged write, bytes that are no version, a
 * version never written to that path, and a stale read are each reported.
 */
import { describe, expect, it } from 'vitest';
import { ChaosHistory, parseVersion, versionBytes } from './chaos-history.js';

const P = '/chaos/p0';

function history(): ChaosHistory {
  const h = new ChaosHistory([P]);
  h.writing(P, 'a;');
  h.add({ clientId: 'w0', op: 'put', input: { key: P, value: 'a;' }, output: {}, callTime: 0, returnTime: 10 });
  h.writing(P, 'b;');
  h.add({ clientId: 'w1', op: 'put', input: { key: P, value: 'b;' }, output: {}, callTime: 20, returnTime: 30 });
  return h;
}

describe('chaos history', () => {
  it('versions round-trip byte for byte; any changed byte or length is no version', () => {
    const b = versionBytes('s1.w0.3;', 70_000);
    expect(parseVersion(b)).toBe('s1.w0.3;');
    const flipped = Buffer.from(b);
    flipped[50_000] = flipped[50_000]! ^ 1;
    expect(parseVersion(flipped)).toBeNull();
    expect(parseVersion(b.subarray(0, b.length - 1))).toBeNull();
  });

  it('a correct history passes', () => {
    const h = history();
    expect(h.readBytes(P, versionBytes('b;', 10))).toBe('b;');
    h.add({ clientId: 'w2', op: 'get', input: { key: P }, output: { value: 'b;' }, callTime: 40, returnTime: 50 });
    const f = h.figures(new Map([[P, 'b;']]));
    expect(f).toMatchObject({ lost: 0, corrupt: 0, neverWritten: 0, linearizable: true, acked: 3 });
  });

  it('an acknowledged write missing at the end is lost', () => {
    const f = history().figures(new Map([[P, 'a;']]));
    expect(f.lost).toBe(1);
    expect(f.detail).toMatch(/final a;/);
  });

  it('corrupt bytes and versions never written to the path are counted', () => {
    const h = history();
    const bad = versionBytes('b;', 100);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    expect(h.readBytes(P, bad)).toBeNull();
    expect(h.readBytes(P, versionBytes('zz;', 5))).toBeNull();
    const f = h.figures(new Map([[P, 'b;']]));
    expect(f).toMatchObject({ corrupt: 1, neverWritten: 1 });
  });

  it('a read of an overwritten version after the overwrite finished is not linearizable', () => {
    const h = history();
    h.add({ clientId: 'w2', op: 'get', input: { key: P }, output: { value: 'a;' }, callTime: 40, returnTime: 50 });
    expect(h.figures(new Map([[P, 'b;']])).linearizable).toBe(false);
  });
});

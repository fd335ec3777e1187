import { describe, expect, it } from 'vitest';
import { applyKvCommand, decodeKvCommand, encodeKvCommand, readKv, type KvTxn } from '../../support/kv-machine.js';
import { pack } from '../../../src/proto/msgpack.js';

function memTxn(): KvTxn & { map: Map<string, Uint8Array> } {
  const map = new Map<string, Uint8Array>();
  return { map, get: (k) => map.get(k), put: (k, v) => void map.set(k, v), del: (k) => void map.delete(k) };
}
const b = (s: string) => new TextEncoder().encode(s);

describe('kv machine', () => {
  it('applies puts and deletes and returns the previous value', () => {
    const t = memTxn();
    expect(applyKvCommand(t, { op: 'put', client: 'a', seq: 1, key: 'k', value: b('1') })).toEqual({ ok: true, prev: null });
    expect(applyKvCommand(t, { op: 'put', client: 'a', seq: 2, key: 'k', value: b('2') })).toEqual({ ok: true, prev: b('1') });
    expect(readKv(t, 'k')).toEqual(b('2'));
    applyKvCommand(t, { op: 'del', client: 'a', seq: 3, key: 'k' });
    expect(readKv(t, 'k')).toBeNull();
  });

  it('returns the first outcome for a retried request instead of applying it twice', () => {
    const t = memTxn();
    applyKvCommand(t, { op: 'put', client: 'a', seq: 1, key: 'k', value: b('x') });
    applyKvCommand(t, { op: 'put', client: 'b', seq: 1, key: 'k', value: b('y') });
    // a's retry of seq 1 must not overwrite b's later write
    expect(applyKvCommand(t, { op: 'put', client: 'a', seq: 1, key: 'k', value: b('x') })).toEqual({ ok: true, prev: null });
    expect(readKv(t, 'k')).toEqual(b('y'));
    applyKvCommand(t, { op: 'put', client: 'a', seq: 2, key: 'j', value: b('z') });
    expect(applyKvCommand(t, { op: 'put', client: 'a', seq: 1, key: 'k', value: b('x') })).toEqual({ ok: false, code: 'StaleRequest' });
    expect(readKv(t, 'k')).toEqual(b('y'));
  });

  it('round-trips commands and rejects malformed ones', () => {
    const cmd = { op: 'put' as const, client: 'c1', seq: 7, key: 'key', value: b('v') };
    expect(decodeKvCommand(encodeKvCommand(cmd))).toEqual(cmd);
    for (const bad of [pack(null), pack([1, '', 1, 'k', b('v')]), pack([1, 'c', 0, 'k', b('v')]), pack([1, 'c', 1, '', b('v')]),
      pack([1, 'c', 1, 'k', 'not-bytes']), pack([9, 'c', 1, 'k']), pack([1, 'c', 1.5, 'k', b('v')]), new Uint8Array([0xc1])]) {
      expect(() => decodeKvCommand(bad)).toThrow(/kv command/);
    }
  });
});

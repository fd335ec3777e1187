import { describe, expect, it } from 'vitest';
import { parseAddrList, parseHostPort, parseNodeId, parsePeers } from '../../../src/proto/addr.js';

describe('addresses and ids', () => {
  it('parses peers in order', () => {
    const p = parsePeers('m1=127.0.0.1:7001, m2=127.0.0.1:7002,m3=localhost:7003');
    expect([...p.entries()]).toEqual([['m1', '127.0.0.1:7001'], ['m2', '127.0.0.1:7002'], ['m3', 'localhost:7003']]);
    expect(parseHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseAddrList('127.0.0.1:1,127.0.0.1:1,127.0.0.1:2')).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
  });

  it('refuses malformed input with a clear error', () => {
    for (const bad of ['', 'm1', 'm1=x', 'm1=h:0', 'm1=h:70000', 'm1=h:1,m1=h:2', 'm1=h:1,m2=h:1', '=h:1', 'a b=h:1']) {
      expect(() => parsePeers(bad), bad).toThrow(/peer|port|address|node id|no peers/);
    }
    expect(() => parseNodeId('../x')).toThrow(/node id/);
    expect(() => parseNodeId('x'.repeat(33))).toThrow(/node id/);
    expect(parseHostPort('127.0.0.1:0', true).port).toBe(0);
  });
});

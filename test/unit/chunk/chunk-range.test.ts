import { describe, expect, it } from 'vitest';
import { parsePipeline } from '../../../src/chunk/chunk-client.js';
import { parseRange } from '../../../src/chunk/chunk-http-server.js';

describe('parseRange', () => {
  it('parses the three single-range forms against the size', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 10 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange('bytes=50-1000', 100)).toEqual({ start: 50, end: 100 });
    expect(parseRange('bytes=99-99', 100)).toEqual({ start: 99, end: 100 });
  });
  it('unsatisfiable ranges are 416', () => {
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=100-200', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=-5', 0)).toBe('unsatisfiable');
  });
  it('absent, other-unit, multi-range and malformed headers serve the whole chunk', () => {
    for (const h of [undefined, 'items=0-1', 'bytes=0-1,5-6', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'bytes=99999999999999999-']) expect(parseRange(h, 100)).toBeNull();
  });
});

describe('parsePipeline', () => {
  it('parses addr token pairs and refuses malformed or oversized lists', () => {
    expect(parsePipeline(undefined, 8)).toEqual([]);
    expect(parsePipeline('127.0.0.1:7001 abc_-9, localhost:7002 xyz', 8)).toEqual([
      { addr: '127.0.0.1:7001', token: 'abc_-9' },
      { addr: 'localhost:7002', token: 'xyz' },
    ]);
    for (const bad of ['127.0.0.1 abc', '127.0.0.1:7001', '127.0.0.1:7001 a b', '/etc/passwd:1 t', '127.0.0.1:99999 t', 'h:1 t,,h:2 t']) {
      expect(() => parsePipeline(bad, 8)).toThrow();
    }
    expect(() => parsePipeline('h:1 t, h:2 t, h:3 t', 2)).toThrow(/at most 2/);
  });
});

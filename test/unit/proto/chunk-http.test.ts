import { describe, expect, it } from 'vitest';
import { H_ERROR, codeOfStatus, errorHead, formatPipeline, parsePipeline, statusOfCode, wireErrorOf } from '../../../src/proto/chunk-http.js';
import { ERROR_CODES, type ErrorCode } from '../../../src/util/errors.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** What a chunk server sends for `code`, as the client receives it (header names lower-cased by Node). */
function answer(code: ErrorCode): { status: number; header: string | undefined; body: unknown } {
  const { status, headers } = errorHead(code);
  return { status, header: headers[H_ERROR], body: JSON.parse(JSON.stringify({ error: { code, message: `m-${code}` } })) as unknown };
}

describe('chunk HTTP error codes', () => {
  it('every code travels with its own status and comes back exactly, with header and body', () => {
    for (const code of CODES) {
      const a = answer(code);
      expect(a.status, code).toBe(ERROR_CODES[code].status);
      expect(statusOfCode(code), code).toBe(ERROR_CODES[code].status);
      expect(wireErrorOf(a.status, a.header, a.body), code).toEqual({ code, message: `m-${code}` });
    }
  });

  it('every code comes back from the header alone (a HEAD answer has no body)', () => {
    for (const code of CODES) {
      const a = answer(code);
      expect(wireErrorOf(a.status, a.header, undefined).code, code).toBe(code);
    }
  });

  it('every code comes back from the body alone (a server from before the header)', () => {
    for (const code of CODES) {
      const a = answer(code);
      expect(wireErrorOf(a.status, undefined, a.body), code).toEqual({ code, message: `m-${code}` });
    }
  });

  it('the header wins over a different body code; unknown codes are ignored', () => {
    expect(wireErrorOf(503, 'Timeout', { error: { code: 'Unavailable', message: 'x' } }).code).toBe('Timeout');
    expect(wireErrorOf(503, 'NoSuchCode', { error: { code: 'Timeout' } })).toEqual({ code: 'Timeout', message: 'Timeout' });
    expect(wireErrorOf(503, 'toString', { error: { code: 'constructor' } }).code).toBe('Unavailable');
    expect(wireErrorOf(404, ['NotFound', 'NotFound'], {}).code).toBe('NotFound');
  });

  it('falls back to the status only when no code came, and never to a code that claims more', () => {
    expect(wireErrorOf(503, undefined, undefined)).toEqual({ code: 'Unavailable', message: 'HTTP 503' });
    expect(wireErrorOf(503, undefined, { error: 'busy' }).code).toBe('Unavailable');
    expect(codeOfStatus(503)).toBe('Unavailable'); // not NotLeader: chunk servers have no leader
    expect(codeOfStatus(409)).toBe('ProtocolError'); // not AlreadyExists: a bare 409 is not a chunk-server answer
    expect(codeOfStatus(500)).toBe('Internal'); // not Corrupt: that would report the replica as damaged
    expect(codeOfStatus(400)).toBe('InvalidArgument');
    expect(codeOfStatus(401)).toBe('Unauthorized');
    expect(codeOfStatus(404)).toBe('NotFound');
    expect(codeOfStatus(405)).toBe('MethodNotAllowed');
    expect(codeOfStatus(408)).toBe('Timeout');
    expect(codeOfStatus(412)).toBe('PreconditionFailed');
    expect(codeOfStatus(413)).toBe('TooLarge');
    expect(codeOfStatus(414)).toBe('TooLarge');
    expect(codeOfStatus(416)).toBe('RangeNotSatisfiable');
    expect(codeOfStatus(431)).toBe('TooLarge');
    expect(codeOfStatus(507)).toBe('NoSpace');
    expect(codeOfStatus(502)).toBe('Unavailable');
    expect(codeOfStatus(599)).toBe('Unavailable');
    expect(codeOfStatus(418)).toBe('ProtocolError');
    expect(codeOfStatus(302)).toBe('ProtocolError');
  });

  it('a status shared by several codes falls back to the most generic of them', () => {
    // Every fallback is a code with that very status, except where no code of the status is safe (409).
    for (const status of new Set(CODES.map((c) => ERROR_CODES[c].status))) {
      const code = codeOfStatus(status);
      if (status !== 409) expect(ERROR_CODES[code].status, String(status)).toBe(status);
    }
  });
});

describe('pipeline header', () => {
  it('round-trips a list of targets', () => {
    const targets = [
      { addr: '127.0.0.1:7001', token: 'abc_-9' },
      { addr: '[::1]:7002', token: 'xyz' },
    ];
    expect(parsePipeline(formatPipeline(targets), 8)).toEqual(targets);
    expect(formatPipeline([])).toBe('');
    expect(parsePipeline('', 8)).toEqual([]);
  });

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

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError, ERROR_CODES, isCairnError, isRetryable, type ErrorCode } from '../../../src/util/errors.js';

describe('error catalogue', () => {
  it('docs/errors.md lists exactly the codes of ERROR_CODES, each with its HTTP status and retry flag', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(\w+)` \| (\d+) \| (yes|no) \| /gm)].map((m) => ({ code: m[1]!, status: Number(m[2]), retryable: m[3] === 'yes' }));
    // Every table row starting with a code must parse (a row in another shape is a doc error).
    expect(rows.length).toBe([...doc.matchAll(/^\| `\w+` \|/gm)].length);
    expect(rows.map((r) => r.code).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const r of rows) {
      const entry = ERROR_CODES[r.code as ErrorCode];
      expect({ code: r.code, status: r.status, retryable: r.retryable }).toEqual({ code: r.code, status: entry.status, retryable: entry.retryable });
    }
  });

  it('isRetryable follows the table: the codes that say "not now" (leader, overload, time), nothing else', () => {
    const retryable = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => isRetryable(c)).sort();
    expect(retryable).toEqual(['NotLeader', 'ProposalDropped', 'StaleRing', 'Timeout', 'Unavailable']);
  });

  it('carries code, status and exposure', () => {
    const e = new CairnError('NotFound', 'no such file: /a');
    expect(e.code).toBe('NotFound');
    expect(e.status).toBe(404);
    expect(e.expose).toBe(true);
    expect(isCairnError(e, 'NotFound')).toBe(true);
    expect(isCairnError(e, 'AlreadyExists')).toBe(false);
    expect(new CairnError('Internal').expose).toBe(false);
    expect(new CairnError('Corrupt').expose).toBe(false);
    // Out of space is a 507 whose message the caller needs (which servers, how much).
    expect(new CairnError('NoSpace', 'no live chunk server outside c1').expose).toBe(true);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError, ERROR_CODES, isCairnError } from '../../../src/util/errors.js';

describe('error catalogue', () => {
  it('documents every code in docs/errors.md with its HTTP status', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`));
    }
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

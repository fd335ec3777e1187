/** The S3 credentials file: its format, and reloading on change (injected clock and file). */
import { describe, expect, it } from 'vitest';
import { parseS3Credentials, S3Credentials } from '../../../src/api/s3-credentials.js';
import { silentLogger } from '../../../src/util/logger.js';

const SECRET = 'abcdefghijklmnop';

function fakeFile(text: string) {
  const f = { text, version: 1, reads: 0 };
  return { f, source: { identity: () => String(f.version), read: () => (f.reads++, f.text) } };
}

describe('S3 credentials', () => {
  it('parse: id:secret lines, comments and blanks; malformed lines named; an empty file has no keys', () => {
    expect(parseS3Credentials(`# keys\n\nAKIA1:${SECRET}\n  AKIA2:${SECRET}x  \n`, 'f')).toEqual(new Map([['AKIA1', SECRET], ['AKIA2', `${SECRET}x`]]));
    expect(parseS3Credentials('# none\n', 'f').size).toBe(0);
    for (const bad of ['AKIA1', `:${SECRET}`, 'AKIA1:short', `A-K:${SECRET}`, `AKIA1:${SECRET} x`]) expect(() => parseS3Credentials(`${bad}\n`, 'f')).toThrow(/f line 1/);
  });

  it('refuses to start on a file without keys or unreadable', () => {
    const clock = { nowMs: () => 0 };
    expect(() => new S3Credentials({ source: fakeFile('# none').source, clock, logger: silentLogger }, { path: 'f' })).toThrow(/no S3 credentials/);
    const broken = { identity: () => { throw new Error('ENOENT'); }, read: () => '' };
    expect(() => new S3Credentials({ source: broken, clock, logger: silentLogger }, { path: 'f' })).toThrow(/cannot read S3 credentials file f: ENOENT/);
  });

  it('re-reads the file when it changed, at most once per interval; a malformed version keeps the keys in force; an empty one revokes all', () => {
    let now = 0;
    const { f, source } = fakeFile(`OLD1:${SECRET}\n`);
    const creds = new S3Credentials({ source, clock: { nowMs: () => now }, logger: silentLogger }, { path: 'f', checkIntervalMs: 1000 });
    expect(creds.get('OLD1')).toBe(SECRET);
    f.text = `NEW1:${SECRET}\n`;
    f.version++;
    now = 999;
    expect(creds.get('NEW1')).toBeUndefined(); // not looked at yet
    now = 1000;
    expect(creds.get('NEW1')).toBe(SECRET);
    expect(creds.get('OLD1')).toBeUndefined();
    const reads = f.reads;
    now = 5000;
    expect(creds.ids()).toEqual(['NEW1']);
    expect(f.reads).toBe(reads); // unchanged: not read again
    f.text = 'garbage\n';
    f.version++;
    now = 6000;
    expect(creds.get('NEW1')).toBe(SECRET);
    f.text = '# all revoked\n';
    f.version++;
    now = 7000;
    expect(creds.get('NEW1')).toBeUndefined();
  });
});

/**
 * The crash model itself (test/support/crash-fs.ts): what a power cut keeps must not depend on
 * which inode numbers the real file system hands out.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CrashFs } from '../../support/crash-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('CrashFs', () => {
  it('brings back an older file whose unlink was never synced, even when a new file took its inode number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-crashfs-'));
    dirs.push(dir);
    const old = Buffer.alloc(3000, 7);
    writeFileSync(join(dir, 'old'), old);
    const oldIno = statSync(join(dir, 'old')).ino;
    const fs = new CrashFs();
    await fs.unlink(join(dir, 'old'));
    // New files, written and synced (their names not): the file system tends to hand the freed
    // inode number to one of them.
    let reused = false;
    for (let i = 0; i < 20; i++) {
      const fh = await fs.open(join(dir, `new${i}`), 'wx');
      reused ||= (await fh.stat()).ino === oldIno;
      await fh.writev([Buffer.alloc(100, i)]);
      await fh.datasync();
      await fh.close();
    }
    await fs.crash();
    // The unlink never reached the disk: the old name holds the old bytes; the new names are gone.
    expect(readFileSync(join(dir, 'old')).equals(old), `old file's bytes (its inode number reused: ${reused})`).toBe(true);
    for (let i = 0; i < 20; i++) expect(() => statSync(join(dir, `new${i}`))).toThrow();
  });
});

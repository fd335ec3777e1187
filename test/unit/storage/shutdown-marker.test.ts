/** The clean-shutdown marker: absent → null; written → read back once, and gone from the disk. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SHUTDOWN_MARKER_FILE, takeShutdownMarker, writeShutdownMarker } from '../../../src/storage/shutdown-marker.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const temp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cairn-marker-'));
  dirs.push(d);
  return d;
};

describe('shutdown marker', () => {
  it('is null when absent (a crash, or the first start)', async () => {
    expect(await takeShutdownMarker(temp())).toBeNull();
  });

  it('is read back once after a write, and removed by the take', async () => {
    const dir = temp();
    await writeShutdownMarker(dir, { scrub: { prefix: 3, nextPassAtWallMs: 12 } });
    expect(existsSync(join(dir, SHUTDOWN_MARKER_FILE))).toBe(true);
    expect(existsSync(join(dir, `${SHUTDOWN_MARKER_FILE}.tmp`))).toBe(false);
    expect(await takeShutdownMarker(dir)).toEqual({ scrub: { prefix: 3, nextPassAtWallMs: 12 } });
    expect(existsSync(join(dir, SHUTDOWN_MARKER_FILE))).toBe(false);
    expect(await takeShutdownMarker(dir)).toBeNull();
  });

  it('counts an unreadable marker as none, and still removes it', async () => {
    const dir = temp();
    writeFileSync(join(dir, SHUTDOWN_MARKER_FILE), '{torn');
    expect(await takeShutdownMarker(dir)).toBeNull();
    expect(existsSync(join(dir, SHUTDOWN_MARKER_FILE))).toBe(false);
  });
});

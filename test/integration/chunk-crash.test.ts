/**
 * ChunkStore under kill -9: a child process (the compiled store in dist/) writes chunks in a loop
 * and is killed mid-write; the reopened store must hold every acknowledged chunk byte-exact, no
 * partial replica under its final name, and no temp file.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, openStore, tempDir } from '../unit/chunk/helpers.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'chunk-crash-child.mjs');
const BUILT = join(import.meta.dirname, '..', '..', 'dist', 'src', 'storage', 'chunk-store.js');
const { dir: root, cleanup } = tempDir('chunk-crash');
afterAll(() => cleanup());

const idOf = (n: number): string => n.toString(16).padStart(32, '0');
function dataOf(n: number): Buffer {
  const size = [0, 1, 65535, 65536, 65537, 1_000_000, 3_000_000][n % 7]!;
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + n) & 0xff;
  return b;
}

/** Kills the child when chunk `at` is half streamed ('half': the child holds it there), or 3 ms after its write began ('any': any stage). */
function runChild(dir: string, at: number, mode: 'half' | 'any'): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, '1000', mode === 'half' ? String(at) : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (killed) return;
      if (mode === 'half' && out.includes(`half ${at}\n`)) {
        killed = true;
        child.kill('SIGKILL');
      } else if (mode === 'any' && out.includes(`intent ${at}\n`)) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), 3);
      }
    });
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended without being killed: ${stderr}`));
      const complete = out.slice(0, out.lastIndexOf('\n') + 1);
      resolve(complete.split('\n').filter((l) => l.length > 0));
    });
  });
}

describe('ChunkStore under kill -9', () => {
  it('keeps acknowledged chunks, never exposes a partial one, and cleans temp files at open', async () => {
    expect(existsSync(BUILT), `${BUILT} is missing: run \`npm run build\` (npm test does) before this test`).toBe(true);
    const dir = join(root, 'store');
    const acked = new Set<number>();
    let leftovers = 0;
    // Chunks 6, 13, 20 are 3 MB (killed mid-stream); 10 is killed at whatever stage 3 ms finds it.
    for (const [at, mode] of [[6, 'half'], [10, 'any'], [13, 'half'], [20, 'half']] as const) {
      const lines = await runChild(dir, at, mode);
      for (const l of lines) if (l.startsWith('acked ')) acked.add(Number(l.slice(6)));
      if (existsSync(join(dir, 'tmp'))) leftovers += readdirSync(join(dir, 'tmp')).length;
      const store = await openStore(dir);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
      const present: string[] = [];
      for await (const id of store.list()) present.push(id);
      for (const n of acked) expect(present).toContain(idOf(n));
      // Everything under a final name is complete and verifies, acked or not (the in-flight one may be either).
      for (const id of present) {
        const n = Number.parseInt(id, 16);
        expect(await store.verify(id)).toMatchObject({ ok: true });
        expect((await collect((await store.read(id)).stream)).equals(dataOf(n)), id).toBe(true);
      }
    }
    expect(acked.size).toBeGreaterThanOrEqual(19);
    expect(leftovers, 'kills mid-stream must have left temp files to clean').toBeGreaterThanOrEqual(3);
  });
});

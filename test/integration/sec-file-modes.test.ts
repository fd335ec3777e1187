/**
 * Security probe 8 (issue 17): chunk replicas, LMDB files and logs were 0644 in 0755
 * directories. After `cairn dev` starts and a file is put, everything under ./.cairn — data
 * directories, replicas, LMDB files, logs, the secrets and cluster.json (which holds the client
 * token) — is private to the user: directories 0700, files 0600.
 */
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { assertBuilt, ok, patternBytes, runCli, runDev, type RunningDev } from './cli-harness.js';

/** Every entry under `root` (itself included) with its permission bits. */
function modesUnder(root: string): Array<{ path: string; kind: 'dir' | 'file'; mode: number }> {
  const out: Array<{ path: string; kind: 'dir' | 'file'; mode: number }> = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    out.push({ path: relative(root, p) || '.', kind: st.isDirectory() ? 'dir' : 'file', mode: st.mode & 0o777 });
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(root);
  return out;
}

describe('file modes of a cairn dev cluster', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-sec-modes-'));
  const dataDir = join(cwd, '.cairn');
  let dev: RunningDev | null = null;

  beforeAll(() => assertBuilt());

  afterAll(async () => {
    await dev?.stop();
    rmSync(cwd, { recursive: true, force: true });
  }, 30_000);

  it('are 0700 for every directory and 0600 for every file after start and a put', async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    dev = await runDev(cwd, ['--port-base', String(portBase), '--chunk-size', '65536']);
    ok(await runCli(['put', '-', '/modes/a.bin'], { cwd, input: patternBytes(3 * 65536 + 5, 8) }));

    const entries = modesUnder(dataDir);
    const names = entries.map((e) => e.path);
    // The probe's kinds of files are all there.
    for (const want of [/^cluster\.json$/, /^cluster\.secret$/, /^client\.token$/, /^logs\/m1\.log$/, /^meta\/m1\/raft\/data\.mdb$/, /^meta\/m1\/state\/data\.mdb$/, /^chunks\/c\d+\/chunks\/[0-9a-f]{2}\/[0-9a-f]{32}$/]) {
      expect(names.some((n) => want.test(n)), String(want)).toBe(true);
    }
    const loose = entries.filter((e) => e.mode !== (e.kind === 'dir' ? 0o700 : 0o600)).map((e) => `${e.path} ${e.mode.toString(8)}`);
    expect(loose).toEqual([]);
  }, 90_000);
});

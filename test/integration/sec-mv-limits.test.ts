/**
 * Security probe 3 (issue 17), against real processes: moving a 200-deep tree into a 200-deep
 * directory built paths no client could name (10,001 deep after 50 rounds) and `ls -R` failed
 * on them. The metadata leader now refuses such a move with InvalidPath, leaves both trees as
 * they were, and `ls -R` (fs.walk pages) lists every entry of the trees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetaSession } from '../../src/client/meta-session.js';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';
import { DevCluster } from '../../src/server/dev-cluster.js';
import { isCairnError } from '../../src/util/errors.js';

describe('mv of a deep directory into a deep directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-sec-mv-'));
  let cluster: DevCluster;
  let s: MetaSession;
  let seq = 0;
  const client = `t-${systemRng.int(1e9)}`;
  const sess = () => [client, ++seq, seq - 1];

  beforeAll(async () => {
    const portBase = await findFreePortRange(1000, (n) => systemRng.int(n));
    cluster = new DevCluster({ dir, portBase, meta: 3, chunks: 1, replicas: 1 });
    cluster.start();
    await cluster.waitReady(30_000);
    s = cluster.session({ callTimeoutMs: 3000, retryDeadlineMs: 15_000 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused with InvalidPath, changes nothing, and ls -R walks both trees', async () => {
    const a = '/a' + Array.from({ length: 200 }, (_, i) => `/x${i + 1}`).join('');
    const b = '/b' + Array.from({ length: 200 }, (_, i) => `/y${i + 1}`).join('');
    await s.call('fs.mkdir', { path: a, parents: true, s: sess() });
    await s.call('fs.mkdir', { path: b, parents: true, s: sess() });
    const err = await s.call('fs.mv', { from: '/a/x1', to: `${b}/x1`, s: sess() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isCairnError(err) && err.code).toBe('InvalidPath');
    expect(await s.call('fs.stat', { path: a }, { idempotent: true })).toMatchObject({ type: 'dir' });

    const paths: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await s.call('fs.walk', { path: '/', limit: 7, ...(cursor ? { cursor } : {}) }, { idempotent: true })) as { entries: Array<{ path: string }>; cursor: string | null };
      paths.push(...page.entries.map((e) => e.path));
      cursor = page.cursor;
    } while (cursor !== null);
    expect(paths).toHaveLength(402);
    expect(paths).toContain(a);
    expect(paths).toContain(b);
  }, 60_000);
});

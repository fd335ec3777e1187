/** The leader empties the trash a recursive delete left: purgeTrash proposals one after another, started by its tick. */
import { describe, expect, it } from 'vitest';
import { decodeMetaCommand } from '../../../src/meta/meta-command.js';
import { hasTrash, TREE_DELETE_ENTRIES } from '../../../src/meta/namespace-trash.js';
import { harness } from './helpers.js';

describe('TrashPurger', () => {
  it('after rm -r of a large tree, the tick proposes purges until the trash is empty', async () => {
    const h = harness();
    const files = Math.floor(3.5 * TREE_DELETE_ENTRIES);
    for (let i = 0; i < files; i++) await h.call('fs.commit', { path: `/d/s${i % 3}/f${i}`, size: 0, etag: 'e', chunks: [], parents: true, s: ['client-1', i + 1, i] });
    const purges: number[] = [];
    const propose = h.raft.propose.bind(h.raft);
    h.raft.propose = (data) => {
      const cmd = decodeMetaCommand(data);
      if (cmd.op === 'purgeTrash') purges.push(cmd.entries);
      return propose(data);
    };
    expect(await h.call('fs.rm', { path: '/d', recursive: true, s: ['client-1', files + 1, files] })).toEqual({});
    expect(hasTrash(h.raft.store)).toBe(true);
    h.leader.tick();
    for (let i = 0; i < 200 && hasTrash(h.raft.store); i++) await new Promise((r) => setImmediate(r));
    expect(hasTrash(h.raft.store)).toBe(false);
    // 3.5 × the bound of files and 4 directories: the delete took one bound, three purges the rest.
    expect(purges).toEqual([TREE_DELETE_ENTRIES, TREE_DELETE_ENTRIES, TREE_DELETE_ENTRIES]);
    expect([...h.raft.store.range('e/', 'e0')]).toEqual([]);
    h.leader.tick(); // nothing left: no proposal
    expect(purges).toHaveLength(3);
  });
});

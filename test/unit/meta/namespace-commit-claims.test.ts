/**
 * A client's commit claims only chunks no other file holds. The check used to be a read-only
 * pass of its own before commitFile (walk, dentry, each chunk's references), and is now part of
 * commitFile's walk. Replicas of both versions must decide every command alike, so this test
 * keeps the separate pass as the reference and checks, over random namespaces and commits
 * (missing parents, files in the path, overwrites, chunks held by other files or by the file
 * replaced, content with problems), that both give the same outcome, message included, and
 * leave the same state, byte for byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkRefs } from '../../../src/meta/chunk-refs.js';
import { applyMetaCommand } from '../../../src/meta/namespace-machine.js';
import { decodeDentry, dentryKey, ROOT_INODE, type MetaReadView } from '../../../src/meta/namespace-keys.js';
import { commitFile, type Fail, type FileContent } from '../../../src/meta/namespace.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

const ID = (n: number): string => n.toString(16).padStart(32, '0');

/** The separate pass as it was: the first chunk another file holds, or null (also when the path fails anyway). */
function separateClaimCheck(view: MetaReadView, segs: readonly string[], content: FileContent, overwrite: boolean, createParents: boolean): Fail | null {
  if (content.chunks.length === 0 || segs.length === 0) return null;
  let cur = ROOT_INODE;
  let type: 'dir' | 'file' = 'dir';
  let missing = false;
  for (let i = 0; i < segs.length - 1; i++) {
    if (type !== 'dir') return null; // NotADirectory: commitFile reports it
    const raw = view.get(dentryKey(cur, segs[i]!));
    if (!raw) {
      missing = true;
      break;
    }
    const d = decodeDentry(raw);
    cur = d.inode;
    type = d.type;
  }
  if (missing && !createParents) return null;
  if (!missing && type !== 'dir') return null;
  const raw = missing ? undefined : view.get(dentryKey(cur, segs[segs.length - 1]!));
  const existing = raw ? decodeDentry(raw) : undefined;
  if (existing?.type === 'dir' || (existing && !overwrite)) return null;
  for (const c of content.chunks) {
    const refs = chunkRefs(view, c.id);
    if (refs.length > 0 && (existing === undefined || !refs.includes(existing.inode))) return { ok: false, code: 'InvalidArgument', message: `chunk ${c.id} already belongs to another file` };
  }
  return null;
}

const NAMES = ['a', 'b', 'c'];
const segsArb = fc.array(fc.constantFrom(...NAMES), { minLength: 0, maxLength: 3 });
// The setup's paths are shorter, so that copies and overwrites meet the files made before them.
const shortSegsArb = fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 2 });
const rarely = fc.integer({ min: 0, max: 5 }).map((x) => x === 0);
const chunksArb = fc.array(fc.record({ id: fc.integer({ min: 1, max: 4 }), size: fc.constantFrom(0, 10, 10, 10) }), { maxLength: 3 });
const commitArb = fc.record({ segs: fc.oneof(shortSegsArb, segsArb), chunks: chunksArb, overwrite: fc.boolean(), parents: fc.boolean(), badEtag: rarely, badSize: rarely });
// Files that hold chunks, made mostly with their parents.
const setupCommitArb = fc.record({ segs: shortSegsArb, chunks: chunksArb, overwrite: fc.boolean(), parents: fc.constant(true), badEtag: fc.constant(false), badSize: fc.constant(false) });
// Server-side copies share their source's chunks: references of two or more files.
const copyArb = fc.record({ copy: fc.tuple(shortSegsArb, shortSegsArb) });
type SetupOp = { mkdir: string[] } | { copy: [string[], string[]] } | CommitOp;
const setupArb = fc.array(fc.oneof(fc.record({ mkdir: segsArb }), copyArb, setupCommitArb, setupCommitArb, fc.tuple(setupCommitArb, copyArb)), { maxLength: 10 }).map((ops) =>
  // A commit followed by a copy of that file: a chunk two files hold.
  ops.flatMap((op): SetupOp[] => (Array.isArray(op) ? [op[0], { copy: [op[0].segs, op[1].copy[1]] }] : [op])),
);

function content(c: Pick<CommitOp, 'chunks' | 'badEtag' | 'badSize'>): FileContent {
  const size = c.chunks.reduce((s, x) => s + x.size, 0) + (c.badSize ? 1 : 0);
  return { size, etag: c.badEtag ? '' : 'e', chunks: c.chunks.map((x) => ({ id: ID(x.id), size: x.size, crc: x.id })) };
}

type CommitOp = { segs: string[]; chunks: Array<{ id: number; size: number }>; overwrite: boolean; parents: boolean; badEtag: boolean; badSize: boolean };

/** A namespace made by the setup commands, through the real machine (sessions and all). */
async function build(setup: readonly SetupOp[]): Promise<MemoryKvStore> {
  const store = new MemoryKvStore();
  let seq = 0;
  for (const op of setup) {
    seq++;
    const session = { client: 'setup', seq, ackedBelow: seq };
    const cmd =
      'mkdir' in op
        ? ({ op: 'mkdir', session, nowMs: seq, path: `/${op.mkdir.join('/')}`, parents: true } as const)
        : 'copy' in op
          ? ({ op: 'copyFile', session, nowMs: seq, from: `/${op.copy[0].join('/')}`, to: `/${op.copy[1].join('/')}`, overwrite: true, createParents: true, inlineTotalBytesMax: 1000 } as const)
          : ({ op: 'commitFile', session, nowMs: seq, path: `/${op.segs.join('/')}`, file: content(op), overwrite: op.overwrite, createParents: op.parents } as const);
    await store.applyBatch(seq, (t) => applyMetaCommand(t, cmd));
  }
  return store;
}

const pairs = (s: MemoryKvStore): Array<[string, string]> => [...s.range()].map(([k, v]) => [k, Buffer.from(v).toString('hex')]);

/** The probe on two copies of the setup's namespace, by the separate pass and by commitFile's own check: both must agree. */
async function bothWays(setup: readonly SetupOp[], probe: CommitOp) {
  const [before, after] = [await build(setup), await build(setup)];
  const file = content(probe);
  const was = await before.applyBatch(1000, (t) => separateClaimCheck(t, probe.segs, file, probe.overwrite, probe.parents) ?? commitFile(t, probe.segs, file, probe.overwrite, probe.parents, 7));
  const now = await after.applyBatch(1000, (t) => commitFile(t, probe.segs, file, probe.overwrite, probe.parents, 7, undefined, true));
  expect(now).toEqual(was);
  expect(pairs(after)).toEqual(pairs(before));
  return { now, after };
}

describe('a commit claims only chunks no other file holds', () => {
  it('decides every commit as the separate check before commitFile did, and writes the same state', async () => {
    let refused = 0;
    let refusedOverProblem = 0;
    let committed = 0;
    await fc.assert(
      fc.asyncProperty(setupArb, commitArb, async (setup, probe) => {
        const { now } = await bothWays(setup, probe);
        if (!now.ok && now.message.includes('another file')) {
          refused++;
          if (probe.badEtag || probe.badSize || probe.chunks.some((c) => c.size === 0)) refusedOverProblem++;
        }
        if (now.ok) committed++;
      }),
      { numRuns: 3000, seed: 20261208 },
    );
    // The runs reached both ways out, not only path errors, and the refusal's rank over a problem of the content.
    expect(refused).toBeGreaterThan(50);
    expect(refusedOverProblem).toBeGreaterThan(10);
    expect(committed).toBeGreaterThan(50);
  });

  it('lets a rewrite keep a chunk it shares with a copy, and refuses that chunk to a third file, as before', async () => {
    const setup: SetupOp[] = [
      { segs: ['a'], chunks: [{ id: 1, size: 10 }], overwrite: false, parents: true, badEtag: false, badSize: false },
      { copy: [['a'], ['b']] },
    ];
    const probes: CommitOp[] = [
      { segs: ['a'], chunks: [{ id: 1, size: 10 }, { id: 2, size: 10 }], overwrite: true, parents: true, badEtag: false, badSize: false },
      { segs: ['b'], chunks: [{ id: 3, size: 10 }, { id: 1, size: 10 }], overwrite: true, parents: false, badEtag: false, badSize: false },
      { segs: ['c'], chunks: [{ id: 1, size: 10 }], overwrite: true, parents: true, badEtag: false, badSize: false },
    ];
    const outcomes: boolean[] = [];
    for (const probe of probes) {
      const { now, after } = await bothWays(setup, probe);
      outcomes.push(now.ok);
      if (now.ok) expect(chunkRefs(after, ID(1))).toHaveLength(2);
    }
    expect(outcomes).toEqual([true, true, false]);
  });
});

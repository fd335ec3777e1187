/**
 * Model-based tests of the namespace state machine: random sequences of mkdir (-p), commit
 * (overwrite or not, with or without parents), delete (recursive or not), rename of files and
 * directories (into itself, onto existing, across depths), retries, stat and paged list/walk,
 * run through the real command codec and MetaStateMachine (several commands per batch, so
 * commands read each other's staged writes) against a plain in-memory tree written from the
 * spec. Outcome codes, stats, full listings and the c/ chunk index must agree after every batch.
 * Thousands of sequences over the memory twin, a few hundred over real LMDB.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MetaStateMachine, type MetaStore } from '../../../src/consensus/meta-state-machine.js';
import { encodeMetaCommand, type MetaCommand } from '../../../src/meta/meta-command.js';
import type { ChunkRef } from '../../../src/meta/namespace-keys.js';
import { hasTrash, TREE_DELETE_ENTRIES } from '../../../src/meta/namespace-trash.js';
import { EntryType, type Entry } from '../../../src/raft/types.js';
import { LmdbStateStore } from '../../../src/storage/lmdb-state-store.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

// ---------------------------------------------------------------------------------------------
// The model: a tree of plain objects, semantics written from the spec (POSIX-like lookups).

type MFile = { type: 'file'; mtime: number; size: number; etag: string; chunks: ChunkRef[] };
type MDir = { type: 'dir'; mtime: number; children: Map<string, MNode> };
type MNode = MFile | MDir;
type Res = { ok: true } | { ok: false; code: string };

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

class Model {
  root: MDir = { type: 'dir', mtime: 0, children: new Map() };

  /** Walk segs[0..upTo) from the root: the node, or the error code of the lookup. */
  find(segs: string[], upTo = segs.length): MNode | string {
    let cur: MNode = this.root;
    for (let i = 0; i < upTo; i++) {
      if (cur.type !== 'dir') return 'NotADirectory';
      const next: MNode | undefined = cur.children.get(segs[i]!);
      if (!next) return 'NotFound';
      cur = next;
    }
    return cur;
  }

  parent(segs: string[]): MDir | string {
    const p = this.find(segs, segs.length - 1);
    if (typeof p === 'string') return p;
    return p.type === 'dir' ? p : 'NotADirectory';
  }

  chunkOwners(): Map<string, MFile> {
    const out = new Map<string, MFile>();
    const visit = (n: MNode) => {
      if (n.type === 'file') for (const c of n.chunks) out.set(c.id, n);
      else for (const c of n.children.values()) visit(c);
    };
    visit(this.root);
    return out;
  }

  mkdir(segs: string[], parents: boolean, now: number): Res {
    if (segs.length === 0) return parents ? { ok: true } : { ok: false, code: 'AlreadyExists' };
    let cur: MDir = this.root;
    for (let i = 0; i < segs.length; i++) {
      const last = i === segs.length - 1;
      const next = cur.children.get(segs[i]!);
      if (!next) {
        if (!last && !parents) return { ok: false, code: 'NotFound' };
        cur.mtime = now;
        for (let j = i; j < segs.length; j++) {
          const d: MDir = { type: 'dir', mtime: now, children: new Map() };
          cur.children.set(segs[j]!, d);
          cur = d;
        }
        return { ok: true };
      }
      if (next.type === 'file') return { ok: false, code: last ? 'AlreadyExists' : 'NotADirectory' };
      cur = next;
    }
    return parents ? { ok: true } : { ok: false, code: 'AlreadyExists' };
  }

  commit(segs: string[], f: Omit<MFile, 'type' | 'mtime'>, overwrite: boolean, createParents: boolean, now: number): Res {
    if (segs.length === 0) return { ok: false, code: 'IsADirectory' };
    let cur: MDir = this.root;
    let missing = -1;
    for (let i = 0; i < segs.length - 1; i++) {
      const next = cur.children.get(segs[i]!);
      if (!next) {
        if (!createParents) return { ok: false, code: 'NotFound' };
        missing = i;
        break;
      }
      if (next.type !== 'dir') return { ok: false, code: 'NotADirectory' };
      cur = next;
    }
    const name = segs[segs.length - 1]!;
    const existing = missing < 0 ? cur.children.get(name) : undefined;
    if (existing?.type === 'dir') return { ok: false, code: 'IsADirectory' };
    if (existing && !overwrite) return { ok: false, code: 'AlreadyExists' };
    const owners = this.chunkOwners();
    for (const c of f.chunks) {
      const o = owners.get(c.id);
      if (o && o !== existing) return { ok: false, code: 'InvalidArgument' };
    }
    const rec: MFile = { type: 'file', mtime: now, size: f.size, etag: f.etag, chunks: f.chunks };
    if (!existing) {
      cur.mtime = now;
      if (missing >= 0) {
        for (let j = missing; j < segs.length - 1; j++) {
          const d: MDir = { type: 'dir', mtime: now, children: new Map() };
          cur.children.set(segs[j]!, d);
          cur = d;
        }
      }
    }
    cur.children.set(name, rec);
    return { ok: true };
  }

  delete(segs: string[], recursive: boolean, now: number): Res {
    if (segs.length === 0) return { ok: false, code: 'InvalidArgument' };
    const p = this.parent(segs);
    if (typeof p === 'string') return { ok: false, code: p };
    const n = p.children.get(segs[segs.length - 1]!);
    if (!n) return { ok: false, code: 'NotFound' };
    if (n.type === 'dir' && !recursive && n.children.size > 0) return { ok: false, code: 'NotEmpty' };
    p.children.delete(segs[segs.length - 1]!);
    p.mtime = now;
    return { ok: true };
  }

  rename(from: string[], to: string[], now: number): Res {
    if (from.length === 0) return to.length === 0 ? { ok: true } : { ok: false, code: 'InvalidArgument' };
    const sp = this.parent(from);
    if (typeof sp === 'string') return { ok: false, code: sp };
    const n = sp.children.get(from[from.length - 1]!);
    if (!n) return { ok: false, code: 'NotFound' };
    const below = to.length >= from.length && from.every((s, i) => to[i] === s);
    if (below && to.length === from.length) return { ok: true };
    if (n.type === 'dir' && below) return { ok: false, code: 'InvalidArgument' };
    if (to.length === 0) return { ok: false, code: 'AlreadyExists' };
    const dp = this.parent(to);
    if (typeof dp === 'string') return { ok: false, code: dp };
    if (dp.children.has(to[to.length - 1]!)) return { ok: false, code: 'AlreadyExists' };
    sp.children.delete(from[from.length - 1]!);
    dp.children.set(to[to.length - 1]!, n);
    sp.mtime = now;
    dp.mtime = now;
    return { ok: true };
  }

  /** Pre-order listing of everything below `n` (as walk() pages it), absolute paths. */
  walk(n: MNode, prefix: string, out: Array<[string, string, number, number]>): void {
    if (n.type !== 'dir') return;
    for (const name of [...n.children.keys()].sort(byUtf8)) {
      const c = n.children.get(name)!;
      out.push([prefix + name, c.type, c.type === 'file' ? c.size : 0, c.mtime]);
      this.walk(c, `${prefix}${name}/`, out);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Operations and their generators. Few names and shallow paths, so collisions are frequent.

type Op =
  | { op: 'mkdir'; p: string[]; parents: boolean }
  | { op: 'commit'; p: string[]; nChunks: number; reuse: number; overwrite: boolean; createParents: boolean }
  | { op: 'delete'; p: string[]; recursive: boolean }
  | { op: 'rename'; from: string[]; to: string[] }
  | { op: 'retry' };

const NAMES = ['a', 'b', 'c', 'é', '😀'];
const segsArb = fc.array(fc.constantFrom(...NAMES), { minLength: 0, maxLength: 3 });
const nonRootArb = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mkdir' as const), p: segsArb, parents: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('commit' as const),
      p: segsArb,
      nChunks: fc.integer({ min: 0, max: 3 }),
      reuse: fc.integer({ min: -3, max: 3 }), // >= 0: reuse the reuse-th live chunk id (conflict or same-file reuse)
      overwrite: fc.boolean(),
      createParents: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), p: segsArb, recursive: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({ op: fc.constant('rename' as const), from: nonRootArb, to: segsArb }),
      // Into itself / below itself, and back up.
      nonRootArb.chain((from) =>
        fc.record({ op: fc.constant('rename' as const), from: fc.constant(from), to: fc.array(fc.constantFrom(...NAMES), { maxLength: 2 }).map((t) => [...from, ...t]) }),
      ),
      nonRootArb.chain((from) => fc.record({ op: fc.constant('rename' as const), from: fc.constant(from), to: fc.constant(from.slice(0, -1).concat(['z'])) })),
    ),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'retry' as const }) },
);
/** Batches of 1..4 commands, each batch one MetaStateMachine.apply (one store transaction). */
const scenarioArb = fc.array(fc.array(opArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 });

const path = (segs: string[]) => '/' + segs.join('/');
const hex32 = (n: number) => n.toString(16).padStart(32, '0');

// ---------------------------------------------------------------------------------------------

interface Store extends MetaStore {
  close(): Promise<void>;
}

async function runScenario(store: Store, batches: Op[][], pageSize: number): Promise<void> {
  const sm = new MetaStateMachine(store);
  const model = new Model();
  let index = 0;
  let seq = 0;
  let chunkSeq = 0;
  let last: { cmd: MetaCommand; result: Res } | null = null;
  for (const batch of batches) {
    const cmds: MetaCommand[] = [];
    const expected: Res[] = [];
    for (const o of batch) {
      const nowMs = (index + 1) * 1000 + cmds.length;
      const session = { client: 'model', seq: seq + 1, ackedBelow: seq + 1 };
      let cmd: MetaCommand;
      let want: Res;
      if (o.op === 'retry') {
        if (!last) continue;
        // A retry of the previous command: the first outcome, nothing applied again.
        cmd = last.cmd;
        want = last.result;
        cmds.push(cmd);
        expected.push(want);
        continue;
      }
      seq++;
      if (o.op === 'mkdir') {
        cmd = { op: 'mkdir', session, nowMs, path: path(o.p), parents: o.parents };
        want = model.mkdir(o.p, o.parents, nowMs);
      } else if (o.op === 'commit') {
        const chunks: ChunkRef[] = [];
        for (let i = 0; i < o.nChunks; i++) chunks.push({ id: hex32(++chunkSeq), size: 1 + ((chunkSeq * 7) % 5), crc: chunkSeq });
        const live = [...model.chunkOwners().keys()].sort();
        if (o.reuse >= 0 && live.length > 0) {
          const id = live[o.reuse % live.length]!;
          chunks.push({ id, size: 3, crc: 0 });
        }
        const file = { size: chunks.reduce((s, c) => s + c.size, 0), etag: `"e${seq}"`, chunks };
        cmd = { op: 'commitFile', session, nowMs, path: path(o.p), file, overwrite: o.overwrite, createParents: o.createParents };
        want = model.commit(o.p, file, o.overwrite, o.createParents, nowMs);
      } else if (o.op === 'delete') {
        cmd = { op: 'delete', session, nowMs, path: path(o.p), recursive: o.recursive };
        want = model.delete(o.p, o.recursive, nowMs);
      } else {
        cmd = { op: 'rename', session, nowMs, from: path(o.from), to: path(o.to) };
        want = model.rename(o.from, o.to, nowMs);
      }
      cmds.push(cmd);
      expected.push(want);
      last = { cmd, result: want };
    }
    if (cmds.length === 0) continue;
    const entries: Entry[] = cmds.map((c) => ({ term: 1, index: ++index, type: EntryType.Normal, data: encodeMetaCommand(c) }));
    const results = (await sm.apply(entries)) as Array<{ ok: boolean; code?: string }>;
    expect(results.map((r) => (r.ok ? 'ok' : r.code)), JSON.stringify(cmds.map((c) => [c.op, 'path' in c ? c.path : 'from' in c ? `${c.from}->${c.to}` : c.op]))).toEqual(
      expected.map((r) => (r.ok ? 'ok' : r.code)),
    );
    // What a recursive delete left in the trash holds its chunks until the leader's purges
    // (TrashPurger) come: purge as it would. A tree whose subdirectories are older than their
    // parents (a directory moved in) leaves some after the delete itself.
    for (let i = 0; i < 100 && hasTrash(store); i++) {
      await sm.apply([{ term: 1, index: ++index, type: EntryType.Normal, data: encodeMetaCommand({ op: 'purgeTrash', nowMs: (index + 1) * 1000, entries: TREE_DELETE_ENTRIES }) }]);
    }
    expect(hasTrash(store)).toBe(false);
    checkAgrees(sm, model, store, pageSize);
  }
}

function checkAgrees(sm: MetaStateMachine, model: Model, store: Store, pageSize: number): void {
  // Full recursive listing, paged.
  const want: Array<[string, string, number, number]> = [];
  model.walk(model.root, '/', want);
  const got: Array<[string, string, number, number]> = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const r = sm.walk('/', { limit: pageSize, cursor });
    if (!r.ok) throw new Error(r.message);
    expect(r.entries.length).toBeLessThanOrEqual(pageSize);
    for (const e of r.entries) got.push([e.path, e.type, e.size, e.mtime]);
    cursor = r.cursor;
    if (cursor === null) break;
  }
  expect(got).toEqual(want);
  // Every directory lists (paged) like the model, and every path stats like the model.
  const dirs: Array<[string, MDir]> = [['/', model.root]];
  const visit = (n: MDir, p: string) => {
    for (const [name, c] of n.children) {
      const cp = p === '/' ? `/${name}` : `${p}/${name}`;
      if (c.type === 'dir') {
        dirs.push([cp, c]);
        visit(c, cp);
      } else {
        const s = sm.stat(cp);
        expect(s.ok && s.stat).toEqual({ type: 'file', size: c.size, mtime: c.mtime, etag: c.etag, chunks: c.chunks });
      }
    }
  };
  visit(model.root, '/');
  for (const [p, d] of dirs) {
    const s = sm.stat(p);
    expect(s.ok && s.stat.mtime, p).toBe(d.mtime);
    const names: string[] = [];
    let c: string | null = null;
    for (let page = 0; page < 100; page++) {
      const r = sm.list(p, { limit: pageSize, cursor: c });
      if (!r.ok) throw new Error(r.message);
      names.push(...r.entries.map((e) => e.name));
      c = r.cursor;
      if (c === null) break;
    }
    expect(names, p).toEqual([...d.children.keys()].sort(byUtf8));
  }
  // The chunk index is exactly the chunks of live files.
  const indexed = [...store.range('c/', 'c0')].map(([k]) => k.slice(2)).sort();
  expect(indexed).toEqual([...model.chunkOwners().keys()].sort());
}

const root = mkdtempSync(join(tmpdir(), 'cairn-ns-model-'));
let dirN = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('namespace against a model', () => {
  it('agrees on thousands of random sequences (memory twin)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.integer({ min: 1, max: 3 }), async (batches, pageSize) => {
        await runScenario(new MemoryKvStore(), batches, pageSize);
      }),
      { numRuns: 2500 },
    );
  }, 120_000);

  it('agrees on a few hundred random sequences over real LMDB', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.integer({ min: 1, max: 3 }), async (batches, pageSize) => {
        const store = await LmdbStateStore.open(join(root, `m${++dirN}`), { mapSizeBytes: 64 * 1024 ** 2 });
        try {
          await runScenario(store, batches, pageSize);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 250 },
    );
  }, 120_000);
});

/**
 * Every LMDB environment a server opens fsyncs its commits (issue 18: "no test can detect a
 * missing fsync"). Three checks: lmdb's `open` is wrapped here to record every environment any
 * code opens, and the stores the metadata server opens (Raft log, state store) are opened for
 * real and their environments' effective options read back; no file in src/ but lmdb-open.ts
 * calls lmdb's `open`; and lmdbOpen refuses an environment that would not sync.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { RootDatabase } from 'lmdb';
import { afterAll, describe, expect, it, vi } from 'vitest';

const opened = vi.hoisted(() => [] as { path: string; db: unknown }[]);
vi.mock('lmdb', async (importOriginal) => {
  const real = await importOriginal<typeof import('lmdb')>();
  const open = (...args: Parameters<typeof real.open>): ReturnType<typeof real.open> => {
    const db = real.open(...args);
    opened.push({ path: String((db as unknown as { path: string }).path), db });
    return db;
  };
  return { ...real, open };
});

const { LmdbRaftStorage } = await import('../../../src/storage/lmdb-raft-storage.js');
const { LmdbStateStore } = await import('../../../src/storage/lmdb-state-store.js');
const { LMDB_UNSYNCED_OPTIONS, lmdbOpen, lmdbUnsyncedOptions } = await import('../../../src/storage/lmdb-open.js');

const root = mkdtempSync(join(tmpdir(), 'cairn-lmdb-open-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function srcFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...srcFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('LMDB environments sync their commits', () => {
  it('the Raft log and the state store (the environments the metadata server opens) are opened with syncing on', async () => {
    opened.length = 0;
    const raft = await LmdbRaftStorage.open(join(root, 'raft'));
    const state = await LmdbStateStore.open(join(root, 'state'));
    try {
      expect(opened.map((o) => relative(root, o.path)).sort()).toEqual(['raft', 'state']);
      for (const o of opened) {
        const taken = o.db as Record<string, unknown>;
        for (const k of LMDB_UNSYNCED_OPTIONS) expect(taken[k] ?? false, `${relative(root, o.path)}: ${k}`).toBe(false);
        expect(lmdbUnsyncedOptions(o.db as RootDatabase)).toEqual([]);
      }
    } finally {
      await raft.close();
      await state.close();
    }
  });

  it("no file in src/ but storage/lmdb-open.ts calls lmdb's open", () => {
    const srcDir = join(import.meta.dirname, '..', '..', '..', 'src');
    const offenders: string[] = [];
    for (const f of srcFiles(srcDir)) {
      const rel = relative(srcDir, f);
      if (rel === join('storage', 'lmdb-open.ts')) continue;
      const text = readFileSync(f, 'utf8');
      // Any value import from lmdb (type-only imports are fine): open, or the default export.
      for (const m of text.matchAll(/import\s+(?!type\b)([^;]*?)\s+from\s+'lmdb'/g)) {
        const names = m[1]!.replace(/\btype\s+\w+\s*,?/g, '');
        if (/\w/.test(names.replace(/[{},\s]/g, ''))) offenders.push(`${rel}: ${m[0]}`);
      }
      if (/require\(\s*'lmdb'\s*\)|import\(\s*'lmdb'\s*\)/.test(text)) offenders.push(`${rel}: dynamic lmdb import`);
    }
    expect(offenders).toEqual([]);
  });

  it('lmdbOpen refuses an environment that does not sync, whatever it is asked', () => {
    // The type forbids it; a cast (or a future option) must still not get through.
    const db = lmdbOpen({ path: join(root, 'forced'), ...({ noSync: true, noMetaSync: true } as object) });
    try {
      expect(lmdbUnsyncedOptions(db)).toEqual([]);
    } finally {
      void db.close();
    }
    // An environment opened unsynced elsewhere is recognized as such.
    const rec = opened.at(-1)!;
    expect(rec.path).toBe(join(root, 'forced'));
    const fake = { ...(rec.db as object), noSync: true } as unknown as RootDatabase;
    expect(lmdbUnsyncedOptions(fake)).toEqual(['noSync']);
  });
});

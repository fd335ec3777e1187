/**
 * Architecture and style rules of DESIGN.md, checked over the source tree (TigerBeetle's tidy).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const srcFiles = walk(join(root, 'src')).map((p) => relative(root, p).split(sep).join('/'));
const folderOf = (f: string): string => f.split('/')[1] ?? '';
const importsOf = (f: string): string[] => {
  const text = readFileSync(join(root, f), 'utf8');
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2])!);
  return out;
};
const resolveFolder = (from: string, spec: string): string | null => {
  if (!spec.startsWith('.')) return null;
  const parts = from.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  return parts[0] === 'src' ? (parts[1] ?? '') : `../${parts[0]}`;
};

const PURE = new Set(['raft', 'placement', 'meta', 'config']);
const pureMayImport: Record<string, Set<string>> = {
  raft: new Set(['util', 'proto', 'env', 'raft']),
  placement: new Set(['util', 'proto', 'env', 'placement']),
  meta: new Set(['util', 'proto', 'env', 'placement', 'meta', 'raft']),
  config: new Set(['util', 'proto', 'config']),
};

describe('tidy', () => {
  it('finds the source tree', () => {
    expect(srcFiles.length).toBeGreaterThan(5);
  });

  it('pure folders import only util, proto (and meta: placement) and no node:* or native packages', () => {
    const bad: string[] = [];
    for (const f of srcFiles) {
      const folder = folderOf(f);
      if (!PURE.has(folder)) continue;
      for (const spec of importsOf(f)) {
        const target = resolveFolder(f, spec);
        if (target === null) {
          bad.push(`${f} imports package ${spec}`);
        } else if (!pureMayImport[folder]!.has(target)) {
          bad.push(`${f} imports ${spec}`);
        }
      }
      // env may be imported only for its types (Rng interface), never system.ts
      if (/env\/system/.test(readFileSync(join(root, f), 'utf8'))) bad.push(`${f} imports env/system`);
    }
    expect(bad).toEqual([]);
  });

  it('only env/system.ts touches real time, timers and OS randomness', () => {
    // A call through an injected object (`timers.setTimeout(`) is fine; a bare global call is not.
    const banned = [/\bDate\.now\(/, /\bperformance\.now\(/, /\bMath\.random\(/, /(?<![.\w])setTimeout\(/, /(?<![.\w])setInterval\(/, /(?<![.\w])setImmediate\(/, /(?<![.\w])randomBytes\(/, /\brandomUUID\(/];
    // Drivers at the edge (net, storage, consensus runtime, servers) may use timers only through injected Timers;
    // the exceptions below are files whose whole job is real I/O scheduling.
    const allowed = new Set(['src/env/system.ts', 'src/env/clock.ts']);
    const bad: string[] = [];
    for (const f of srcFiles) {
      if (allowed.has(f)) continue;
      const text = readFileSync(join(root, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const re of banned) if (re.test(text)) bad.push(`${f}: ${re.source}`);
    }
    expect(bad).toEqual([]);
  });

  it('lmdb and node:fs only in storage; sockets only in net; koa/busboy only in api', () => {
    const owners: Array<[RegExp, Set<string>]> = [
      [/^lmdb$/, new Set(['storage'])],
      [/^node:fs(\/promises)?$|^fs$/, new Set(['storage', 'server'])],
      [/^node:net$|^net$|^node:dgram$/, new Set(['net'])],
      [/^(koa|@koa\/router|busboy)$/, new Set(['api'])],
    ];
    const bad: string[] = [];
    for (const f of srcFiles) {
      for (const spec of importsOf(f)) {
        for (const [re, ok] of owners) if (re.test(spec) && !ok.has(folderOf(f))) bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('nothing in src imports cli, test or server (except server itself)', () => {
    const bad: string[] = [];
    for (const f of srcFiles) {
      for (const spec of importsOf(f)) {
        const target = resolveFolder(f, spec);
        if (target === '../cli' || target === '../test' || target === '../bench') bad.push(`${f} imports ${spec}`);
        if (target === 'server' && folderOf(f) !== 'server') bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('file names are kebab-case and no folder holds more than 25 files', () => {
    const bad: string[] = [];
    const perFolder = new Map<string, number>();
    for (const f of srcFiles) {
      const base = f.split('/').pop()!;
      if (!/^[a-z0-9]+(-[a-z0-9]+)*\.ts$/.test(base)) bad.push(`${f}: not kebab-case`);
      const dir = f.split('/').slice(0, -1).join('/');
      perFolder.set(dir, (perFolder.get(dir) ?? 0) + 1);
    }
    for (const [dir, n] of perFolder) if (n > 25) bad.push(`${dir}: ${n} files`);
    expect(bad).toEqual([]);
  });

  it('no focused or skipped tests', () => {
    const testFiles = walk(join(root, 'test'));
    const bad: string[] = [];
    const re = new RegExp(['\\b(it|test|describe)\\.(only|skip|todo)\\(', '\\bx(it|describe)\\('].join('|'));
    for (const p of testFiles) if (re.test(readFileSync(p, 'utf8'))) bad.push(relative(root, p));
    expect(bad).toEqual([]);
  });
});

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

/** The file a relative import names (`./x.js` → `src/…/x.ts`, a folder → its index.ts). */
const resolveFile = (from: string, spec: string): string => {
  const parts = from.split('/').slice(0, -1);
  for (const seg of spec.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.') parts.push(seg);
  }
  const p = parts.join('/');
  if (p.endsWith('.js')) return p.slice(0, -3) + '.ts';
  return p.endsWith('.ts') ? p : `${p}/index.ts`;
};

/** Every elementary cycle found by a depth-first search, each once, as `a -> b -> a`. */
function findCycles(edges: Map<string, string[]>): string[] {
  const out = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of edges.get(f) ?? []) {
      if (state.get(g) === 'open') {
        const cyc = stack.slice(stack.indexOf(g));
        const k = cyc.indexOf([...cyc].sort()[0]!);
        out.add([...cyc.slice(k), ...cyc.slice(0, k), cyc[k]].join(' -> '));
      } else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of edges.keys()) if (!state.has(f)) visit(f);
  return [...out];
}

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
        } else if (target === 'config' && resolveFile(f, spec) === 'src/config/defaults.ts') {
          // Defaults are written once, in src/config: the import-free table every folder may read.
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

  it('proto, the contract both sides import, imports only util, proto, the defaults, msgpackr, node:crypto (token MACs) and types of raft and env', () => {
    const bad: string[] = [];
    for (const f of srcFiles.filter((g) => folderOf(g) === 'proto')) {
      const text = readFileSync(join(root, f), 'utf8');
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[3]!;
        const typeOnly = m[2] !== undefined;
        const target = resolveFolder(f, spec);
        const ok =
          target === null
            ? spec === 'msgpackr' || spec === 'node:crypto'
            : ['util', 'proto'].includes(target) || resolveFile(f, spec) === 'src/config/defaults.ts' || (typeOnly && (target === 'raft' || target === 'env'));
        if (!ok) bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('src/config/defaults.ts, which every folder may read, imports nothing', () => {
    expect(importsOf('src/config/defaults.ts')).toEqual([]);
  });

  it('HTTP lives in chunk (data plane), api (gateway) and server only', () => {
    const bad: string[] = [];
    for (const f of srcFiles) {
      for (const spec of importsOf(f)) {
        if (/^(node:)?https?$|^(node:)?http2$|^undici$/.test(spec) && !['chunk', 'api', 'server'].includes(folderOf(f))) bad.push(`${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('meta imports raft for its types only', () => {
    const bad: string[] = [];
    for (const f of srcFiles.filter((g) => folderOf(g) === 'meta')) {
      const text = readFileSync(join(root, f), 'utf8');
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        if (resolveFolder(f, m[3]!) === 'raft' && m[2] === undefined) bad.push(`${f}: ${m[0].split('\n')[0]}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('no source file over 600 lines (the pure Raft core excepted)', () => {
    const bad = srcFiles
      .filter((f) => f !== 'src/raft/raft-node.ts')
      .map((f) => [f, readFileSync(join(root, f), 'utf8').split('\n').length - 1] as const)
      .filter(([, n]) => n > 600)
      .map(([f, n]) => `${f}: ${n} lines`);
    expect(bad).toEqual([]);
  });

  it('no import cycles between source files (type-only imports excepted)', () => {
    const edges = new Map<string, string[]>();
    for (const f of srcFiles) {
      const text = readFileSync(join(root, f), 'utf8');
      const out: string[] = [];
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
        if (m[2] !== undefined) continue;
        out.push(resolveFile(f, m[3]!));
      }
      edges.set(f, out);
    }
    const cycles = findCycles(edges);
    expect(cycles).toEqual([]);
  });

  it('code that only tests use lives in test/: every source file is reachable from the CLI or a public face', () => {
    // Public faces: the library entry and each folder's index.ts (which carries, e.g., the
    // in-memory twins of storage that DESIGN keeps beside the real implementations).
    const faces = srcFiles.filter((f) => f === 'src/index.ts' || /^src\/[^/]+\/index\.ts$/.test(f));
    const entries = [...faces, ...walk(join(root, 'cli')).map((p) => relative(root, p).split(sep).join('/'))];
    const seen = new Set<string>();
    const todo = [...entries];
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const spec of importsOf(f)) if (spec.startsWith('.')) todo.push(resolveFile(f, spec));
    }
    expect(srcFiles.filter((f) => !seen.has(f))).toEqual([]);
  });

  it('CLI option defaults come from src/config, not literals written in the command', () => {
    const bad: string[] = [];
    for (const p of walk(join(root, 'cli'))) {
      const text = readFileSync(p, 'utf8');
      for (const m of text.matchAll(/\.option\(([^;]*?)\)\s*(?=\.|;|$)/gm)) {
        if (/,\s*-?[0-9][0-9_]*(\s*\*\s*[0-9_]+)*\s*$/.test(m[1]!)) bad.push(`${relative(root, p)}: .option(${m[1]})`);
      }
    }
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

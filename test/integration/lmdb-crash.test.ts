/**
 * kill -9 durability of LmdbRaftStorage with a real child process (fixtures/storage-crash-child.mjs,
 * which uses the compiled dist/ build). Each round the child reopens the log, appends, overwrites
 * suffixes and votes with synced saves, acknowledging each on stdout only after its promise
 * resolved; the parent SIGKILLs it at a seeded random moment, reopens the storage and checks:
 *   - the log and hard state equal exactly the acknowledged history, or that history plus the one
 *     write in flight at the kill (atomic: all of it or none of it);
 *   - every acknowledged entry is there, byte-exact;
 *   - no term ever has two different acknowledged votes, across all restarts (the child rereads
 *     its hard state on start and keeps a vote it holds).
 * Seed: CAIRN_SEED (printed on failure). An OS crash cannot be simulated here; see the durability
 * comment in src/storage/lmdb-raft-storage.ts for why fsync-in-commit also covers it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { HardState } from '../../src/raft/types.js';
import { LmdbRaftStorage } from '../../src/storage/lmdb-raft-storage.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'fixtures', 'storage-crash-child.mjs');
const BUILT = join(here, '..', '..', 'dist', 'src', 'storage', 'index.js');
const ROUNDS = 15;
const CHILD_OPS_MAX = 5000;
const KILL_DELAY_MS_MAX = 400;
const SEED = Number(process.env.CAIRN_SEED ?? 0xc0ffee) >>> 0;

const root = mkdtempSync(join(tmpdir(), 'cairn-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Same derivation as the child's entryData. */
function entryData(index: number, salt: number): Uint8Array {
  const size = (salt + index * 7) % 300;
  const out = new Uint8Array(size);
  let x = (salt ^ Math.imul(index, 2654435761)) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Write = { kind: 'append'; from: number; to: number; term: number; salt: number } | { kind: 'vote'; term: number; vote: string };

/** What the storage must hold: entries by index (term, salt) and the hard state. */
interface Model {
  ents: Map<number, { term: number; salt: number }>;
  last: number;
  hs: HardState;
}

function applyWrite(m: Model, w: Write): Model {
  if (w.kind === 'vote') return { ents: m.ents, last: m.last, hs: { term: w.term, vote: w.vote, commit: m.hs.commit } };
  const ents = new Map(m.ents);
  for (let i = w.from; i <= m.last; i++) ents.delete(i);
  for (let i = w.from; i <= w.to; i++) ents.set(i, { term: w.term, salt: w.salt });
  return { ents, last: w.to, hs: m.hs };
}

function parseWrite(parts: string[]): Write {
  if (parts[0]!.endsWith('-vote')) return { kind: 'vote', term: Number(parts[1]), vote: parts[2]! };
  return { kind: 'append', from: Number(parts[1]), to: Number(parts[2]), term: Number(parts[3]), salt: Number(parts[4]) };
}

/** Does the storage hold exactly `m`? Returns a mismatch description or null. */
function mismatch(s: LmdbRaftStorage, m: Model): string | null {
  const hs = s.initialState().hardState;
  if (hs.term !== m.hs.term || hs.vote !== m.hs.vote) return `hard state ${JSON.stringify(hs)} != ${JSON.stringify(m.hs)}`;
  if (s.lastIndex() !== m.last) return `lastIndex ${s.lastIndex()} != ${m.last}`;
  for (let lo = 1; lo <= m.last; ) {
    const batch = s.entries(lo, m.last + 1, 1 << 20);
    for (const e of batch) {
      const want = m.ents.get(e.index);
      if (!want) return `unexpected entry ${e.index}`;
      if (e.term !== want.term) return `entry ${e.index} term ${e.term} != ${want.term}`;
      if (Buffer.compare(Buffer.from(e.data), Buffer.from(entryData(e.index, want.salt))) !== 0) return `entry ${e.index} bytes differ`;
    }
    lo += batch.length;
  }
  return null;
}

interface ChildRun {
  lines: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

function runChild(dir: string, seed: number, killDelayMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(seed), String(CHILD_OPS_MAX)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      // Start the kill clock once the child has opened the storage.
      if (timer === null && out.includes('\n')) timer = setTimeout(() => child.kill('SIGKILL'), killDelayMs);
    });
    child.stderr.on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      // A line without its newline was cut by the kill: it was never (fully) said.
      const complete = out.slice(0, out.lastIndexOf('\n') + 1);
      resolve({ lines: complete.split('\n').filter((l) => l.length > 0), signal, code, stderr });
    });
  });
}

describe('LmdbRaftStorage under kill -9', () => {
  it(`keeps every acknowledged append and vote (seed ${SEED})`, async () => {
    expect(existsSync(BUILT), `${BUILT} is missing: run \`npm run build\` (npm test does) before this test`).toBe(true);
    const rng = mulberry32(SEED);
    const dir = join(root, 'log');
    let model: Model = { ents: new Map(), last: 0, hs: { term: 0, vote: null, commit: 0 } };
    const votes = new Map<number, string>();
    let acked = 0;
    let inFlightAtKill = 0;
    let inFlightLanded = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const ctx = `seed ${SEED} round ${round}`;
      const run = await runChild(dir, SEED * 1000 + round, 20 + Math.floor(rng() * KILL_DELAY_MS_MAX));
      expect(run.signal === 'SIGKILL' || run.code === 0, `${ctx}: child failed (code ${run.code}): ${run.stderr}`).toBe(true);
      expect(run.lines[0], ctx).toMatch(/^ready /);
      let pending: Write | null = null;
      for (const line of run.lines.slice(1)) {
        const parts = line.split(' ');
        const tag = parts[0]!;
        if (tag === 'intent-append' || tag === 'intent-vote') {
          expect(pending, `${ctx}: two writes in flight`).toBeNull();
          pending = parseWrite(parts);
        } else if (tag === 'acked-append' || tag === 'acked-vote') {
          const w = parseWrite(parts);
          expect(w, `${ctx}: ack without matching intent: ${line}`).toEqual(pending);
          model = applyWrite(model, w);
          pending = null;
          acked++;
          if (w.kind === 'vote') {
            const prev = votes.get(w.term);
            expect(prev === undefined || prev === w.vote, `${ctx}: voted for ${prev} and ${w.vote} in term ${w.term}`).toBe(true);
            votes.set(w.term, w.vote);
          }
        } else if (tag === 'kept-vote') {
          expect(votes.get(Number(parts[1])), `${ctx}: ${line} but the acknowledged vote differs`).toBe(parts[2]);
        } else if (tag !== 'done') {
          throw new Error(`${ctx}: unexpected child output: ${line}`);
        }
      }

      // After the crash: exactly the acknowledged history, or it plus the write in flight.
      const s = await LmdbRaftStorage.open(dir);
      try {
        const without = mismatch(s, model);
        if (without !== null) {
          expect(pending, `${ctx}: acknowledged state lost: ${without}`).not.toBeNull();
          const withPending = applyWrite(model, pending!);
          const withIt = mismatch(s, withPending);
          expect(withIt, `${ctx}: storage matches neither the acked state (${without}) nor acked + in-flight write`).toBeNull();
          // The in-flight write is durable now: the child builds on it next round.
          model = withPending;
          if (pending!.kind === 'vote') votes.set(pending!.term, pending!.vote);
          inFlightLanded++;
        }
        if (pending) inFlightAtKill++;
      } finally {
        await s.close();
      }
    }
    // Not vacuous: the children really wrote and voted.
    expect(acked).toBeGreaterThan(ROUNDS * 5);
    expect(votes.size).toBeGreaterThan(0);
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(inFlightLanded).toBeLessThanOrEqual(inFlightAtKill);
  });
});

/** Exactly-once sessions of the metadata machine: first outcomes, many seqs in flight, stale, window, eviction. */
import { describe, expect, it } from 'vitest';
import type { MetaCommand } from '../../../src/meta/meta-command.js';
import { applyMetaCommand, type MetaResult } from '../../../src/meta/namespace-machine.js';
import { stat } from '../../../src/meta/namespace.js';
import { hex } from '../../../src/meta/namespace-keys.js';
import { hasOutcome, sessionsInUse, type SessionLimits } from '../../../src/meta/session.js';
import { pack, unpack } from '../../../src/proto/msgpack.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';

const limits: SessionLimits = { windowMax: 8, sessionsMax: 100 };

function harness(l: SessionLimits = limits) {
  const store = new MemoryKvStore();
  let index = 0;
  /** Reads of outcome keys (r/…) by the commands run, for the tests of the lookups sessions skip. */
  const outcomeReads: string[] = [];
  const run = (cmd: MetaCommand): Promise<MetaResult> =>
    store.applyBatch(++index, (t) =>
      applyMetaCommand(
        {
          get: (k) => {
            if (k.startsWith('r/')) outcomeReads.push(k);
            return t.get(k);
          },
          put: (k, v) => t.put(k, v),
          del: (k) => t.del(k),
          range: (a, b, n) => t.range(a, b, n),
        },
        cmd,
        l,
      ),
    );
  const exists = (p: string) => stat(store, p === '/' ? [] : p.slice(1).split('/')).ok;
  const results = () => [...store.range('r/', 'r0')].map(([k]) => k);
  /** Write one raw record (as another version of the machine could have left it). */
  const putRaw = (k: string, v: Uint8Array) => store.applyBatch(++index, (t) => t.put(k, v));
  return { store, run, exists, results, outcomeReads, putRaw };
}

const mkdir = (client: string, seq: number, path: string, ackedBelow = 0, nowMs = 1000, parents = false): MetaCommand => ({
  op: 'mkdir',
  session: { client, seq, ackedBelow },
  nowMs,
  path,
  parents,
});
const del = (client: string, seq: number, path: string, ackedBelow = 0, nowMs = 1000): MetaCommand => ({
  op: 'delete',
  session: { client, seq, ackedBelow },
  nowMs,
  path,
  recursive: true,
});
const code = (r: MetaResult) => (r.ok ? 'ok' : r.code);

describe('exactly-once sessions', () => {
  it('a retry returns the first outcome, success or failure, and applies nothing again', async () => {
    const h = harness();
    expect(code(await h.run(mkdir('c1', 1, '/a')))).toBe('ok');
    expect(code(await h.run(del('c1', 2, '/a')))).toBe('ok');
    // Retry of seq 1 after /a was deleted: still the first outcome, /a not recreated.
    expect(code(await h.run(mkdir('c1', 1, '/a')))).toBe('ok');
    expect(h.exists('/a')).toBe(false);
    // A failed first outcome is remembered too.
    expect(code(await h.run(mkdir('c1', 3, '/x/y')))).toBe('NotFound');
    await h.run(mkdir('c1', 4, '/x'));
    const retry = await h.run(mkdir('c1', 3, '/x/y'));
    expect(retry).toEqual({ ok: false, code: 'NotFound', message: expect.stringContaining('/x') as unknown });
    expect(h.exists('/x/y')).toBe(false);
    // Another client with the same seq is a different request.
    expect(code(await h.run(mkdir('c2', 1, '/a')))).toBe('ok');
    expect(h.exists('/a')).toBe(true);
  });

  it('many seqs in flight arrive in any order, each applied once; retries in any order', async () => {
    const h = harness();
    const order = [3, 1, 5, 2, 4];
    for (const s of order) expect(code(await h.run(mkdir('c', s, `/d${s}`)))).toBe('ok');
    // Retries (also interleaved with new seqs) return the first outcomes, not AlreadyExists.
    for (const s of [5, 1, 4]) expect(code(await h.run(mkdir('c', s, `/d${s}`)))).toBe('ok');
    expect(code(await h.run(mkdir('c', 6, '/d1')))).toBe('AlreadyExists');
    expect(h.results()).toHaveLength(6);
  });

  it('acknowledged seqs are forgotten and refused as stale', async () => {
    const h = harness();
    for (let s = 1; s <= 5; s++) await h.run(mkdir('c', s, `/d${s}`));
    expect(h.results()).toHaveLength(5);
    // seq 6 says: answers of every seq below 4 are in.
    expect(code(await h.run(mkdir('c', 6, '/d6', 4)))).toBe('ok');
    expect(h.results()).toHaveLength(3); // 4, 5, 6
    const stale = await h.run(mkdir('c', 2, '/d2'));
    expect(code(stale)).toBe('StaleRequest');
    // The acknowledged mark never goes back, whatever a late packet says.
    expect(code(await h.run(mkdir('c', 3, '/d3', 0)))).toBe('StaleRequest');
    expect(code(await h.run(mkdir('c', 4, '/d4', 0)))).toBe('ok');
  });

  it('forgets exactly the outcomes below the mark, whether it moves by one, a few or many', async () => {
    const h = harness({ windowMax: 64, sessionsMax: 10 });
    const seqsLeft = () => h.results().map((k) => parseInt(k.slice(k.lastIndexOf('/') + 1), 16)).sort((a, b) => a - b);
    for (let s = 1; s <= 40; s++) await h.run(mkdir('c', s, `/d${s}`));
    // By one, then by a few, then by more than a scan-free step covers, then to the newest seq.
    for (const [seq, acked] of [[41, 2], [42, 7], [43, 30], [44, 44]] as const) {
      expect(code(await h.run(mkdir('c', seq, `/d${seq}`, acked)))).toBe('ok');
      expect(seqsLeft()).toEqual(Array.from({ length: seq - acked + 1 }, (_, i) => acked + i));
    }
    // Another client's outcomes are untouched by c's acknowledgements.
    await h.run(mkdir('other', 1, '/o1'));
    await h.run(mkdir('c', 45, '/d45', 45));
    expect(h.results()).toEqual([`r/c/${hex(45)}`, `r/other/${hex(1)}`]);
  });

  it('bounds the unacknowledged window per client and refuses beyond it without recording', async () => {
    const h = harness({ windowMax: 4, sessionsMax: 10 });
    for (let s = 1; s <= 3; s++) expect(code(await h.run(mkdir('c', s, `/d${s}`)))).toBe('ok');
    // Window is [ackedBelow, ackedBelow + 4) = [0, 4): seq 4 is beyond it.
    expect(code(await h.run(mkdir('c', 4, '/d4')))).toBe('Unavailable');
    expect(h.exists('/d4')).toBe(false);
    expect(h.results()).toHaveLength(3);
    // Acknowledging opens the window; the same seq is then applied (it was never recorded).
    expect(code(await h.run(mkdir('c', 4, '/d4', 2)))).toBe('ok');
    expect(h.exists('/d4')).toBe(true);
    expect(code(await h.run(mkdir('c', 6, '/d6', 2)))).toBe('Unavailable');
    expect(h.results().length).toBeLessThanOrEqual(4);
  });

  it('evicts the least recently used session (leader time, deterministic) beyond sessionsMax', async () => {
    const h = harness({ windowMax: 8, sessionsMax: 3 });
    await h.run(mkdir('c1', 1, '/a1', 0, 10));
    await h.run(mkdir('c2', 1, '/a2', 0, 20));
    await h.run(mkdir('c3', 1, '/a3', 0, 30));
    await h.run(mkdir('c1', 2, '/b1', 0, 40)); // c1 used again: c2 is now the least recent
    expect(sessionsInUse(h.store)).toBe(3);
    await h.run(mkdir('c4', 1, '/a4', 0, 50));
    expect(sessionsInUse(h.store)).toBe(3);
    // c1 still deduplicates; c2 was forgotten, so its retry is applied again (and now fails).
    expect(code(await h.run(mkdir('c1', 1, '/a1', 0, 60)))).toBe('ok');
    expect(code(await h.run(mkdir('c2', 1, '/a2', 0, 70)))).toBe('AlreadyExists');
    expect(h.results().some((k) => k.startsWith('r/c3/'))).toBe(false); // c3 evicted to admit c2 again
    expect([...h.store.range('u/', 'u0')]).toHaveLength(3);
    expect([...h.store.range('s/', 's0')]).toHaveLength(3);
  });

  it('a time going backwards (new leader with a slower clock) keeps recency monotonic per session', async () => {
    const h = harness({ windowMax: 8, sessionsMax: 2 });
    await h.run(mkdir('a', 1, '/a', 0, 1000));
    await h.run(mkdir('b', 1, '/b', 0, 2000));
    await h.run(mkdir('a', 2, '/a2', 0, 500)); // earlier stamp: a keeps lastUsed 1000
    await h.run(mkdir('c', 1, '/c', 0, 3000)); // evicts a (1000 < 2000)
    expect(code(await h.run(mkdir('b', 1, '/b', 0, 3100)))).toBe('ok');
    expect(code(await h.run(mkdir('a', 1, '/a', 0, 3200)))).toBe('AlreadyExists');
  });

  it('a seq above every one applied for its client is not looked up; a lower one and a retry are', async () => {
    const h = harness();
    const reads = () => h.outcomeReads.splice(0).map((k) => k.slice(k.lastIndexOf('/') + 1));
    for (const seq of [1, 2, 5]) expect(code(await h.run(mkdir('c', seq, `/d${seq}`)))).toBe('ok');
    expect(reads()).toEqual([]);
    // 3 comes after 5 (many in flight): looked up, not found, applied.
    expect(code(await h.run(mkdir('c', 3, '/d3')))).toBe('ok');
    expect(reads()).toEqual([hex(3)]);
    // Retries of the highest seq and of a lower one: found, first outcomes, nothing applied again.
    expect(code(await h.run(mkdir('c', 5, '/d5')))).toBe('ok');
    expect(code(await h.run(mkdir('c', 2, '/d2')))).toBe('ok');
    expect(reads()).toEqual([hex(5), hex(2)]);
    // The leader's early check reads the same way.
    const view = { get: (k: string) => (k.startsWith('r/') ? (h.outcomeReads.push(k), h.store.get(k)) : h.store.get(k)) };
    expect([hasOutcome(view, { client: 'c', seq: 6, ackedBelow: 0 }), hasOutcome(view, { client: 'c', seq: 5, ackedBelow: 0 }), hasOutcome(view, { client: 'c', seq: 4, ackedBelow: 0 }), hasOutcome(view, { client: 'new', seq: 1, ackedBelow: 0 })]).toEqual([false, true, false, false]);
    expect(reads()).toEqual([hex(5), hex(4)]);
    expect(unpack(h.store.get('s/c')!)).toEqual([0, 1000, 5]);
  });

  it('a session record of two numbers (kept before the highest seq was) looks every seq up and stays that way', async () => {
    const h = harness();
    for (const seq of [1, 2]) await h.run(mkdir('c', seq, `/d${seq}`));
    await h.putRaw('s/c', pack([0, 1000]));
    const reads = () => h.outcomeReads.splice(0).length;
    reads();
    expect([code(await h.run(mkdir('c', 2, '/d2'))), reads()]).toEqual(['ok', 1]);
    expect(h.exists('/d2')).toBe(true);
    expect([code(await h.run(mkdir('c', 3, '/d3'))), reads()]).toEqual(['ok', 1]);
    expect(unpack(h.store.get('s/c')!)).toEqual([0, 1000]);
    expect(hasOutcome(h.store, { client: 'c', seq: 3, ackedBelow: 0 })).toBe(true);
    await h.putRaw('s/c', pack([0, 1000, -1]));
    await expect(h.run(mkdir('c', 4, '/d4'))).rejects.toThrow(/malformed/);
  });

  it('the same commands give byte-identical state on two replicas', async () => {
    const cmds: MetaCommand[] = [];
    for (let i = 0; i < 50; i++) cmds.push(mkdir(`c${i % 7}`, Math.floor(i / 7) + 1, `/p${i % 5}/q${i}`, 0, 1000 + (i % 3), true));
    const a = harness({ windowMax: 8, sessionsMax: 4 });
    const b = harness({ windowMax: 8, sessionsMax: 4 });
    for (const c of cmds) expect(await a.run(c)).toEqual(await b.run(c));
    expect(await a.store.exportImage()).toEqual(await b.store.exportImage());
  });
});

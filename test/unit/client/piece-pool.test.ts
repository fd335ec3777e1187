import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CairnClient } from '../../../src/client/cairn-client.js';
import { FileReader, type LentPiece } from '../../../src/client/file-reader.js';
import { PiecePool, ReadAheadBudget } from '../../../src/client/piece-pool.js';
import type { Clock } from '../../../src/env/clock.js';
import { isCairnError } from '../../../src/util/errors.js';
import { bytes } from '../chunk/helpers.js';
import { clientOver, FakeMeta, startChunkNodes } from './fake-meta.js';

/** A clock the test moves by hand. */
class TestClock implements Clock {
  ms = 0;
  nowMs(): number {
    return this.ms;
  }
}

describe('piece pool', () => {
  it('never hands out a buffer that is lent; reuses one once given back', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 4 });
    const a = pool.take(100);
    const b = pool.take(100);
    expect(a.buffer).not.toBe(b.buffer);
    a.fill(1);
    b.fill(2);
    const c = pool.take(100); // a and b are lent: a third allocation
    expect(c.buffer).not.toBe(a.buffer);
    expect(c.buffer).not.toBe(b.buffer);
    expect(a.every((x) => x === 1) && b.every((x) => x === 2)).toBe(true);
    pool.give(a);
    const d = pool.take(60); // smaller: a view of the buffer just given back
    expect(d.buffer).toBe(a.buffer);
    expect(d.length).toBe(60);
    const e = pool.take(60); // a's buffer is lent again (as d): not handed out twice
    expect([a.buffer, b.buffer, c.buffer]).not.toContain(e.buffer);
    expect(pool.lentCount).toBe(4);
  });

  it('refuses a buffer given back twice or never taken from it', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 4 });
    const a = pool.take(10);
    pool.give(a);
    expect(() => pool.give(a)).toThrow(/not lent/);
    expect(() => pool.give(Buffer.allocUnsafeSlow(10))).toThrow(/not lent/);
    // Given twice and accepted, the next two takes would share one buffer: they must not.
    const x = pool.take(10);
    const y = pool.take(10);
    expect(x.buffer).not.toBe(y.buffer);
  });

  it('keeps at most keepMax idle buffers; a bigger request gets a fresh one', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 1 });
    const a = pool.take(10);
    const b = pool.take(10);
    pool.give(a);
    pool.give(b);
    expect(pool.idleCount).toBe(1);
    const big = pool.take(20);
    expect(big.length).toBe(20);
    expect(big.buffer).not.toBe(a.buffer);
    expect(big.buffer).not.toBe(b.buffer);
  });
});

describe('piece pool, abandoned loans', () => {
  it('holds lent buffers weakly: a loan never ended does not keep its buffer alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 2 });
    const ref = ((): WeakRef<ArrayBufferLike> => new WeakRef(pool.take(1024 * 1024).buffer))();
    // Bounded: a few collections, each after the job that made the WeakRef ended.
    for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      gc();
    }
    expect(ref.deref()).toBeUndefined();
    expect(pool.lentCount).toBe(1); // still counted: its loan never ended
  });
});

describe('piece pool, whole buffers', () => {
  it('takeWhole hands an idle buffer over whole; keep() takes it back, refusing one lent or already idle', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 4 });
    const a = pool.take(1_000);
    pool.give(a);
    const w = pool.takeWhole(10); // the idle 1,000-byte buffer, whole
    expect(w.buffer).toBe(a.buffer);
    expect(w.length).toBe(1_000);
    expect(pool.takeWhole(10).buffer).not.toBe(a.buffer); // not idle any more: a fresh one
    pool.keep(w);
    expect(() => pool.keep(w)).toThrow(/already idle/);
    const lent = pool.take(1_000); // w's buffer, lent
    expect(lent.buffer).toBe(w.buffer);
    expect(() => pool.keep(w)).toThrow(/lent/);
    pool.keep(Buffer.allocUnsafe(16)); // a slice of Node's shared slab: not kept
    expect(pool.idleCount).toBe(0);
  });
});

describe('piece pool, full', () => {
  it('a bigger buffer given back replaces the smallest idle one; a smaller one is dropped', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 2 });
    const small = pool.take(10);
    const mid = pool.take(50);
    const big = pool.take(100);
    pool.give(small);
    pool.give(mid);
    pool.give(big); // full: replaces `small`
    expect(pool.idleCount).toBe(2);
    const x = pool.take(100);
    const y = pool.take(50);
    expect(x.buffer).toBe(big.buffer);
    expect(y.buffer).toBe(mid.buffer);
    pool.give(x);
    pool.give(y);
    const bigger = pool.take(200); // a fresh one (nothing idle is that big)
    const z = pool.take(5);
    pool.give(bigger);
    pool.give(z); // full with 200 and 100: the 50-byte buffer lent as `z` is dropped
    expect(pool.idleCount).toBe(2);
    const lens = [pool.take(1), pool.take(1)].map((b) => b.buffer.byteLength).sort((a, b) => a - b);
    expect(lens).toEqual([100, 200]);
  });
});

describe('piece pool, bursts', () => {
  /** Takes n buffers of `bytes` at once, then gives them all back. */
  function burst(pool: PiecePool, n: number, bytes = 100): ArrayBufferLike[] {
    const taken = Array.from({ length: n }, () => pool.take(bytes));
    for (const b of taken) pool.give(b);
    return taken.map((b) => b.buffer);
  }

  it('keeps what a burst used at once (up to burstKeepMax) and hands it to the next burst', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 2, burstKeepMax: 6 });
    const first = burst(pool, 8);
    expect(pool.idleCount).toBe(6); // 8 used at once, 6 kept
    const second = burst(pool, 8);
    expect(second.filter((b) => first.includes(b))).toHaveLength(6); // no fresh allocation for 6 of 8
  });

  it('drops what is kept beyond keepMax once it has been idle for surplusIdleMs, the longest idle first', () => {
    const clock = new TestClock();
    const pool = new PiecePool({ clock }, { keepMax: 2, burstKeepMax: 6, surplusIdleMs: 1_000 });
    burst(pool, 6);
    clock.ms = 999;
    pool.trim();
    expect(pool.idleCount).toBe(6); // not idle long enough
    clock.ms = 1_000;
    const recent = pool.take(100); // a take trims first: 2 are kept for good, this is one of them
    expect(pool.idleCount).toBe(1);
    pool.give(recent); // idle since 1,000
    clock.ms = 1_500;
    pool.trim();
    expect(pool.idleCount).toBe(2); // keepMax, however long idle
    clock.ms = 1_000_000;
    pool.trim();
    expect(pool.idleCount).toBe(2);
  });

  it('trims only the buffers idle that long: those given back since stay', () => {
    const clock = new TestClock();
    const pool = new PiecePool({ clock }, { keepMax: 1, burstKeepMax: 4, surplusIdleMs: 1_000 });
    burst(pool, 2); // idle since 0
    clock.ms = 600;
    burst(pool, 4); // reuses the two, 2 fresh: all 4 idle since 600
    clock.ms = 1_200;
    pool.trim();
    expect(pool.idleCount).toBe(4);
    clock.ms = 1_600;
    pool.trim();
    expect(pool.idleCount).toBe(1);
  });

  it('trim(true) drops every idle buffer (the client closing); burstKeepMax defaults to keepMax', () => {
    const pool = new PiecePool({ clock: new TestClock() }, { keepMax: 2, burstKeepMax: 6 });
    burst(pool, 4);
    pool.trim(true);
    expect(pool.idleCount).toBe(0);
    const plain = new PiecePool({ clock: new TestClock() }, { keepMax: 2 });
    burst(plain, 4);
    expect(plain.idleCount).toBe(2);
  });
});

// nextPiece against three real chunk servers in this process and a fake metadata leader.
describe('file reader pieces (nextPiece)', () => {
  const CHUNK = 100_000;
  const SIZE = 7 * CHUNK + 123;
  const data = bytes(SIZE, 5);
  let cluster: Awaited<ReturnType<typeof startChunkNodes>>;
  let client: CairnClient;

  beforeEach(async () => {
    cluster = await startChunkNodes(3);
    const meta = new FakeMeta(cluster.nodes, { replicas: 2, chunkSize: CHUNK });
    client = clientOver(meta, { readAhead: 2 });
    await meta.storeFile('/f', data);
  });

  afterEach(async () => {
    client.close();
    await cluster.close();
  });

  async function reader(range: { start?: number; end?: number } = {}): Promise<FileReader> {
    const r = (await client.open('/f', range)).stream;
    expect(r).toBeInstanceOf(FileReader);
    return r as FileReader;
  }

  it('a piece held by its consumer keeps its bytes while later pieces are read; released buffers are reused', async () => {
    const r = await reader();
    const held: Array<{ p: LentPiece; copy: Buffer; at: number }> = [];
    const seen = new Set<ArrayBufferLike>();
    let at = 0;
    // Hold three pieces at a time (more than the read-ahead), releasing the oldest as we go.
    for (let p = await r.nextPiece(); p !== null; p = await r.nextPiece()) {
      for (const h of held) expect(h.p.bytes.equals(h.copy), `piece at ${h.at} overwritten while held`).toBe(true);
      expect(p.bytes.equals(data.subarray(at, at + p.bytes.length))).toBe(true);
      for (const h of held) expect(p.bytes.buffer).not.toBe(h.p.bytes.buffer);
      seen.add(p.bytes.buffer);
      held.push({ p, copy: Buffer.from(p.bytes), at });
      at += p.bytes.length;
      if (held.length === 3) held.shift()!.p.release();
    }
    expect(at).toBe(SIZE);
    for (const h of held) expect(h.p.bytes.equals(h.copy)).toBe(true);
    // 8 pieces through at most read-ahead (2) + held (3) + one more buffers.
    expect(seen.size).toBeLessThanOrEqual(6);
    expect(seen.size).toBeLessThan(8);
    for (const h of held) h.p.release();
  });

  it('a piece released twice fails; a range comes out byte-exact', async () => {
    const r = await reader({ start: CHUNK - 5, end: 3 * CHUNK + 7 });
    const out: Buffer[] = [];
    let first: LentPiece | null = null;
    for (let p = await r.nextPiece(); p !== null; p = await r.nextPiece()) {
      out.push(Buffer.from(p.bytes));
      if (first === null) first = p;
      else p.release();
    }
    expect(Buffer.concat(out).equals(data.subarray(CHUNK - 5, 3 * CHUNK + 7))).toBe(true);
    first!.release();
    let err: unknown = null;
    try {
      first!.release();
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'Internal')).toBe(true);
  });
});

describe('read-ahead budget', () => {
  it('grants a reader its first chunk always, more only under the client\'s total; refuses a give-back of what was not taken', () => {
    const b = new ReadAheadBudget(2);
    expect([b.take(0), b.take(1), b.take(2)]).toEqual([true, true, false]); // one reader: 2
    expect(b.take(0)).toBe(true); // another reader's first, over the total
    expect(b.take(1)).toBe(false);
    expect(b.inUse).toBe(3);
    b.give(2);
    expect(b.take(1)).toBe(true);
    b.give(2);
    expect(b.inUse).toBe(0);
    expect(() => b.give()).toThrow(expect.objectContaining({ code: 'Internal' }));
    expect(b.inUse).toBe(0);
  });
});

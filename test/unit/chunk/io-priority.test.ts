/**
 * IoPriority on a manual clock: repair steps run at once when no client request is in flight,
 * wait behind client requests otherwise, are let through one per quantum while clients stay busy
 * (no starvation), and repair's share of its rate drops while clients are active and ramps back
 * when they are quiet.
 */
import { describe, expect, it } from 'vitest';
import { IoPriority } from '../../../src/chunk/io-priority.js';
import { ManualTime } from '../../support/manual-time.js';

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function track(p: Promise<void> | null): { done: boolean } {
  const s = { done: p === null };
  void p?.then(() => (s.done = true));
  return s;
}

describe('IoPriority', () => {
  it('admits repair at once when no client request is in flight', () => {
    const t = new ManualTime();
    const io = new IoPriority({ clock: t, timers: t }, { quantumMs: 20 });
    expect(io.admitRepair()).toBeNull();
    const end = io.clientStarted();
    end();
    expect(io.admitRepair()).toBeNull();
    expect(io.counters.repairAtOnce).toBe(2);
    expect(t.pending()).toBe(0);
  });

  it('holds repair while a client request is in flight and releases it when the last one ends', async () => {
    const t = new ManualTime();
    const io = new IoPriority({ clock: t, timers: t }, { quantumMs: 20 });
    const a = io.clientStarted();
    const b = io.clientStarted();
    const r1 = track(io.admitRepair());
    const r2 = track(io.admitRepair());
    t.advance(10);
    await flush();
    expect([r1.done, r2.done]).toEqual([false, false]);
    a();
    a(); // idempotent: still one client in flight
    await flush();
    expect(io.clientsInFlight).toBe(1);
    expect([r1.done, r2.done]).toEqual([false, false]);
    b();
    await flush();
    expect([r1.done, r2.done]).toEqual([true, true]);
    expect(io.counters.repairAfterClients).toBe(2);
    expect(t.pending()).toBe(0); // the quantum timer is cancelled
  });

  it('does not starve repair: while clients stay busy, waiting steps run after a quantum, then the gate stays open for its share', async () => {
    const t = new ManualTime();
    // shareMin 0.2: after each 20 ms quantum a 5 ms window (a fifth of the time).
    const io = new IoPriority({ clock: t, timers: t }, { quantumMs: 20, shareMin: 0.2 });
    let end = io.clientStarted();
    const steps = [track(io.admitRepair()), track(io.admitRepair())];
    // Clients overlap back to back: the count never drops to zero.
    const churn = (): void => {
      const next = io.clientStarted();
      end();
      end = next;
    };
    t.advance(19);
    churn();
    await flush();
    expect(steps.map((s) => s.done)).toEqual([false, false]);
    t.advance(1);
    await flush();
    expect(steps.map((s) => s.done)).toEqual([true, true]);
    expect(io.counters.repairByQuantum).toBe(2);
    // Within the window, steps run at once although a client is in flight.
    t.advance(4);
    expect(io.admitRepair()).toBeNull();
    churn();
    // After it, they wait again, for one quantum at most.
    t.advance(2);
    const later = track(io.admitRepair());
    t.advance(19);
    await flush();
    expect(later.done).toBe(false);
    t.advance(1);
    await flush();
    expect(later.done).toBe(true);
    expect(t.pending()).toBe(0);
    end();
  });

  it('gives repair shareMin of its rate while clients are active, back to 1 over rampMs of quiet', () => {
    const t = new ManualTime();
    const io = new IoPriority({ clock: t, timers: t }, { shareMin: 0.2, rampMs: 1000 });
    expect(io.repairShare()).toBe(1); // never a client
    const end = io.clientStarted();
    expect(io.repairShare()).toBe(0.2);
    t.advance(5000);
    expect(io.repairShare()).toBe(0.2); // still in flight, however long
    end();
    expect(io.repairShare()).toBeCloseTo(0.2);
    t.advance(500);
    expect(io.repairShare()).toBeCloseTo(0.6);
    t.advance(500);
    expect(io.repairShare()).toBe(1);
    t.advance(10_000);
    expect(io.repairShare()).toBe(1);
  });

  it('paced() passes a stream on piece by piece, each piece after the client requests in flight', async () => {
    const t = new ManualTime();
    const io = new IoPriority({ clock: t, timers: t }, { quantumMs: 20 });
    async function* src(): AsyncGenerator<number> {
      yield 1;
      yield 2;
    }
    const got: number[] = [];
    const end = io.clientStarted();
    const all = (async () => {
      for await (const n of io.paced(src())) got.push(n);
    })();
    await flush();
    expect(got).toEqual([]);
    end();
    await all;
    expect(got).toEqual([1, 2]);
  });
});

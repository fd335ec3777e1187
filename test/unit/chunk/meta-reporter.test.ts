import { describe, expect, it } from 'vitest';
import { MetaReporter, type ReporterSession, type ReporterStore } from '../../../src/chunk/meta-reporter.js';
import { CairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

/** What the leader answers each service method, in the shapes of proto/meta-answers.ts. */
function answer(method: string, beat: { needReport: boolean; registered: boolean }, commands: () => unknown[] = () => []): unknown {
  switch (method) {
    case 'cs.register':
      return { ringVersion: 1 };
    case 'cs.heartbeat':
      return { ...beat, commands: [] };
    case 'cs.update':
    case 'cs.work':
      return { commands: commands() };
    case 'cs.reportEnd':
      return { dropped: 0 };
    case 'cs.scrubReport':
      return { active: true };
    default:
      return {};
  }
}

/** A scripted leader: records calls, answers heartbeats as told, fails calls on demand. */
class Leader implements ReporterSession {
  calls: Array<[string, Record<string, unknown>]> = [];
  needReport = true;
  registered = true;
  failNext = new Set<string>();
  /** Commands the next cs.update answer carries. */
  updateCommands: unknown[] = [];
  /** Calls in progress right now (the reporter must never overlap them). */
  inFlight = 0;
  overlapped = false;
  async call(method: string, body: unknown): Promise<unknown> {
    this.calls.push([method, body as Record<string, unknown>]);
    if (++this.inFlight > 1) this.overlapped = true;
    try {
      await new Promise((r) => setImmediate(r));
      if (this.failNext.delete(method)) throw new CairnError('Unavailable', 'leader lost');
      return answer(method, { needReport: this.needReport, registered: this.registered }, () => {
        const commands = this.updateCommands;
        this.updateCommands = [];
        return commands;
      });
    } finally {
      this.inFlight--;
    }
  }
  methods(): string[] {
    return this.calls.map(([m]) => m);
  }
}

const store = (ids: string[]): ReporterStore => ({
  space: async () => ({ capacityBytes: 100, freeBytes: 60, usedBytes: 40, chunks: ids.length, full: false }),
  list: async function* () {
    yield* ids;
  },
});

function reporter(leader: Leader, ids: string[], now: { ms: number }, fullReportMs = 600_000, onCommands?: (c: unknown[]) => void) {
  return new MetaReporter(
    {
      session: leader,
      store: store(ids),
      clock: { nowMs: () => now.ms },
      timers: { setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) },
      logger: silentLogger,
      ...(onCommands ? { onCommands } : {}),
    },
    { addr: '127.0.0.1:1', zone: 'z', reportPageIds: 2, fullReportMs },
  );
}

// beat() is private: drive it the way the timer does.
const beat = (r: MetaReporter) => (r as unknown as { beat(): Promise<void> }).beat();

describe('MetaReporter', () => {
  it('tells the leader with each heartbeat whether repair is idle', async () => {
    const leader = new Leader();
    let idle = true;
    const r = new MetaReporter(
      {
        session: leader,
        store: store([]),
        clock: { nowMs: () => 0 },
        timers: { setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) },
        logger: silentLogger,
        repairIdle: () => idle,
      },
      { addr: '127.0.0.1:1', zone: 'z' },
    );
    await beat(r);
    idle = false;
    await beat(r);
    expect(leader.calls.filter(([m]) => m === 'cs.heartbeat').map(([, b]) => b.repairIdle)).toEqual([true, false]);
  });

  it('refuses a malformed heartbeat answer as a failed beat, acting on none of it', async () => {
    const leader = new Leader();
    const got: unknown[][] = [];
    const r = reporter(leader, ['a'], { ms: 0 }, 600_000, (c) => got.push(c));
    const call = leader.call.bind(leader);
    leader.call = async (method, body) => (method === 'cs.heartbeat' ? { needReport: 'yes', registered: true, commands: [{ op: 'delete', id: 'a' }] } : call(method, body));
    await beat(r);
    expect(leader.methods()).toEqual(['cs.register']);
    expect(r.counters).toMatchObject({ heartbeats: 0, fullReports: 0, failures: 1 });
    expect(got).toEqual([]);
  });

  it('registers, heartbeats, and sends a paged full report when the leader asks', async () => {
    const leader = new Leader();
    const r = reporter(leader, ['a', 'b', 'c'], { ms: 0 });
    await beat(r);
    expect(leader.methods()).toEqual(['cs.register', 'cs.heartbeat', 'cs.reportBegin', 'cs.reportPage', 'cs.reportPage', 'cs.reportEnd']);
    expect(leader.calls.filter(([m]) => m === 'cs.reportPage').map(([, b]) => b.ids)).toEqual([['a', 'b'], ['c']]);
    expect(leader.calls[1]![1]).toMatchObject({ usedBytes: 40, capacityBytes: 100, freeBytes: 60, chunks: 3, full: false });
    expect(r.isRegistered()).toBe(true);
  });

  it('sends incremental changes between full reports, and keeps them when the call fails', async () => {
    const leader = new Leader();
    const now = { ms: 0 };
    const r = reporter(leader, [], now);
    await beat(r);
    leader.needReport = false;
    leader.calls = [];
    r.chunkAdded('x');
    r.chunkAdded('y');
    r.chunkRemoved('x');
    leader.failNext.add('cs.update');
    await beat(r);
    await beat(r);
    const updates = leader.calls.filter(([m]) => m === 'cs.update').map(([, b]) => b);
    expect(updates).toEqual([
      { added: ['y'], removed: ['x'] },
      { added: ['y'], removed: ['x'] },
    ]);
    expect(r.counters.failures).toBe(1);
  });

  it('re-registers when the map no longer knows it, and reports in full periodically', async () => {
    const leader = new Leader();
    const now = { ms: 0 };
    const r = reporter(leader, ['a'], now, 1000);
    await beat(r);
    leader.needReport = false;
    leader.registered = false;
    await beat(r);
    expect(r.isRegistered()).toBe(false);
    leader.registered = true;
    leader.calls = [];
    await beat(r);
    expect(leader.methods()).toEqual(['cs.register', 'cs.heartbeat']);
    now.ms = 1500;
    leader.calls = [];
    await beat(r);
    expect(leader.methods()).toEqual(['cs.heartbeat', 'cs.reportBegin', 'cs.reportPage', 'cs.reportEnd']);
  });

  it('reportSoon sends the pending changes at once, coalesced, never overlapping a beat, and passes on the work in the answer', async () => {
    const leader = new Leader();
    const got: unknown[][] = [];
    const r = reporter(leader, [], { ms: 0 }, 600_000, (c) => got.push(c));
    const inTurn = (fn: () => Promise<void>) => (r as unknown as { exclusive(fn: () => Promise<void>): Promise<void> }).exclusive(fn);
    r.chunkAdded('early');
    r.reportSoon(); // not registered yet: nothing is sent
    await inTurn(() => beat(r));
    expect(leader.methods()).toEqual(['cs.register', 'cs.heartbeat', 'cs.reportBegin', 'cs.reportEnd']);
    leader.needReport = false;
    leader.calls = [];
    r.chunkAdded('a');
    r.reportSoon();
    r.chunkAdded('b');
    r.reportSoon(); // coalesced with the first
    leader.updateCommands = [{ op: 'copy', id: 'next' }];
    // a beat started meanwhile waits its turn
    await inTurn(() => beat(r));
    expect(leader.overlapped).toBe(false);
    const updates = leader.calls.filter(([m]) => m === 'cs.update').map(([, x]) => x);
    expect(updates).toEqual([{ added: ['a', 'b'], removed: [] }]);
    expect(leader.methods()).toEqual(['cs.update', 'cs.heartbeat']);
    expect(got).toEqual([[{ op: 'copy', id: 'next' }]]);
  });

  it('polls the leader for work (cs.work) beside the beats, passes it on, retries after a failure, and stops', async () => {
    // A leader that holds each poll briefly, answers one with work, and fails one.
    const polls: Array<{ waitMs: unknown; timeoutMs: unknown }> = [];
    let beats = 0;
    let answered = 0;
    const session: ReporterSession = {
      async call(method, body, opts) {
        if (method === 'cs.heartbeat') beats++;
        if (method !== 'cs.work') return answer(method, { needReport: false, registered: true });
        polls.push({ waitMs: (body as { waitMs: unknown }).waitMs, timeoutMs: opts?.timeoutMs });
        await new Promise((r) => setTimeout(r, 5));
        answered++;
        if (answered === 2) throw new CairnError('Unavailable', 'leader lost');
        return { commands: answered === 3 ? [{ op: 'delete', id: 'x' }] : [] };
      },
    };
    const got: unknown[][] = [];
    const r = new MetaReporter(
      {
        session,
        store: store([]),
        clock: { nowMs: () => 0 },
        timers: {
          setTimeout: (fn, ms) => {
            const t = setTimeout(fn, Math.min(ms, 10)); // the retry pause, shortened
            return { cancel: () => clearTimeout(t) };
          },
          setInterval: () => ({ cancel() {} }), // beats only the one start() sends
        },
        logger: silentLogger,
        onCommands: (c) => got.push(c),
      },
      { addr: '127.0.0.1:1', zone: 'z', heartbeatMs: 60_000, workWaitMs: 7000 },
    );
    r.start();
    const deadline = Date.now() + 5000;
    while (r.counters.workPolls < 4 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 5));
    await r.stop();
    await r.pollEnded();
    const after = polls.length;
    await new Promise((x) => setTimeout(x, 50));
    expect(beats).toBe(1);
    expect(r.counters.workPolls).toBeGreaterThanOrEqual(4);
    expect(polls.length).toBe(after); // stopped: no more polls
    expect(polls[0]).toEqual({ waitMs: 7000, timeoutMs: 12_000 });
    expect(got).toEqual([[{ op: 'delete', id: 'x' }]]);
  });

  it('does not poll for work when workWaitMs is 0', async () => {
    const leader = new Leader();
    const r = new MetaReporter(
      { session: leader, store: store([]), clock: { nowMs: () => 0 }, timers: { setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) }, logger: silentLogger },
      { addr: '127.0.0.1:1', zone: 'z', workWaitMs: 0 },
    );
    r.start();
    await r.stop();
    await r.pollEnded();
    expect(leader.methods()).not.toContain('cs.work');
  });

  it('hands scrub commands to onScrub and the rest to onCommands, and sends scrub reports', async () => {
    const leader = new Leader();
    const scrubs: unknown[] = [];
    const work: unknown[][] = [];
    const r = new MetaReporter(
      {
        session: leader,
        store: store([]),
        clock: { nowMs: () => 0 },
        timers: { setTimeout: () => ({ cancel() {} }), setInterval: () => ({ cancel() {} }) },
        logger: silentLogger,
        onCommands: (c) => work.push(c),
        onScrub: (c) => scrubs.push(c),
      },
      { addr: '127.0.0.1:1', zone: 'z', reportPageIds: 2 },
    );
    await beat(r); // registers and reports in full
    leader.needReport = false;
    r.chunkAdded('a'.repeat(32));
    leader.updateCommands = [{ op: 'scrub', round: '4-1', bytesPerSecMax: 0 }, { op: 'delete', id: 'x' }, { op: 'scrub', round: '' }];
    await beat(r);
    expect(scrubs).toEqual([{ round: '4-1', bytesPerSecMax: 0 }]);
    expect(work).toEqual([[{ op: 'delete', id: 'x' }]]);
    // Only scrub commands: onCommands is not called with nothing.
    r.chunkAdded('b'.repeat(32));
    leader.updateCommands = [{ op: 'scrub', round: '4-2', bytesPerSecMax: 5 }];
    await beat(r);
    expect(scrubs).toHaveLength(2);
    expect(work).toHaveLength(1);
    const page = { round: '4-1', page: 1, verified: [], corrupt: [], done: false };
    leader.calls = [];
    expect(await r.scrubReport(page)).toBe(true);
    expect(leader.calls).toEqual([['cs.scrubReport', page]]);
  });
});

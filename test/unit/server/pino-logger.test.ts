/** The JSON log lines: each key once (bindings merged, colliding fields renamed), ISO times, level names. */
import { describe, expect, it } from 'vitest';
import type { Timers } from '../../../src/env/clock.js';
import { batchedLines, LOG_BATCH_CHARS, LOG_LINGER_MS, pinoLogger } from '../../../src/server/pino-logger.js';
import { rawKeys, repeatedKeys } from '../../support/json-lines.js';

function capture(): { lines: string[]; dest: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, dest: { write: (s: string) => void lines.push(...s.split('\n').filter((l) => l !== '')) } };
}

describe('pinoLogger', () => {
  it('writes each key once: a child rebinding a key replaces it, a colliding field is renamed <key>_', () => {
    const { lines, dest } = capture();
    const root = pinoLogger({ node: 'm1', role: 'meta' }, 'debug', dest);
    const log = root.child({ node: 'm1' }).child({ component: 'peer-transport' }).child({ component: 'raft' });
    log.info('role change', { role: 'pre-candidate', term: 3, component: 'z' });
    root.warn('odd fields', { msg: 'm', time: 1, level: 2, pid: 3 });
    log.debug('plain');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(repeatedKeys(line), line).toEqual([]);
    expect(rawKeys('{"a":1,"b":{"a":2},"a":"x\\"y","c":[{"a":3}]}')).toEqual(['a', 'b', 'a', 'c']);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'info', node: 'm1', role: 'meta', component: 'raft', role_: 'pre-candidate', component_: 'z', term: 3, msg: 'role change' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', msg: 'odd fields', msg_: 'm', time_: 1, level_: 2, pid_: 3 });
    expect(JSON.parse(lines[2]!)).toMatchObject({ level: 'debug', component: 'raft', msg: 'plain' });
  });

  it('stamps ISO-8601 UTC times and level names', () => {
    const { lines, dest } = capture();
    const log = pinoLogger({ role: 'gateway' }, 'info', dest);
    log.info('a');
    log.error('b');
    log.debug('dropped below the level');
    expect(lines).toHaveLength(2);
    const [a, b] = lines.map((l) => JSON.parse(l) as { level: unknown; time: unknown });
    expect([a!.level, b!.level]).toEqual(['info', 'error']);
    expect(a!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(a!.time as string) - Date.now())).toBeLessThan(60_000);
  });
});

describe('batchedLines', () => {
  function rig(): { sink: { writes: string[]; syncs: number; write(t: string): void; flushSync(): void }; timers: { pending: Array<{ fn: () => void; ms: number; cancelled: boolean }> } & Timers } {
    const sink = {
      writes: [] as string[],
      syncs: 0,
      write(t: string) {
        this.writes.push(t);
      },
      flushSync() {
        this.syncs++;
      },
    };
    const pending: Array<{ fn: () => void; ms: number; cancelled: boolean }> = [];
    const timers = {
      pending,
      setTimeout(fn: () => void, ms: number) {
        const t = { fn, ms, cancelled: false };
        pending.push(t);
        return { cancel: () => void (t.cancelled = true) };
      },
      setInterval(): { cancel(): void } {
        throw new Error('not used');
      },
    };
    return { sink, timers };
  }
  const fire = (timers: { pending: Array<{ fn: () => void; cancelled: boolean }> }): void => {
    const live = timers.pending.filter((t) => !t.cancelled);
    timers.pending.length = 0;
    for (const t of live) t.fn();
  };

  it('gathers info lines into one write within the linger time, with one timer for the batch', () => {
    const { sink, timers } = rig();
    const log = pinoLogger({ role: 'gateway' }, 'info', batchedLines(sink, timers, LOG_LINGER_MS));
    for (let i = 0; i < 20; i++) log.info('http', { i });
    expect(sink.writes).toEqual([]);
    expect(timers.pending.map((t) => t.ms)).toEqual([LOG_LINGER_MS]);
    fire(timers);
    expect(sink.writes).toHaveLength(1);
    const lines = sink.writes[0]!.split('\n').filter((l) => l !== '');
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(20).keys()]);
    // Nothing gathered: the next line starts a new timer, and an idle logger has none.
    fire(timers);
    expect(sink.writes).toHaveLength(1);
    log.info('later');
    expect(timers.pending).toHaveLength(1);
  });

  it('writes at once on a warn or error line (with the lines before it) and when the batch is full', () => {
    const { sink, timers } = rig();
    const log = pinoLogger({ role: 'meta' }, 'info', batchedLines(sink, timers, LOG_LINGER_MS));
    log.info('a');
    log.warn('b');
    expect(sink.writes).toHaveLength(1);
    expect(sink.writes[0]!.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['a', 'b']);
    expect(timers.pending.every((t) => t.cancelled)).toBe(true);
    log.error('c');
    expect(sink.writes).toHaveLength(2);
    const long = 'x'.repeat(1000);
    let n = 0;
    while (sink.writes.length === 2) {
      log.info(long);
      n++;
    }
    expect(n * 1000).toBeGreaterThanOrEqual(LOG_BATCH_CHARS - 2000);
    expect(n * 1000).toBeLessThanOrEqual(LOG_BATCH_CHARS);
  });

  it('flushSync writes what is gathered, then the sink’s own buffer', () => {
    const { sink, timers } = rig();
    const dest = batchedLines(sink, timers, LOG_LINGER_MS);
    const log = pinoLogger({ role: 'chunk' }, 'info', dest);
    log.info('last words');
    dest.flushSync();
    expect(sink.writes).toHaveLength(1);
    expect(sink.writes[0]).toContain('last words');
    expect(sink.syncs).toBe(1);
  });
});

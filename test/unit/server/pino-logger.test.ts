/** The JSON log lines: each key once (bindings merged, colliding fields renamed), ISO times, level names. */
import { describe, expect, it } from 'vitest';
import { pinoLogger } from '../../../src/server/pino-logger.js';
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

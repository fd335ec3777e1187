import { describe, expect, it } from 'vitest';
import { LeaderForwarder, type ForwardConn } from '../../../src/leader/leader-forwarder.js';
import { CairnError } from '../../../src/util/errors.js';

const notLeader = (): CairnError => new CairnError('NotLeader', 'not the leader; the leader is m1', { leader: 'm1', leaderAddr: '127.0.0.1:7001' });

function setup(o: { contactMs?: number | null; answer?: (method: string, body: unknown) => Promise<unknown> } = {}) {
  const calls: Array<{ addr: string; method: string; body: unknown; timeoutMs: number | undefined }> = [];
  const closed: string[] = [];
  const f = new LeaderForwarder(
    {
      dial: (addr): ForwardConn => ({
        call: (method, body, opts) => {
          calls.push({ addr, method, body, timeoutMs: opts?.timeoutMs });
          return o.answer ? o.answer(method, body) : Promise.resolve({ forwarded: method });
        },
        close: () => closed.push(addr),
      }),
      leaderContactMs: () => (o.contactMs === undefined ? 40 : o.contactMs),
    },
    { leaderContactMsMax: 500, timeoutMs: 4000 },
  );
  return { f, calls, closed };
}

const failing = (err: unknown) => (): Promise<unknown> => Promise.reject(err);

describe('LeaderForwarder', () => {
  it('a local answer is returned as is, nothing forwarded', async () => {
    const { f, calls } = setup();
    expect(await f.handle('fs.stat', { path: '/a' }, { role: 'client' }, () => Promise.resolve({ local: true }))).toEqual({ local: true });
    expect(calls).toEqual([]);
  });

  it("a client's call refused with NotLeader goes to the leader's address, with the forward timeout", async () => {
    const { f, calls } = setup();
    expect(await f.handle('fs.mkdir', { path: '/d' }, { role: 'client' }, failing(notLeader()))).toEqual({ forwarded: 'fs.mkdir' });
    expect(calls).toEqual([{ addr: '127.0.0.1:7001', method: 'fs.mkdir', body: { path: '/d' }, timeoutMs: 4000 }]);
  });

  it('never forwards a service call (chunk servers, or another server forwarding): no loops', async () => {
    const { f, calls } = setup();
    await expect(f.handle('fs.stat', {}, { role: 'service', id: 'm2' }, failing(notLeader()))).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(f.handle('cs.heartbeat', {}, { role: 'service', id: 'c1' }, failing(notLeader()))).rejects.toMatchObject({ code: 'NotLeader' });
    expect(calls).toEqual([]);
  });

  it('answers NotLeader at once when this follower has not heard from the leader lately, or knows no address', async () => {
    for (const contactMs of [null, 501]) {
      const { f, calls } = setup({ contactMs });
      await expect(f.handle('fs.stat', {}, { role: 'client' }, failing(notLeader()))).rejects.toMatchObject({ code: 'NotLeader' });
      expect(calls).toEqual([]);
    }
    const { f, calls } = setup();
    await expect(f.handle('fs.stat', {}, { role: 'client' }, failing(new CairnError('NotLeader', 'no leader known', { leader: null, leaderAddr: null })))).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(f.handle('fs.stat', {}, { role: 'client' }, failing(new CairnError('NotFound', 'no such file')))).rejects.toMatchObject({ code: 'NotFound' });
    expect(calls).toEqual([]);
  });

  it('a forward that never connected answers the original NotLeader (not applied); a timeout stays a Timeout (outcome unknown)', async () => {
    const original = notLeader();
    const a = setup({ answer: () => Promise.reject(new CairnError('Unavailable', 'connect ECONNREFUSED', { connectFailed: true })) });
    await expect(a.f.handle('fs.rm', {}, { role: 'client' }, failing(original))).rejects.toBe(original);
    expect(a.closed).toEqual(['127.0.0.1:7001']);
    const b = setup({ answer: () => Promise.reject(new CairnError('Timeout', 'no answer within 4000 ms')) });
    await expect(b.f.handle('fs.rm', {}, { role: 'client' }, failing(notLeader()))).rejects.toMatchObject({ code: 'Timeout' });
    const c = setup({ answer: () => Promise.reject(new CairnError('AlreadyExists', 'exists')) });
    await expect(c.f.handle('fs.mkdir', {}, { role: 'client' }, failing(notLeader()))).rejects.toMatchObject({ code: 'AlreadyExists' });
  });

  it('reuses one connection per leader address until closed', async () => {
    const { f, calls, closed } = setup();
    await f.handle('fs.stat', {}, { role: 'client' }, failing(notLeader()));
    await f.handle('fs.stat', {}, { role: 'client' }, failing(notLeader()));
    expect(calls).toHaveLength(2);
    f.close();
    expect(closed).toEqual(['127.0.0.1:7001']);
    await expect(f.handle('fs.stat', {}, { role: 'client' }, failing(notLeader()))).rejects.toMatchObject({ code: 'NotLeader' });
  });
});

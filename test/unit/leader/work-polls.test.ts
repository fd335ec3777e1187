/** The cs.work long poll: answered when a scan plans work, superseded, released on close, on timeout and when the term ends. */
import { describe, expect, it } from 'vitest';
import { harness, server, settled, type Harness } from './helpers.js';

const X = 'cd'.repeat(16);
const S = ['client-1', 1, 0];

/** Three servers, R = 3, and a file whose one chunk only c1 and c2 hold: a scan plans a copy to c3. */
async function shortChunk(): Promise<Harness> {
  const h = harness({ repair: { missingGraceMs: 0 } });
  await h.joinServers(['c1', 'c2', 'c3'], { c1: [X], c2: [X] });
  await h.call('fs.commit', { path: '/f', size: 1, etag: 'e', chunks: [[X, 1, 0]], s: S });
  return h;
}

const COPY = { op: 'copy', id: X, sources: [{ id: 'c1', addr: 'c1.chunk:8000' }, { id: 'c2', addr: 'c2.chunk:8000' }], token: `read:${X}` };

describe('cs.work', () => {
  it('is held while there is no work, and answered with the work as soon as a scan plans it', async () => {
    const h = await shortChunk();
    const poll = h.call('cs.work', { waitMs: 20_000 }, server('c3'));
    const idle = h.call('cs.work', { waitMs: 20_000 }, server('c1'));
    expect(await settled(poll)).toBe(false);
    h.leader.tick();
    expect(await poll).toEqual({ commands: [COPY] });
    // c1 has nothing to do: its poll stays held until its wait ends.
    expect(await settled(idle)).toBe(false);
    h.time.advance(19_999);
    expect(await settled(idle)).toBe(false);
    h.time.advance(1);
    expect(await idle).toEqual({ commands: [] });
    expect(await h.call('cluster.repair')).toMatchObject({ copiesScheduled: 1, copiesInFlight: 1 });
  });

  it('answers at once when work is queued, and never waits with waitMs 0', async () => {
    const h = await shortChunk();
    expect(await h.call('cs.work', { waitMs: 0 }, server('c3'))).toEqual({ commands: [] });
    h.leader.tick();
    expect(await h.call('cs.work', { waitMs: 20_000 }, server('c3'))).toEqual({ commands: [COPY] });
    expect(h.time.pending()).toBe(0);
  });

  it('a newer poll from the same server supersedes the held one (answered with no work)', async () => {
    const h = await shortChunk();
    const first = h.call('cs.work', { waitMs: 20_000 }, server('c3'));
    const second = h.call('cs.work', { waitMs: 20_000 }, server('c3'));
    expect(await first).toEqual({ commands: [] });
    expect(await settled(second)).toBe(false);
    h.leader.tick();
    expect(await second).toEqual({ commands: [COPY] });
  });

  it('a poll whose connection closed is released, and nothing is handed out in it', async () => {
    const h = await shortChunk();
    const conn = new AbortController();
    const poll = h.call('cs.work', { waitMs: 20_000 }, server('c3'), conn.signal);
    conn.abort();
    expect(await poll).toEqual({ commands: [] });
    expect(h.time.pending()).toBe(0);
    h.leader.tick();
    expect(await h.call('cluster.repair')).toMatchObject({ copiesScheduled: 0, copiesQueued: 1 });
    // The work is still there for the server's next poll.
    expect(await h.call('cs.work', { waitMs: 0 }, server('c3'))).toEqual({ commands: [COPY] });
    // A poll arriving on a connection already closed is not held at all.
    const closed = new AbortController();
    closed.abort();
    expect(await h.call('cs.work', { waitMs: 20_000 }, server('c2'), closed.signal)).toEqual({ commands: [] });
    expect(h.time.pending()).toBe(0);
  });

  it('is released when leadership is lost, found by the ticker or by the next call', async () => {
    const h = await shortChunk();
    const a = h.call('cs.work', { waitMs: 20_000 }, server('c3'));
    h.raft.stepDown();
    h.leader.tick();
    expect(await a).toEqual({ commands: [] });

    h.raft.elect();
    await h.joinServers(['c1', 'c2', 'c3'], { c1: [X], c2: [X] });
    const b = h.call('cs.work', { waitMs: 20_000 }, server('c3'));
    h.raft.elect(); // a newer term: the next call finds it and drops the old one
    await expect(h.call('cluster.repair')).resolves.toMatchObject({ reportsPending: ['c1', 'c2', 'c3'] });
    expect(await b).toEqual({ commands: [] });
    expect(h.time.pending()).toBe(0);
  });
});

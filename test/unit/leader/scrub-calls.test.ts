/**
 * `cairn scrub` through the leader's RPC: cluster.scrub starts a round over the live servers
 * (answering a held work poll with the command at once, and every heartbeat until the server
 * reports), cs.scrubReport takes corrupt and missing replicas out of the location map so repair
 * sees them short, the round is done once they are back, and cluster.repair carries its counters.
 */
import { describe, expect, it } from 'vitest';
import { harness, server } from './helpers.js';

const X = '1'.repeat(32);
const Y = '2'.repeat(32);
const beatBody = { usedBytes: 1, capacityBytes: 2 ** 40, freeBytes: 2 ** 39, chunks: 2, full: false };

async function cluster() {
  const h = harness();
  await h.joinServers(['c1', 'c2', 'c3'], { c1: [X, Y], c2: [X, Y], c3: [X, Y] });
  await h.call('fs.commit', { path: '/f', size: 2, etag: 'e', chunks: [[X, 1, 0], [Y, 1, 0]], s: ['client-1', 1, 0] });
  return h;
}

describe('scrub rounds through the leader', () => {
  it('starts a round, reaches the servers through polls and heartbeats, counts corrupt and missing, and is done once repaired', async () => {
    const h = await cluster();
    const poll = h.call('cs.work', { waitMs: 5000 }, server('c2'));
    const started = (await h.call('cluster.scrub', {})) as { round: string; state: string; servers: Array<{ id: string; expected: number }> };
    expect(started).toMatchObject({ state: 'running', checked: 0 });
    expect(started.servers.map((s) => [s.id, s.expected])).toEqual([['c1', 2], ['c2', 2], ['c3', 2]]);
    const command = { op: 'scrub', round: started.round, bytesPerSecMax: 0 };
    expect(await poll).toEqual({ commands: [command] });
    expect(((await h.call('cs.heartbeat', beatBody, server('c1'))) as { commands: unknown[] }).commands).toEqual([command]);
    // The same request joins the running round.
    expect(((await h.call('cluster.scrub', {})) as { round: string }).round).toBe(started.round);

    const report = (id: string, page: number, verified: string[], corrupt: string[], done: boolean) => h.call('cs.scrubReport', { round: started.round, page, verified, corrupt, done }, server(id));
    expect(await report('c1', 1, [X], [], false)).toEqual({ active: true });
    expect(((await h.call('cs.heartbeat', beatBody, server('c1'))) as { commands: unknown[] }).commands).toEqual([]);
    expect(await report('c1', 2, [], [], true)).toEqual({ active: false }); // Y: missing on c1
    await report('c2', 1, [X], [Y], true); // Y: corrupt on c2
    await report('c3', 1, [X, Y], [], true);
    // Both bad replicas stopped counting at once: Y has one verified copy left.
    expect(((await h.call('fs.stat', { path: '/f' })) as { chunks: Array<{ replicas: string[] }> }).chunks[1]!.replicas).toEqual(['c3']);
    expect(await h.call('cluster.scrubStatus', { round: started.round })).toMatchObject({ state: 'running', checked: 5, corrupt: 1, missing: 1, repaired: 0 });
    expect(await h.call('cluster.repair')).toMatchObject({ scrubRunning: 1, scrubChecked: 5, scrubCorrupt: 1, scrubMissing: 1, scrubExpected: 6 });
    // Repair copies Y back to c1 and c2 (reported as any new replica): the round is done.
    await h.call('cs.update', { added: [Y] }, server('c1'));
    expect(await h.call('cluster.scrubStatus', {})).toMatchObject({ state: 'running', repaired: 0 });
    await h.call('cs.update', { added: [Y] }, server('c2'));
    expect(await h.call('cluster.scrubStatus', {})).toMatchObject({ state: 'done', checked: 5, corrupt: 1, missing: 1, repaired: 2, unrepairable: 0 });
    expect(await h.call('cluster.repair')).toMatchObject({ scrubRounds: 1, scrubRunning: 0, scrubRepaired: 2 });
  });

  it('scrubs one server only, refuses unknown or dead ones, and waits for the full reports of a new term', async () => {
    const h = await cluster();
    const one = (await h.call('cluster.scrub', { server: 'c2' })) as { servers: Array<{ id: string }> };
    expect(one.servers.map((s) => s.id)).toEqual(['c2']);
    expect(((await h.call('cs.heartbeat', beatBody, server('c1'))) as { commands: unknown[] }).commands).toEqual([]);
    expect((await h.refusal('cluster.scrub', { server: 'c9' })).code).toBe('NotFound');
    expect((await h.refusal('cluster.scrub', {})).code).toBe('PreconditionFailed'); // overlaps the running round on c2
    h.time.advance(11_000); // every server silent past deadAfterMs
    expect(await h.call('cluster.scrubStatus', {})).toMatchObject({ state: 'failed', error: expect.stringMatching(/c2/) as unknown });
    expect((await h.refusal('cluster.scrub', { server: 'c1' })).code).toBe('PreconditionFailed');
    h.raft.elect();
    await h.call('cs.heartbeat', beatBody, server('c1'));
    const e = await h.refusal('cluster.scrub', { server: 'c1' });
    expect(e.code).toBe('Unavailable');
    expect(e.message).toMatch(/chunk reports/);
    expect((await h.refusal('cluster.scrubStatus', {})).code).toBe('NotFound'); // the new term knows no round
  });
});

/** ClientCore.close(): tracked streams and later ones fail with Closed; request ids are unique per client. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ClientCore, type ChunkTransport, type MetaCaller } from '../../../src/client/client-core.js';
import { systemClock, systemTimers } from '../../../src/env/system.js';
import { isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

function core(): { core: ClientCore; closed: string[] } {
  const closed: string[] = [];
  const meta: MetaCaller = { call: async () => ({}), close: () => void closed.push('meta') };
  const chunks = { putChunk: async () => ({ ok: true, results: [] }), getChunk: async () => ({}), close: () => void closed.push('chunks') } as unknown as ChunkTransport;
  return { core: new ClientCore({ meta, chunks, timers: systemTimers, clock: systemClock, logger: silentLogger }, { clientId: 'c1', inlineBytesMax: 0, chunkBuffersKeptMax: 4, readAheadMax: 3 }), closed };
}

const errorOf = (s: PassThrough): Promise<unknown> => new Promise((resolve) => s.once('error', resolve));

describe('ClientCore', () => {
  it('close() destroys every stream still open with Closed, drops its idle chunk buffers, then closes its transports', async () => {
    const { core: c, closed } = core();
    c.chunkBuffers.give(c.chunkBuffers.take(1_000));
    expect(c.chunkBuffers.idleCount).toBe(1);
    const open = new PassThrough();
    const done = new PassThrough();
    c.track(open);
    c.track(done);
    done.destroy();
    await new Promise((r) => done.once('close', r));
    const failed = errorOf(open);
    c.close();
    expect(isCairnError(await failed, 'Closed')).toBe(true);
    expect(closed).toEqual(['meta', 'chunks']);
    expect(c.chunkBuffers.idleCount).toBe(0);
  });

  it('a stream made after close() is destroyed with Closed on the next turn (its handlers attached first)', async () => {
    const { core: c } = core();
    c.close();
    const late = new PassThrough();
    c.track(late);
    expect(late.destroyed).toBe(false);
    expect(isCairnError(await errorOf(late), 'Closed')).toBe(true);
  });

  it('many tracked streams that closed leave nothing behind to destroy', async () => {
    const { core: c } = core();
    const streams = Array.from({ length: 200 }, () => new PassThrough());
    for (const s of streams) c.track(s);
    await Promise.all(streams.map((s) => new Promise((r) => (s.once('close', r), s.destroy()))));
    const last = new PassThrough();
    c.track(last);
    const failed = errorOf(last);
    c.close();
    expect(isCairnError(await failed, 'Closed')).toBe(true);
  });

  it('request ids are unique per client and carry its id', () => {
    const { core: c } = core();
    const ids = new Set(Array.from({ length: 100 }, () => c.newRequestId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^c1-r\d+$/);
  });

  it('sleep() ends at once when its signal aborts (a write backing off before a retry stops on Ctrl-C), else after its time', async () => {
    const { core: c } = core();
    const ac = new AbortController();
    const t0 = Date.now();
    const slept = c.sleep(5000, ac.signal);
    setTimeout(() => ac.abort(), 20);
    await slept;
    expect(Date.now() - t0).toBeLessThan(2000);
    const t1 = Date.now();
    await c.sleep(50, new AbortController().signal);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(45);
    await c.sleep(5000, AbortSignal.abort()); // already aborted: no wait
  });
});

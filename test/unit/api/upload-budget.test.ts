/**
 * UploadBudget (issue 17, finding 6): bytes held by uploads stay within the budget, a full budget
 * refuses new uploads with Unavailable, a waiting upload gives up after the idle timeout, and an
 * upload receiving nothing for the idle timeout fails with Timeout.
 */
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../../src/api/gateway-metrics.js';
import { UploadBudget } from '../../../src/api/upload-budget.js';
import { sleep, systemClock, systemTimers } from '../../../src/env/system.js';

/** A sink that keeps what it gets (as the file writer buffers a chunk). */
function sink(): Writable & { got: number } {
  const w = new Writable({
    write(b: Buffer, _e, cb) {
      w.got += b.length;
      cb();
    },
  }) as Writable & { got: number };
  w.got = 0;
  return w;
}

describe('UploadBudget', () => {
  it('counts received and not yet stored bytes, and refuses new uploads while full', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 1000, idleTimeoutMs: 5000 });
    const u = b.begin('u1');
    const src = new PassThrough();
    const out = sink();
    const done = pipeline(src, u.meter(), out);
    src.write(Buffer.alloc(600));
    src.write(Buffer.alloc(400));
    await sleep(20);
    expect(b.held()).toBe(1000);
    expect(() => b.begin('u2')).toThrow(expect.objectContaining({ code: 'Unavailable' }) as Error);
    expect(b.counters.refused).toBe(1);
    u.stored(700);
    expect(b.held()).toBe(300);
    b.begin('u3').end();
    src.end();
    await done;
    u.end();
    expect(b.held()).toBe(0);
  });

  it('shows its state in the gateway metrics: bytes held, the maximum, waiting uploads, refusals', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 1000, idleTimeoutMs: 5000 });
    const m = new GatewayMetrics();
    m.watchUploads(b);
    const a = b.begin('a');
    const c = b.begin('c');
    const srcA = new PassThrough();
    const srcC = new PassThrough();
    const doneA = pipeline(srcA, a.meter(), sink());
    const doneC = pipeline(srcC, c.meter(), sink());
    srcA.write(Buffer.alloc(900));
    await sleep(20);
    srcC.write(Buffer.alloc(500)); // waits for room
    await sleep(20);
    expect(() => b.begin('late')).toThrow(expect.objectContaining({ code: 'Unavailable' }) as Error);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^cairn_gateway_upload_buffer_bytes 900$/m);
    expect(text).toMatch(/^cairn_gateway_upload_buffer_bytes_max 1000$/m);
    expect(text).toMatch(/^cairn_gateway_uploads_waiting_for_room 1$/m);
    expect(text).toMatch(/^cairn_gateway_upload_refusals_total 1$/m);
    expect(text).toMatch(/^cairn_gateway_upload_idle_cutoffs_total 0$/m);
    a.stored(900);
    srcA.end();
    srcC.end();
    await Promise.all([doneA, doneC]);
    c.stored(500);
    a.end();
    c.end();
    expect(await m.registry.metrics()).toMatch(/^cairn_gateway_upload_buffer_bytes 0$/m);
  });

  it('makes an upload over the budget wait for room, and go on once another frees it', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 1000, idleTimeoutMs: 5000 });
    const a = b.begin('a');
    const c = b.begin('c');
    const srcA = new PassThrough();
    const srcC = new PassThrough();
    const outC = sink();
    void pipeline(srcA, a.meter(), sink()).catch(() => undefined);
    const doneC = pipeline(srcC, c.meter(), outC);
    srcA.write(Buffer.alloc(900));
    await sleep(20);
    srcC.write(Buffer.alloc(500));
    await sleep(50);
    expect(outC.got).toBe(0);
    expect(b.held()).toBe(900);
    // While one waits, the budget counts as full.
    expect(() => b.begin('d')).toThrow(expect.objectContaining({ code: 'Unavailable' }) as Error);
    a.end();
    await sleep(20);
    expect(outC.got).toBe(500);
    expect(b.held()).toBe(500);
    srcC.end();
    await doneC;
    c.end();
    srcA.destroy();
    expect(b.held()).toBe(0);
  });

  it('fails an upload that waits for room longer than the idle timeout, holding nothing', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 150, idleTimeoutMs: 150 });
    const a = b.begin('a');
    const srcA = new PassThrough();
    void pipeline(srcA, a.meter(), sink()).catch(() => undefined);
    srcA.write(Buffer.alloc(100));
    await sleep(10);
    const c = b.begin('c');
    const srcC = new PassThrough();
    const doneC = pipeline(srcC, c.meter(), sink());
    srcC.write(Buffer.alloc(60));
    await expect(doneC).rejects.toMatchObject({ code: 'Unavailable' });
    c.end();
    expect(b.counters.waitTimeouts).toBe(1);
    a.end();
    expect(b.held()).toBe(0);
  });

  it('cuts off an upload that receives nothing for the idle timeout', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 10_000, idleTimeoutMs: 150 });
    const u = b.begin('the upload');
    const src = new PassThrough();
    const done = pipeline(src, u.meter(), sink());
    src.write(Buffer.alloc(10));
    await sleep(100);
    src.write(Buffer.alloc(10)); // progress resets the clock
    await sleep(100);
    expect(b.counters.idleCutoffs).toBe(0);
    await expect(done).rejects.toMatchObject({ code: 'Timeout' });
    expect(b.counters.idleCutoffs).toBe(1);
    expect(src.destroyed).toBe(true);
    u.end();
    expect(b.held()).toBe(0);
  });

  it('with a limit, fails a body past it with TooLarge and passes one at it', async () => {
    const b = new UploadBudget({ timers: systemTimers, clock: systemClock }, { bytesMax: 10_000, idleTimeoutMs: 5000 });
    const ok = b.begin('the upload');
    const src = new PassThrough();
    const done = pipeline(src, ok.meter({ bytesMax: 100, what: 'the body' }), sink());
    src.end(Buffer.alloc(100));
    await done;
    ok.end();
    const over = b.begin('the upload');
    const src2 = new PassThrough();
    const failed = pipeline(src2, over.meter({ bytesMax: 100, what: 'the body' }), sink());
    src2.write(Buffer.alloc(60));
    src2.end(Buffer.alloc(41));
    await expect(failed).rejects.toMatchObject({ code: 'TooLarge', message: 'the body exceeds 100 bytes' });
    over.end();
    expect(b.held()).toBe(0);
  });
});

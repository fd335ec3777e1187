import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PutFeed } from '../../../src/chunk/request-body.js';

/** A request stand-in: records each write; its callbacks wait until release() (a full socket). */
function slowSink(): { sink: Writable; writes: number[]; release: () => void } {
  const writes: number[] = [];
  const held: Array<() => void> = [];
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.length);
      held.push(() => cb());
    },
  });
  return { sink, writes, release: () => held.splice(0).forEach((f) => f()) };
}

const KiB = 1024;

describe('PutFeed', () => {
  it('gathers socket reads into batches of 256 KiB, asks to wait while the socket is full, and sends the rest at the end', async () => {
    const { sink, writes, release } = slowSink();
    const feed = new PutFeed(() => undefined); // turns never end here: only full batches go out
    feed.attach(sink);
    const waits: Array<Promise<void> | undefined> = [];
    for (let i = 0; i < 4; i++) waits.push(feed.write(Buffer.alloc(64 * KiB, i)));
    // Nothing goes out until a batch is full; the fourth read completes one.
    expect(waits.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(writes.length).toBeGreaterThanOrEqual(1);
    expect(waits[3]).toBeInstanceOf(Promise);
    let drained = false;
    void waits[3]!.then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    while (!drained) {
      release();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(feed.write(Buffer.alloc(10 * KiB))).toBeUndefined();
    const finished = new Promise((r) => sink.once('finish', r));
    feed.end();
    while (writes.reduce((a, b) => a + b, 0) < 266 * KiB) {
      release();
      await new Promise((r) => setTimeout(r, 5));
    }
    release();
    await finished;
    expect(writes.reduce((a, b) => a + b, 0)).toBe(266 * KiB);
  });

  it('a read arriving after end-of-turn sends filled the socket is asked to wait for it to drain (a body trickling in small reads stays bounded)', async () => {
    const { sink, writes, release } = slowSink();
    const turn: Array<() => void> = [];
    const feed = new PutFeed((fn) => turn.push(fn));
    feed.attach(sink);
    // Reads below a batch, each turn's sent at the turn's end: the 16 KiB socket fills.
    for (let i = 0; i < 2; i++) {
      expect(feed.write(Buffer.alloc(8 * KiB, i))).toBeUndefined();
      turn.splice(0).forEach((f) => f());
    }
    expect(sink.writableNeedDrain).toBe(true);
    const wait = feed.write(Buffer.alloc(8 * KiB, 9));
    expect(wait).toBeInstanceOf(Promise);
    let drained = false;
    void wait!.then(() => (drained = true));
    turn.splice(0).forEach((f) => f()); // the waiting read still leaves with its turn
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    while (!drained) {
      release();
      await new Promise((r) => setTimeout(r, 5));
    }
    release();
    expect(writes.reduce((a, b) => a + b, 0)).toBe(24 * KiB);
  });

  it('sends what trickles in at the end of the event-loop turn (or at once without a defer), not when a batch fills', async () => {
    const sent = (): { sink: Writable; bytes: () => number } => {
      let n = 0;
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          n += chunk.length;
          cb();
        },
      });
      return { sink, bytes: () => n };
    };
    const a = sent();
    const turn: Array<() => void> = [];
    const feed = new PutFeed((fn) => turn.push(fn));
    feed.attach(a.sink);
    expect(feed.write(Buffer.alloc(KiB))).toBeUndefined();
    expect(feed.write(Buffer.alloc(2 * KiB))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 5));
    expect(a.bytes()).toBe(0);
    expect(turn.length).toBe(1); // one flush per turn, however many reads
    turn.splice(0).forEach((f) => f());
    await new Promise((r) => setTimeout(r, 5));
    expect(a.bytes()).toBe(3 * KiB);
    const b = sent();
    const undeferred = new PutFeed();
    undeferred.attach(b.sink);
    undeferred.write(Buffer.alloc(KiB));
    await new Promise((r) => setTimeout(r, 5));
    expect(b.bytes()).toBe(KiB);
  });

  it('once the request is gone, a waiting writer is let go and later writes are dropped', async () => {
    const { sink, writes } = slowSink();
    const feed = new PutFeed();
    feed.attach(sink);
    let wait: Promise<void> | undefined;
    for (let i = 0; i < 4; i++) wait = feed.write(Buffer.alloc(64 * KiB));
    expect(wait).toBeInstanceOf(Promise);
    sink.destroy();
    await wait; // resolves: the branch has settled, the body keeps flowing to the others
    const before = writes.length;
    for (let i = 0; i < 8; i++) expect(feed.write(Buffer.alloc(64 * KiB))).toBeUndefined();
    expect(writes.length).toBe(before);
  });
});

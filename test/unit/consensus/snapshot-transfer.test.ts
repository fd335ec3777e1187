import { describe, expect, it } from 'vitest';
import {
  decodeSnapshotFrame,
  encodeSnapshotFrame,
  isSnapshotFrame,
  SNAPSHOT_DONE_SEQ,
  SnapshotReceiver,
  SnapshotSender,
  type SnapshotFrame,
  type SnapshotReader,
  type SnapshotWriter,
} from '../../../src/consensus/snapshot-transfer.js';
import { systemTimers } from '../../../src/env/system.js';
import { pack } from '../../../src/proto/msgpack.js';
import { encodeRaftMessage } from '../../../src/proto/raft-codec.js';
import { silentLogger } from '../../../src/util/logger.js';

const tick = () => new Promise((r) => setImmediate(r));

function recordingWriter(log: string[]): SnapshotWriter {
  return {
    write: async (p) => void log.push(`write ${p.length}`),
    finish: async (i) => void log.push(`finish ${i}`),
    abort: async () => void log.push('abort'),
  };
}

function receiver(sent: SnapshotFrame[], log: string[], delivered: number[]) {
  return new SnapshotReceiver({
    logger: silentLogger,
    send: (_to, p) => {
      sent.push(decodeSnapshotFrame(p));
      return true;
    },
    beginWrite: () => recordingWriter(log),
    snapshotIndexOf: (_from, msg) => {
      if (msg.length !== 1) throw new Error('bad msg');
      return msg[0]!;
    },
    deliver: (_from, msg) => {
      delivered.push(msg[0]!);
      return true;
    },
  });
}

describe('snapshot transfer frames', () => {
  it('round-trips every kind and is told apart from Raft messages', () => {
    const frames: SnapshotFrame[] = [
      { kind: 'piece', transfer: 't1', seq: 3, bytes: Uint8Array.from([1, 2, 3]) },
      { kind: 'done', transfer: 't1', pieces: 4, msg: Uint8Array.from([9]) },
      { kind: 'ack', transfer: 't1', seq: SNAPSHOT_DONE_SEQ },
      { kind: 'fail', transfer: 't1', reason: 'nope' },
    ];
    for (const f of frames) {
      const bytes = encodeSnapshotFrame(f);
      expect(isSnapshotFrame(bytes)).toBe(true);
      const back = decodeSnapshotFrame(bytes);
      expect({ ...back, ...('bytes' in back ? { bytes: [...back.bytes] } : {}), ...('msg' in back ? { msg: [...back.msg] } : {}) }).toEqual({
        ...f,
        ...('bytes' in f ? { bytes: [...f.bytes] } : {}),
        ...('msg' in f ? { msg: [...f.msg] } : {}),
      });
    }
    const raft = encodeRaftMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 1, ctx: new Uint8Array(0) });
    expect(isSnapshotFrame(raft)).toBe(false);
  });

  it('rejects malformed frames with ProtocolError', () => {
    const bad = [
      Uint8Array.from([0xc1]),
      pack([2, 'piece', 't', -1, new Uint8Array(1)]),
      pack([2, 'piece', '', 0, new Uint8Array(1)]),
      pack([2, 'piece', 't', 0, 'not bytes']),
      pack([2, 'ack', 't', 1, 'extra']),
      pack([2, 'what', 't', 1, null]),
      pack([2, 'ack', 't', 1]),
      pack([2, 'piece', 't', 0, new Uint8Array(3 << 20)]),
    ];
    for (const b of bad) expect(() => decodeSnapshotFrame(b), String(b.slice(0, 8))).toThrow(/snapshot frame/);
  });
});

describe('SnapshotReceiver', () => {
  it('writes pieces in order, finishes, delivers, then acks done', async () => {
    const sent: SnapshotFrame[] = [];
    const log: string[] = [];
    const delivered: number[] = [];
    const r = receiver(sent, log, delivered);
    r.onFrame('l', { kind: 'piece', transfer: 't', seq: 0, bytes: new Uint8Array(5) });
    r.onFrame('l', { kind: 'piece', transfer: 't', seq: 1, bytes: new Uint8Array(7) });
    r.onFrame('l', { kind: 'done', transfer: 't', pieces: 2, msg: Uint8Array.from([42]) });
    for (let i = 0; i < 10; i++) await tick();
    expect(log).toEqual(['write 5', 'write 7', 'finish 42']);
    expect(delivered).toEqual([42]);
    expect(sent.map((f) => (f.kind === 'ack' ? f.seq : f.kind))).toEqual([0, 1, SNAPSHOT_DONE_SEQ]);
    // While that image waits to be installed, a new transfer is refused.
    r.onFrame('l', { kind: 'piece', transfer: 'u', seq: 0, bytes: new Uint8Array(1) });
    expect(sent.at(-1)).toMatchObject({ kind: 'fail', transfer: 'u' });
    r.installed();
    r.onFrame('l', { kind: 'piece', transfer: 'v', seq: 0, bytes: new Uint8Array(1) });
    await tick();
    expect(sent.at(-1)).toMatchObject({ kind: 'ack', transfer: 'v', seq: 0 });
  });

  it('drops a transfer with a gap, a wrong piece count, or a bad final message, and aborts its writer', async () => {
    for (const frames of [
      [{ kind: 'piece', transfer: 't', seq: 0, bytes: new Uint8Array(1) }, { kind: 'piece', transfer: 't', seq: 2, bytes: new Uint8Array(1) }],
      [{ kind: 'piece', transfer: 't', seq: 0, bytes: new Uint8Array(1) }, { kind: 'done', transfer: 't', pieces: 3, msg: Uint8Array.from([1]) }],
      [{ kind: 'piece', transfer: 't', seq: 0, bytes: new Uint8Array(1) }, { kind: 'done', transfer: 't', pieces: 1, msg: Uint8Array.from([1, 2]) }],
    ] as SnapshotFrame[][]) {
      const sent: SnapshotFrame[] = [];
      const log: string[] = [];
      const delivered: number[] = [];
      const r = receiver(sent, log, delivered);
      for (const f of frames) r.onFrame('l', f);
      for (let i = 0; i < 10; i++) await tick();
      expect(delivered).toEqual([]);
      expect(log.at(-1)).toBe('abort');
      expect(sent.some((f) => f.kind === 'fail')).toBe(true);
    }
  });

  it('refuses pieces of a transfer it does not know', () => {
    const sent: SnapshotFrame[] = [];
    const r = receiver(sent, [], []);
    r.onFrame('l', { kind: 'piece', transfer: 'x', seq: 4, bytes: new Uint8Array(1) });
    expect(sent).toEqual([{ kind: 'fail', transfer: 'x', reason: 'unknown transfer' }]);
  });
});

describe('SnapshotSender', () => {
  it('keeps at most windowPieces unacknowledged and succeeds on the done ack', async () => {
    const out: SnapshotFrame[] = [];
    const s = new SnapshotSender({ timers: systemTimers, logger: silentLogger, send: (p) => out.push(decodeSnapshotFrame(p)) > 0 }, { transfer: 't', windowPieces: 2 });
    let n = 0;
    let closed = false;
    const reader: SnapshotReader = { index: 9, next: async () => (n < 5 ? new Uint8Array(++n) : null), close: () => void (closed = true) };
    const done = s.run(reader, Uint8Array.from([7]));
    await tick();
    expect(out.filter((f) => f.kind === 'piece').length).toBeLessThanOrEqual(3);
    for (let seq = 0; seq < 5; seq++) {
      s.onFrame({ kind: 'ack', transfer: 't', seq });
      for (let i = 0; i < 3; i++) await tick();
    }
    expect(out.at(-1)).toMatchObject({ kind: 'done', pieces: 5 });
    s.onFrame({ kind: 'ack', transfer: 't', seq: SNAPSHOT_DONE_SEQ });
    await expect(done).resolves.toBe(true);
    expect(closed).toBe(true);
    expect(s.sentTotals()).toEqual({ pieces: 5, bytes: 1 + 2 + 3 + 4 + 5 });
  });

  it('fails on a fail frame, on an ack timeout, and when the peer queue refuses a frame', async () => {
    const reader = (): SnapshotReader => ({ index: 1, next: async () => new Uint8Array(1), close() {} });
    const a = new SnapshotSender({ timers: systemTimers, logger: silentLogger, send: () => true }, { transfer: 't', windowPieces: 1 });
    const ra = a.run(reader(), new Uint8Array(1));
    await tick();
    a.onFrame({ kind: 'fail', transfer: 't', reason: 'disk full' });
    await expect(ra).resolves.toBe(false);
    const b = new SnapshotSender({ timers: systemTimers, logger: silentLogger, send: () => true }, { transfer: 't', windowPieces: 1, ackTimeoutMs: 30 });
    await expect(b.run(reader(), new Uint8Array(1))).resolves.toBe(false);
    const c = new SnapshotSender({ timers: systemTimers, logger: silentLogger, send: () => false }, { transfer: 't' });
    await expect(c.run(reader(), new Uint8Array(1))).resolves.toBe(false);
  });

  it('ignores acks and fails of an earlier transfer to the same follower (they arrive late on the stream)', async () => {
    const out: SnapshotFrame[] = [];
    const s = new SnapshotSender({ timers: systemTimers, logger: silentLogger, send: (p) => out.push(decodeSnapshotFrame(p)) > 0 }, { transfer: 'new', windowPieces: 1 });
    let n = 0;
    const reader: SnapshotReader = { index: 9, next: async () => (n < 3 ? Uint8Array.from([n++]) : null), close() {} };
    const done = s.run(reader, Uint8Array.from([7]));
    await tick();
    // The follower dropped the old transfer when this one began; its last words come in now.
    s.onFrame({ kind: 'ack', transfer: 'old', seq: 5 });
    s.onFrame({ kind: 'ack', transfer: 'old', seq: SNAPSHOT_DONE_SEQ });
    for (let i = 0; i < 3; i++) await tick();
    expect(out.filter((f) => f.kind === 'piece').length).toBe(1);
    s.onFrame({ kind: 'fail', transfer: 'old', reason: 'superseded by a newer transfer' });
    for (const seq of [0, 1, 2]) {
      s.onFrame({ kind: 'ack', transfer: 'new', seq });
      for (let i = 0; i < 3; i++) await tick();
    }
    expect(out.at(-1)).toMatchObject({ kind: 'done', transfer: 'new', pieces: 3 });
    s.onFrame({ kind: 'ack', transfer: 'new', seq: SNAPSHOT_DONE_SEQ });
    await expect(done).resolves.toBe(true);
  });
});

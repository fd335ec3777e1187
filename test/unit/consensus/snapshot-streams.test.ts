import { describe, expect, it } from 'vitest';
import { SnapshotStreams } from '../../../src/consensus/snapshot-streams.js';
import { decodeSnapshotFrame, encodeSnapshotFrame, type SnapshotFrame } from '../../../src/consensus/snapshot-transfer.js';
import { systemTimers } from '../../../src/env/system.js';
import { encodeRaftMessage } from '../../../src/proto/raft-codec.js';
import type { Message, MsgSnap, Snapshot } from '../../../src/raft/types.js';
import { MemoryRaftStorage } from '../../../src/storage/memory-raft-storage.js';
import { silentLogger } from '../../../src/util/logger.js';

const tick = () => new Promise((r) => setImmediate(r));

const image: Snapshot = { meta: { index: 5, term: 1, conf: { voters: ['l', 'f'], learners: [] } }, data: new Uint8Array(0) };
const msgSnap: MsgSnap = { type: 'snap', from: 'l', to: 'f', term: 1, snapshot: image };

/** A follower 'f' whose core takes a delivered image only when `takes` says so. */
function follower(takes: () => boolean) {
  const sent: SnapshotFrame[] = [];
  const stepped: Message[] = [];
  const streams = new SnapshotStreams(
    {
      timers: systemTimers,
      logger: silentLogger,
      storage: new MemoryRaftStorage(),
      stateMachine: {
        openSnapshot: () => Promise.reject(new Error('not a leader here')),
        beginSnapshotWrite: () => ({ write: async () => undefined, finish: async () => undefined, abort: async () => undefined }),
      },
      core: { step: (m) => void stepped.push(m), status: () => ({ commit: 0 }), reportSnapshot: () => undefined },
      send: (_to, p) => sent.push(decodeSnapshotFrame(p)) > 0,
      kick: () => undefined,
    },
    { id: 'f' },
  );
  const transfer = async (id: string): Promise<void> => {
    streams.onFrame('l', encodeSnapshotFrame({ kind: 'piece', transfer: id, seq: 0, bytes: new Uint8Array(3) }));
    streams.onFrame('l', encodeSnapshotFrame({ kind: 'done', transfer: id, pieces: 1, msg: encodeRaftMessage(msgSnap) }));
    for (let i = 0; i < 5; i++) await tick();
  };
  // What the driver's next Ready holds: the snapshot if the core took it.
  const nextReady = () => ({ snapshot: takes() ? image : null });
  return { streams, sent, stepped, transfer, nextReady };
}

describe('SnapshotStreams (follower side)', () => {
  it('keeps staging for an image the core took until the Ready loop installed it', async () => {
    const f = follower(() => true);
    await f.transfer('a');
    expect(f.stepped).toHaveLength(1);
    expect(f.sent.at(-1)).toMatchObject({ kind: 'ack', transfer: 'a' });
    f.streams.readyTaken(f.nextReady());
    f.streams.onFrame('l', encodeSnapshotFrame({ kind: 'piece', transfer: 'b', seq: 0, bytes: new Uint8Array(1) }));
    expect(f.sent.at(-1)).toEqual({ kind: 'fail', transfer: 'b', reason: 'a snapshot is being installed' });
    f.streams.installed();
    await f.transfer('c');
    expect(f.sent.at(-1)).toMatchObject({ kind: 'ack', transfer: 'c' });
  });

  it('frees staging when the core did not take the image (it had the last entry), so later transfers stage', async () => {
    const f = follower(() => false);
    await f.transfer('a');
    expect(f.stepped).toHaveLength(1);
    f.streams.readyTaken(f.nextReady());
    await f.transfer('b');
    expect(f.stepped).toHaveLength(2);
    expect(f.sent.filter((s) => s.kind === 'fail')).toEqual([]);
  });
});

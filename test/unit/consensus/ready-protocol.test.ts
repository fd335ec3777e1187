import { describe, expect, it } from 'vitest';
import { decodePeerMessage, planReady, type ReadyStep } from '../../../src/consensus/ready-protocol.js';
import { encodeRaftMessage } from '../../../src/proto/raft-codec.js';
import { EntryType, type Entry, type Message, type Ready } from '../../../src/raft/types.js';
import { isCairnError } from '../../../src/util/errors.js';

const entry = (index: number, term = 1): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });
const app = (to: string): Message => ({ type: 'app', from: 'n1', to, term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] });
const heartbeat = (to: string): Message => ({ type: 'heartbeat', from: 'n1', to, term: 2, commit: 0, ctx: new Uint8Array(0) });
const voteResp = (to: string): Message => ({ type: 'vote-resp', from: 'n2', to, term: 2, reject: false });
const snap = (index: number): Message => ({
  type: 'snap',
  from: 'n1',
  to: 'n3',
  term: 2,
  snapshot: { meta: { index, term: 1, conf: { voters: ['n1', 'n2', 'n3'], learners: [] } }, data: new Uint8Array(0) },
});

function ready(over: Partial<Ready>): Ready {
  return { softState: null, hardState: null, snapshot: null, entries: [], messages: [], committedEntries: [], readStates: [], mustSync: false, ...over };
}

/** The plan as `kind(detail)` strings, in order. */
function shape(steps: ReadyStep[]): string[] {
  return steps.map((s) => {
    switch (s.kind) {
      case 'soft-state':
        return `soft-state(${s.role})`;
      case 'install':
        return `install(${s.snapshot.meta.index})`;
      case 'apply':
        return `apply(${s.entries.map((e) => e.index).join(',')})`;
      case 'send':
        return `send(${s.messages.map((m) => `${m.type}>${m.to}`).join(',')})`;
      case 'stream':
        return `stream(${s.message.to})`;
      case 'persist':
        return `persist(${s.entries.map((e) => e.index).join(',')}${s.hardState ? ' hs' : ''})`;
      case 'reads':
        return `reads(${s.readStates.length})`;
    }
  });
}

describe('planReady', () => {
  it('persists a vote and new entries before sending anything a follower answers', () => {
    const rd = ready({ hardState: { term: 2, vote: 'n1', commit: 0 }, entries: [entry(1, 2)], messages: [voteResp('n1')], mustSync: true });
    expect(shape(planReady(rd, { role: 'follower', lastIndex: 0 }))).toEqual(['persist(1 hs)', 'send(vote-resp>n1)']);
  });

  it("sends a leader's appends and heartbeats before its own write, everything else after", () => {
    const timeoutNow: Message = { type: 'timeout-now', from: 'n1', to: 'n2', term: 2 };
    const rd = ready({ hardState: { term: 2, vote: 'n1', commit: 3 }, entries: [entry(4, 2)], messages: [app('n2'), timeoutNow, heartbeat('n3')], mustSync: true });
    expect(shape(planReady(rd, { role: 'leader', lastIndex: 3 }))).toEqual(['send(app>n2,heartbeat>n3)', 'persist(4 hs)', 'send(timeout-now>n2)']);
    // A node that has just lost leadership in this Ready sends nothing early.
    const lost = { ...rd, softState: { leader: null, role: 'follower' as const } };
    expect(shape(planReady(lost, { role: 'leader', lastIndex: 3 }))).toEqual(['soft-state(follower)', 'persist(4 hs)', 'send(app>n2,timeout-now>n2,heartbeat>n3)']);
  });

  it('applies before the write only entries durable before it and not rewritten by it', () => {
    const rd = ready({ hardState: { term: 2, vote: null, commit: 5 }, entries: [entry(4, 2), entry(5, 2)], committedEntries: [entry(2), entry(3), entry(4, 2), entry(5, 2)], mustSync: true });
    // Index 4 is on disk (lastIndex 4) but this write replaces it: it waits for the write.
    expect(shape(planReady(rd, { role: 'follower', lastIndex: 4 }))).toEqual(['apply(2,3)', 'persist(4,5 hs)', 'apply(4,5)']);
    const noWrite = ready({ committedEntries: [entry(2), entry(3)] });
    expect(shape(planReady(noWrite, { role: 'follower', lastIndex: 3 }))).toEqual(['apply(2,3)']);
  });

  it('installs a snapshot first, applies nothing early after it, and streams images beside the messages', () => {
    const s = snap(7);
    if (s.type !== 'snap') throw new Error('unreachable');
    const rd = ready({ snapshot: s.snapshot, hardState: { term: 2, vote: null, commit: 9 }, committedEntries: [entry(8), entry(9)], readStates: [{ index: 9, ctx: new Uint8Array(1) }] });
    expect(shape(planReady(rd, { role: 'follower', lastIndex: 100 }))).toEqual(['install(7)', 'persist( hs)', 'apply(8,9)', 'reads(1)']);
    const leader = ready({ messages: [snap(7), snap(0)] });
    // The bootstrap membership (index 0) has no image: it goes as a plain message.
    expect(shape(planReady(leader, { role: 'leader', lastIndex: 9 }))).toEqual(['send(snap>n3)', 'stream(n3)']);
  });
});

describe('decodePeerMessage', () => {
  it('accepts a message from the connection it names, and refuses any other', () => {
    const m = voteResp('n1');
    expect(decodePeerMessage('n2', 'n1', encodeRaftMessage(m))).toEqual(m);
    const refused = (from: string, self: string, mm: Message): string => {
      try {
        decodePeerMessage(from, self, encodeRaftMessage(mm));
        return 'accepted';
      } catch (err) {
        return isCairnError(err) ? err.code : 'other';
      }
    };
    expect(refused('n3', 'n1', m)).toBe('ProtocolError');
    expect(refused('n2', 'n3', m)).toBe('ProtocolError');
    expect(refused('n1', 'n3', snap(7))).toBe('ProtocolError');
    expect(refused('n1', 'n3', snap(0))).toBe('accepted');
  });
});

/**
 * Addresses of metadata members added at runtime outlive log compaction: the namespace state
 * machine records every applied ConfChange's address (meta/meta-members.ts), so a member that
 * restarts after its log was compacted past the `addLearner` entry, with --peers that do not
 * name the new member, still dials it; a member that joins by snapshot learns the addresses
 * from the image; and a restored backup does not carry the old group's addresses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MetaStateMachine } from '../../../src/consensus/meta-state-machine.js';
import { RaftRuntime } from '../../../src/consensus/raft-runtime.js';
import { SeededRng } from '../../../src/env/rng.js';
import { sleep, systemClock, systemDefer, systemTimers } from '../../../src/env/system.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/net/index.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { MemoryRaftStorage } from '../../../src/storage/memory-raft-storage.js';
import { memberAddresses } from '../../../src/meta/meta-members.js';
import { silentLogger } from '../../../src/util/logger.js';

interface Node {
  id: string;
  storage: MemoryRaftStorage;
  kv: MemoryKvStore;
  transport: MemoryTransport;
  rt: RaftRuntime;
}

const network = new MemoryNetwork({ timers: systemTimers });
const rng = new SeededRng(11);
const nodes = new Map<string, Node>();

async function start(id: string, peers: string[], o: { reuse?: Node; join?: boolean } = {}): Promise<Node> {
  const storage = o.reuse?.storage ?? new MemoryRaftStorage();
  const kv = o.reuse?.kv ?? new MemoryKvStore();
  const transport = new MemoryTransport({ network, rng: rng.fork() }, { id, backoffMsMin: 5, backoffMsMax: 50 });
  const rt = await RaftRuntime.create(
    { clock: systemClock, timers: systemTimers, rng: rng.fork(), defer: systemDefer, storage, transport, stateMachine: new MetaStateMachine(kv), logger: silentLogger },
    { id, initialPeers: new Map(peers.map((p) => [p, `mem:${p}`])), tickMs: 10, snapshotEntriesMin: 10, compactionLagEntries: 2, join: o.join ?? false },
  );
  network.listen(`mem:${id}`, (from, payload) => rt.receive(from, payload));
  transport.onUnreachable = (to) => rt.reportUnreachable(to);
  rt.start((err) => {
    throw err;
  });
  const n = { id, storage, kv, transport, rt };
  nodes.set(id, n);
  return n;
}

async function stop(id: string): Promise<Node> {
  const n = nodes.get(id)!;
  network.unlisten(`mem:${id}`);
  await n.rt.stop();
  await n.transport.close();
  nodes.delete(id);
  return n;
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = systemClock.nowMs() + timeoutMs;
  while (!cond()) {
    if (systemClock.nowMs() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(10);
  }
}

async function leader(): Promise<Node> {
  let found: Node | undefined;
  await until('a leader', () => (found = [...nodes.values()].find((n) => n.rt.isLeader())) !== undefined);
  return found!;
}

/** Proposals the namespace machine applies as no-ops (undecodable): they only move the log on. */
async function fill(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const l = await leader();
    await l.rt.propose(Uint8Array.of(0xc1, i & 0x7f)).catch(() => undefined);
  }
}

afterEach(async () => {
  for (const id of [...nodes.keys()]) await stop(id);
});

describe('member addresses in the replicated state', () => {
  it('a member restarted after compaction, without the new member in --peers, still reaches it', async () => {
    for (const id of ['a', 'b', 'c']) await start(id, ['a', 'b', 'c']);
    let l = await leader();
    await fill(3);
    await start('d', ['a', 'b', 'c', 'd'], { join: true });
    await l.rt.changeMembership('addLearner', 'd', 'mem:d');
    await until('d caught up', () => nodes.get('d')!.rt.status().applied >= l.rt.status().applied);
    await l.rt.changeMembership('addVoter', 'd');
    // Three voters a, b, d: c leaves (so a and d alone make a quorum once b stops).
    l = await leader();
    if (l.id === 'c') {
      l.rt.transferLeadership('a');
      await until('c handed over', () => !nodes.get('c')!.rt.isLeader() && [...nodes.values()].some((n) => n.id !== 'c' && n.rt.isLeader()));
      l = await leader();
    }
    await l.rt.changeMembership('removeNode', 'c');
    await stop('c');
    // Every remaining member snapshots and compacts past the ConfChange entries.
    await fill(40);
    const addIndex = 5; // bootstrap, leader no-op, three fills: the addLearner entry comes after
    await until('a compacted', () => nodes.get('a')!.storage.firstIndex() > addIndex + 5);
    expect(memberAddresses(nodes.get('a')!.kv)).toEqual(new Map([['d', 'mem:d']]));

    // Restart a with --peers naming a, b, c only (as its original command line did).
    if (nodes.get('a')!.rt.isLeader()) {
      l = nodes.get('a')!;
      l.rt.transferLeadership('d');
      await until('a handed over', () => nodes.get('d')!.rt.isLeader() || nodes.get('b')!.rt.isLeader());
    }
    const a0 = await stop('a');
    const a = await start('a', ['a', 'b', 'c'], { reuse: a0 });
    expect(a.rt.addrOf('d')).toBe('mem:d');
    expect(a.rt.addrOf('c')).toBe('mem:c'); // --peers still names it; not a member, never dialled
    // With b gone, a and d are the quorum: a must reach d for anything to commit.
    await stop('b');
    const l2 = await leader();
    expect(['a', 'd']).toContain(l2.id);
    await l2.rt.propose(Uint8Array.of(0xc1, 1)).catch(() => undefined);
    const target = l2.rt.status().applied;
    await until('a applies the new entry', () => a.rt.status().applied >= target);
  }, 30_000);

  it('a member joining by snapshot learns the runtime-added members from the image', async () => {
    for (const id of ['a', 'b', 'c']) await start(id, ['a', 'b', 'c']);
    const l = await leader();
    await fill(1);
    await start('d', ['a', 'b', 'c', 'd'], { join: true });
    await l.rt.changeMembership('addLearner', 'd', 'mem:d');
    await fill(40);
    await until('leader compacted', () => l.storage.firstIndex() > 10);
    // e knows a, b, c and itself; d's address comes with the snapshot it installs.
    const e = await start('e', ['a', 'b', 'c', 'e'], { join: true });
    await (await leader()).rt.changeMembership('addLearner', 'e', 'mem:e');
    await until('e installed a snapshot', () => e.rt.status().applied >= l.rt.status().applied);
    expect(e.rt.addrOf('d')).toBe('mem:d');
    expect(memberAddresses(e.kv)).toEqual(new Map([['d', 'mem:d'], ['e', 'mem:e']]));
  }, 30_000);
});

/**
 * The runtime over in-memory twins (storage, transport, state store) with real timers:
 * proposals resolve with their results, follower redirects, linearizable reads, restart
 * without re-applying, snapshot catch-up of a lagging node, and adding a member.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KvStateMachine } from '../../support/kv-state-machine.js';
import { RaftRuntime } from '../../../src/consensus/raft-runtime.js';
import { SeededRng } from '../../../src/env/rng.js';
import { sleep, systemClock, systemDefer, systemTimers } from '../../../src/env/system.js';
import { encodeKvCommand } from '../../support/kv-machine.js';
import { MemoryNetwork, MemoryTransport } from '../../../src/net/index.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { MemoryRaftStorage } from '../../../src/storage/memory-raft-storage.js';
import { isCairnError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/logger.js';

const enc = new TextEncoder();

interface TestNode {
  id: string;
  storage: MemoryRaftStorage;
  kv: MemoryKvStore;
  machine: KvStateMachine;
  transport: MemoryTransport;
  rt: RaftRuntime;
}

class Harness {
  readonly network = new MemoryNetwork({ timers: systemTimers });
  readonly nodes = new Map<string, TestNode>();
  readonly peers: Map<string, string>;
  private readonly rng = new SeededRng(7);
  private seq = 0;
  /** RaftRuntimeInit.followerApplyDelayMs of the nodes started next (undefined: the default). */
  followerApplyDelayMs: number | undefined = undefined;

  constructor(ids: string[]) {
    this.peers = new Map(ids.map((id) => [id, `mem:${id}`]));
  }

  async start(id: string, reuse?: { storage: MemoryRaftStorage; kv: MemoryKvStore }, snapshotEntriesMin = 10_000, join = false): Promise<TestNode> {
    const storage = reuse?.storage ?? new MemoryRaftStorage();
    const kv = reuse?.kv ?? new MemoryKvStore();
    const machine = new KvStateMachine(kv);
    const transport = new MemoryTransport({ network: this.network, rng: this.rng.fork() }, { id, backoffMsMin: 5, backoffMsMax: 50 });
    const rt = await RaftRuntime.create(
      { clock: systemClock, timers: systemTimers, rng: this.rng.fork(), defer: systemDefer, storage, transport, stateMachine: machine, logger: silentLogger },
      { id, initialPeers: this.peers, tickMs: 10, snapshotEntriesMin, compactionLagEntries: 5, join, ...(this.followerApplyDelayMs === undefined ? {} : { followerApplyDelayMs: this.followerApplyDelayMs }) },
    );
    this.network.listen(`mem:${id}`, (from, payload) => rt.receive(from, payload));
    transport.onUnreachable = (to) => rt.reportUnreachable(to);
    rt.start((err) => {
      throw err;
    });
    const n = { id, storage, kv, machine, transport, rt };
    this.nodes.set(id, n);
    return n;
  }

  async stop(id: string): Promise<TestNode> {
    const n = this.nodes.get(id)!;
    this.network.unlisten(`mem:${id}`);
    await n.rt.stop();
    await n.transport.close();
    this.nodes.delete(id);
    return n;
  }

  async leader(timeoutMs = 5000): Promise<TestNode> {
    const deadline = systemClock.nowMs() + timeoutMs;
    while (systemClock.nowMs() < deadline) {
      for (const n of this.nodes.values()) if (n.rt.isLeader()) return n;
      await sleep(10);
    }
    throw new Error('no leader');
  }

  put(n: TestNode, key: string, value: string, client = 'c'): Promise<unknown> {
    return n.rt.propose(encodeKvCommand({ op: 'put', client, seq: ++this.seq, key, value: enc.encode(value) }));
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
  }
}

let h: Harness | null = null;
afterEach(async () => {
  await h?.closeAll();
  h = null;
});

describe('RaftRuntime', () => {
  it('elects a leader, applies proposals everywhere and returns their results', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    const leader = await h.leader();
    expect(await h.put(leader, 'k', 'v1')).toEqual({ ok: true, prev: null });
    const r = (await h.put(leader, 'k', 'v2')) as { ok: boolean; prev: Uint8Array };
    expect(new TextDecoder().decode(r.prev)).toBe('v1');
    const last = leader.rt.status().applied;
    const deadline = systemClock.nowMs() + 3000;
    while ([...h.nodes.values()].some((n) => n.machine.appliedIndex() < last) && systemClock.nowMs() < deadline) await sleep(10);
    for (const n of h.nodes.values()) expect(new TextDecoder().decode(n.machine.read('k')!)).toBe('v2');
  });

  it('a follower applies the entries of several Readies in one state-machine batch; a leader applies each at once', async () => {
    const batchesFor = async (followerApplyDelayMs: number): Promise<{ leader: number; followers: number[] }> => {
      h = new Harness(['a', 'b', 'c']);
      h.followerApplyDelayMs = followerApplyDelayMs;
      for (const id of h.peers.keys()) await h.start(id);
      const leader = await h.leader();
      await h.put(leader, 'warm', 'up');
      const last0 = leader.rt.status().applied;
      let deadline = systemClock.nowMs() + 3000;
      while ([...h.nodes.values()].some((n) => n.machine.appliedIndex() < last0) && systemClock.nowMs() < deadline) await sleep(10);
      const before = new Map([...h.nodes.values()].map((n) => [n.id, n.kv.batches]));
      for (let i = 0; i < 10; i++) await h.put(leader, 'k', String(i)); // one at a time: ten Readies
      const last = leader.rt.status().applied;
      deadline = systemClock.nowMs() + 3000;
      while ([...h.nodes.values()].some((n) => n.machine.appliedIndex() < last) && systemClock.nowMs() < deadline) await sleep(10);
      for (const n of h.nodes.values()) expect(new TextDecoder().decode(n.machine.read('k')!)).toBe('9');
      const used = (n: TestNode) => n.kv.batches - before.get(n.id)!;
      const out = { leader: used(leader), followers: [...h.nodes.values()].filter((n) => n !== leader).map(used) };
      for (const id of [...h.nodes.keys()]) await h.stop(id);
      return out;
    };
    const gathered = await batchesFor(1000);
    expect(gathered.leader).toBe(10);
    for (const f of gathered.followers) expect(f).toBeLessThanOrEqual(2);
    const eager = await batchesFor(0);
    for (const f of eager.followers) expect(f).toBeGreaterThanOrEqual(5);
  });

  it('refuses proposals and reads on a follower with a hint naming the leader', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    const leader = await h.leader();
    await h.put(leader, 'x', '1'); // followers learn the leader from its appends
    await sleep(100);
    const follower = [...h.nodes.values()].find((n) => n !== leader)!;
    const err = await h.put(follower, 'k', 'v').catch((e: unknown) => e);
    expect(isCairnError(err, 'NotLeader')).toBe(true);
    expect((err as { detail: { leader: string; leaderAddr: string } }).detail).toEqual({ leader: leader.id, leaderAddr: `mem:${leader.id}` });
    await expect(follower.rt.linearizableRead()).rejects.toMatchObject({ code: 'NotLeader' });
    await expect(leader.rt.linearizableRead()).resolves.toBeUndefined();
  });

  it('batches concurrent linearizable reads and sees every write acknowledged before them', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    const leader = await h.leader();
    await Promise.all(Array.from({ length: 50 }, (_, i) => h!.put(leader, `k${i}`, `v${i}`, `c${i}`)));
    await Promise.all(Array.from({ length: 100 }, () => leader.rt.linearizableRead()));
    for (let i = 0; i < 50; i++) expect(new TextDecoder().decode(leader.machine.read(`k${i}`)!)).toBe(`v${i}`);
  });

  it('restarts on its own storage without applying any entry twice', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    let leader = await h.leader();
    for (let i = 0; i < 20; i++) await h.put(leader, `k${i}`, `v${i}`);
    const victim = [...h.nodes.values()].find((n) => n !== leader)!;
    const applied = victim.kv.appliedIndex();
    const old = await h.stop(victim.id);
    leader = await h.leader();
    for (let i = 20; i < 30; i++) await h.put(leader, `k${i}`, `v${i}`);
    const back = await h.start(victim.id, { storage: old.storage, kv: old.kv });
    expect(back.kv.appliedIndex()).toBe(applied);
    const target = leader.rt.status().applied;
    const deadline = systemClock.nowMs() + 3000;
    while (back.machine.appliedIndex() < target && systemClock.nowMs() < deadline) await sleep(10);
    expect(new TextDecoder().decode(back.machine.read('k29')!)).toBe('v29');
    // MemoryKvStore.applyBatch throws on a batch at or below the applied index: none happened.
  });

  it('catches a lagging node up with a snapshot after the log was compacted', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id, undefined, 20);
    let leader = await h.leader();
    const lagging = [...h.nodes.values()].find((n) => n !== leader)!;
    const old = await h.stop(lagging.id);
    leader = await h.leader();
    for (let i = 0; i < 100; i++) await h.put(leader, `k${i}`, `v${i}`);
    expect(leader.storage.firstIndex()).toBeGreaterThan(old.storage.lastIndex() + 1);
    const back = await h.start(lagging.id, { storage: old.storage, kv: old.kv }, 20);
    const target = leader.rt.status().applied;
    const deadline = systemClock.nowMs() + 5000;
    while (back.machine.appliedIndex() < target && systemClock.nowMs() < deadline) await sleep(10);
    expect(back.machine.appliedIndex()).toBeGreaterThanOrEqual(target);
    expect(new TextDecoder().decode(back.machine.read('k99')!)).toBe('v99');
  });

  it('streams a snapshot of several pieces (image larger than one piece) and the follower installs it whole', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id, undefined, 10);
    let leader = await h.leader();
    const lagging = [...h.nodes.values()].find((n) => n !== leader)!;
    const old = await h.stop(lagging.id);
    leader = await h.leader();
    const big = (i: number) => `${i}:`.padEnd(200 * 1024, String.fromCharCode(97 + (i % 26)));
    for (let i = 0; i < 30; i++) await h.put(leader, `big${i}`, big(i)); // ~6 MiB: 6+ pieces of 1 MiB
    const oldLast = old.storage.lastIndex();
    expect(leader.storage.firstIndex()).toBeGreaterThan(oldLast + 1);
    const back = await h.start(lagging.id, { storage: old.storage, kv: old.kv }, 10);
    const target = leader.rt.status().applied;
    const deadline = systemClock.nowMs() + 10_000;
    while (back.machine.appliedIndex() < target && systemClock.nowMs() < deadline) await sleep(10);
    expect(back.machine.appliedIndex()).toBeGreaterThanOrEqual(target);
    for (let i = 0; i < 30; i++) expect(new TextDecoder().decode(back.machine.read(`big${i}`)!)).toBe(big(i));
    // It received the state as a snapshot (its log starts after the leader's compaction point).
    expect(back.storage.firstIndex()).toBeGreaterThan(oldLast + 1);
  });

  it('finishes installing a staged snapshot after a crash between the log and the state swap', async () => {
    const storage = new MemoryRaftStorage();
    const kv = new MemoryKvStore();
    await storage.bootstrap({ voters: ['a'], learners: [] });
    const w = kv.beginStaging();
    await w.put([['d/x', enc.encode('from-image')]]);
    await w.finish(7);
    // The log took the snapshot; the crash came before installStaged.
    await storage.applySnapshot({ meta: { index: 7, term: 2, conf: { voters: ['a'], learners: [] } }, data: new Uint8Array(0) });
    expect(kv.appliedIndex()).toBe(0);
    const rt = await RaftRuntime.create(
      { clock: systemClock, timers: systemTimers, rng: new SeededRng(1), storage, transport: { send: () => true, setPeers: () => undefined }, stateMachine: new KvStateMachine(kv), logger: silentLogger },
      { id: 'a', initialPeers: new Map([['a', 'mem:a']]) },
    );
    expect(kv.appliedIndex()).toBe(7);
    expect(rt.status().applied).toBe(7);
    await rt.stop();
  });

  it('with a defer, proposals made in one event-loop turn are written in one save; without, the first goes alone', async () => {
    const saved = async (defer: ((fn: () => void) => void) | undefined): Promise<number[]> => {
      const sizes: number[] = [];
      class CountingStorage extends MemoryRaftStorage {
        override save(...args: Parameters<MemoryRaftStorage['save']>): Promise<void> {
          if (args[1].length > 0) sizes.push(args[1].length);
          return super.save(...args);
        }
      }
      const rt = await RaftRuntime.create(
        { clock: systemClock, timers: systemTimers, rng: new SeededRng(5), defer, storage: new CountingStorage(), transport: { send: () => true, setPeers: () => undefined }, stateMachine: new KvStateMachine(new MemoryKvStore()), logger: silentLogger },
        { id: 'a', initialPeers: new Map([['a', 'mem:a']]), tickMs: 10 },
      );
      rt.start((err) => {
        throw err;
      });
      const deadline = systemClock.nowMs() + 3000;
      while (!rt.isLeader() && systemClock.nowMs() < deadline) await sleep(10);
      await sleep(30);
      sizes.length = 0;
      const puts = Array.from({ length: 20 }, (_, i) => rt.propose(encodeKvCommand({ op: 'put', client: 'c', seq: i + 1, key: `k${i}`, value: enc.encode('v') })));
      await Promise.all(puts);
      await rt.stop();
      return sizes;
    };
    expect(await saved(systemDefer)).toEqual([20]);
    expect((await saved(undefined))[0]).toBe(1);
  });

  it('keeps persisting new entries while the state machine is still applying earlier ones, and resolves in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let blocked = 0;
    class SlowMachine extends KvStateMachine {
      override async apply(entries: Parameters<KvStateMachine['apply']>[0]): Promise<unknown[]> {
        if (entries.some((e) => e.data.byteLength > 0) && blocked++ === 0) await gate;
        return super.apply(entries);
      }
    }
    const storage = new MemoryRaftStorage();
    const kv = new MemoryKvStore();
    const rt = await RaftRuntime.create(
      { clock: systemClock, timers: systemTimers, rng: new SeededRng(3), storage, transport: { send: () => true, setPeers: () => undefined }, stateMachine: new SlowMachine(kv), logger: silentLogger },
      { id: 'a', initialPeers: new Map([['a', 'mem:a']]), tickMs: 10 },
    );
    rt.start((err) => {
      throw err;
    });
    const deadline = systemClock.nowMs() + 3000;
    while (!rt.isLeader() && systemClock.nowMs() < deadline) await sleep(10);
    const order: number[] = [];
    const first = rt.propose(encodeKvCommand({ op: 'put', client: 'c', seq: 1, key: 'k', value: enc.encode('1') })).then(() => order.push(1));
    await sleep(50);
    const more = [2, 3, 4].map((seq) => rt.propose(encodeKvCommand({ op: 'put', client: 'c', seq, key: 'k', value: enc.encode(String(seq)) })).then(() => order.push(seq)));
    const appliedBlocked = rt.status().applied;
    const until = systemClock.nowMs() + 2000;
    while (storage.lastIndex() < appliedBlocked + 4 && systemClock.nowMs() < until) await sleep(10);
    // Entries 2-4 are durable in the log although entry 1 is still being applied.
    expect(storage.lastIndex()).toBeGreaterThanOrEqual(appliedBlocked + 4);
    expect(order).toEqual([]);
    release();
    await Promise.all([first, ...more]);
    expect(order).toEqual([1, 2, 3, 4]);
    expect(new TextDecoder().decode(kv.get('d/k')!)).toBe('4');
    await rt.stop();
  });

  it('answers a proposal acknowledged while the leader writes the next one, without waiting for that write (Ready step 9)', async () => {
    /** Storage whose next write of entries waits until released. */
    class GatedStorage extends MemoryRaftStorage {
      private gate: Promise<void> | null = null;
      writesHeld = 0;
      hold(): () => void {
        let release!: () => void;
        this.gate = new Promise<void>((r) => (release = r));
        return () => release();
      }
      override async save(hs: Parameters<MemoryRaftStorage['save']>[0], entries: Parameters<MemoryRaftStorage['save']>[1], sync: boolean): Promise<void> {
        const gate = this.gate;
        if (gate !== null && entries.length > 0) {
          this.gate = null;
          this.writesHeld++;
          await gate;
        }
        return super.save(hs, entries, sync);
      }
    }
    h = new Harness(['a', 'b', 'c']);
    const stores = new Map<string, GatedStorage>();
    for (const id of h.peers.keys()) {
      const storage = new GatedStorage();
      stores.set(id, storage);
      await h.start(id, { storage, kv: new MemoryKvStore() });
    }
    const leader = await h.leader();
    await h.put(leader, 'warm', 'up');
    const followers = [...h.nodes.values()].filter((n) => n !== leader);
    // Held writes are let go whatever happens (a held write would keep the harness from stopping).
    const releases: Array<() => void> = [];
    try {
      // The followers' writes of A wait: A is durable on the leader alone, not committed.
      const releaseFollowers = followers.map((f) => stores.get(f.id)!.hold());
      releases.push(...releaseFollowers);
      let aDone = false;
      const a = h.put(leader, 'k', 'A').then(() => (aDone = true));
      let deadline = systemClock.nowMs() + 3000;
      while (followers.some((f) => stores.get(f.id)!.writesHeld === 0) && systemClock.nowMs() < deadline) await sleep(5);
      const indexA = leader.storage.lastIndex();
      // The leader's write of B waits; then the followers write A and acknowledge it.
      const releaseLeader = stores.get(leader.id)!.hold();
      releases.push(releaseLeader);
      let bDone = false;
      const b = h.put(leader, 'k', 'B').then(() => (bDone = true));
      deadline = systemClock.nowMs() + 3000;
      while (stores.get(leader.id)!.writesHeld === 0 && systemClock.nowMs() < deadline) await sleep(5);
      expect(stores.get(leader.id)!.writesHeld).toBe(1);
      for (const r of releaseFollowers) r();
      await Promise.race([a, sleep(3000)]);
      // A is answered while B's write on the leader is still under way.
      expect(aDone).toBe(true);
      expect(bDone).toBe(false);
      expect(leader.storage.lastIndex()).toBe(indexA);
      expect(new TextDecoder().decode(leader.machine.read('k')!)).toBe('A');
      releaseLeader();
      await b;
      expect(new TextDecoder().decode(leader.machine.read('k')!)).toBe('B');
    } finally {
      for (const r of releases) r();
    }
  });

  it('applies the entries of every Ready that came in while a batch was applying in ONE state-machine call', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const calls: number[][] = [];
    class SlowMachine extends KvStateMachine {
      override async apply(entries: Parameters<KvStateMachine['apply']>[0]): Promise<unknown[]> {
        const withData = entries.filter((e) => e.data.byteLength > 0).map((e) => e.index);
        if (withData.length > 0) calls.push(withData);
        if (calls.length === 1 && withData.length > 0) await gate;
        return super.apply(entries);
      }
    }
    const storage = new MemoryRaftStorage();
    const rt = await RaftRuntime.create(
      { clock: systemClock, timers: systemTimers, rng: new SeededRng(5), storage, transport: { send: () => true, setPeers: () => undefined }, stateMachine: new SlowMachine(new MemoryKvStore()), logger: silentLogger },
      { id: 'a', initialPeers: new Map([['a', 'mem:a']]), tickMs: 10 },
    );
    rt.start((err) => {
      throw err;
    });
    const deadline = systemClock.nowMs() + 3000;
    while (!rt.isLeader() && systemClock.nowMs() < deadline) await sleep(10);
    const put = (seq: number) => rt.propose(encodeKvCommand({ op: 'put', client: 'c', seq, key: 'k', value: enc.encode(String(seq)) }));
    const done = [put(1)];
    await sleep(30);
    // Three proposals, each committed in a Ready of its own while the first still applies.
    for (const seq of [2, 3, 4]) {
      const before = storage.lastIndex();
      done.push(put(seq));
      const until = systemClock.nowMs() + 2000;
      while (storage.lastIndex() === before && systemClock.nowMs() < until) await sleep(5);
      await sleep(20);
    }
    expect(calls).toHaveLength(1);
    release();
    await Promise.all(done);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toHaveLength(3);
    await rt.stop();
  });

  it('adds a fourth member as a learner, promotes it, and it takes part', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    const leader = await h.leader();
    for (let i = 0; i < 10; i++) await h.put(leader, `k${i}`, `v${i}`);
    h.peers.set('d', 'mem:d');
    const d = await h.start('d', undefined, 10_000, true);
    await leader.rt.changeMembership('addLearner', 'd', 'mem:d');
    const deadline = systemClock.nowMs() + 5000;
    while (d.machine.appliedIndex() < leader.rt.status().applied && systemClock.nowMs() < deadline) await sleep(10);
    await leader.rt.changeMembership('addVoter', 'd');
    expect(leader.rt.status().conf.voters).toContain('d');
    expect(new TextDecoder().decode(d.machine.read('k9')!)).toBe('v9');
  });

  it('records in each snapshot the membership of its index, through changes made between snapshots', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id, undefined, 20);
    const leader = await h.leader();
    const putMany = async (from: number) => {
      for (let i = from; i < from + 30; i++) await h!.put(leader, `k${i}`, `v${i}`);
    };
    // Every node applied everything and took a snapshot past index 60 (a snapshot is taken just
    // after the apply that reaches it, so waiting for the applied index alone could look too early).
    const settle = async () => {
      const deadline = systemClock.nowMs() + 5000;
      const all = () => [...h!.nodes.values()].every((n) => n.rt.status().applied >= leader.rt.status().applied && n.storage.firstIndex() > 60);
      while (!all() && systemClock.nowMs() < deadline) await sleep(10);
    };
    // A snapshot before the change, so the membership recorded next is not read afresh from the log.
    await putMany(0);
    h.peers.set('d', 'mem:d');
    const d = await h.start('d', undefined, 20, true);
    await leader.rt.changeMembership('addLearner', 'd', 'mem:d');
    await putMany(30);
    await leader.rt.changeMembership('addVoter', 'd');
    await putMany(60);
    await settle();
    const want = { voters: ['a', 'b', 'c', 'd'], learners: [] };
    expect(leader.rt.status().conf.voters).toContain('d');
    for (const n of h.nodes.values()) {
      // Taken after both changes (the log was compacted past them), with them; d's own after the image it was sent.
      expect(n.storage.firstIndex()).toBeGreaterThan(60);
      expect(n.storage.initialState().confState).toEqual(want);
    }
    expect(d.machine.read('k89')).toBeDefined();
  });

  it('fails reads on a leader cut off from its quorum, and serves them again once healed', async () => {
    h = new Harness(['a', 'b', 'c']);
    for (const id of h.peers.keys()) await h.start(id);
    const leader = await h.leader();
    await h.put(leader, 'k', 'v');
    for (const other of h.peers.keys()) {
      if (other === leader.id) continue;
      h.network.partition(leader.id, `mem:${other}`);
      h.network.partition(other, `mem:${leader.id}`);
    }
    const err = await leader.rt.linearizableRead().catch((e: unknown) => e);
    expect(isCairnError(err) && ['NotLeader', 'Timeout'].includes(err.code)).toBe(true);
    for (const other of h.peers.keys()) {
      h.network.partition(leader.id, `mem:${other}`, false);
      h.network.partition(other, `mem:${leader.id}`, false);
    }
    const deadline = systemClock.nowMs() + 5000;
    let ok = false;
    while (!ok && systemClock.nowMs() < deadline) {
      const l = await h.leader();
      ok = await l.rt.linearizableRead().then(() => true, () => false);
    }
    expect(ok).toBe(true);
  });
});

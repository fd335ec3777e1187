/**
 * A deterministic test bench for RaftNode: N nodes over MemoryRaftStorage with a manual message
 * queue. One driver step per node = ready() → storage.applySnapshot/save → queue messages →
 * apply committed entries → advance(). Nothing is delivered until deliver()/stabilize().
 *
 * Scenarios can be written as scripts (see run()), one command per line:
 *   campaign 1            tick 2 x10        tickall x5          stabilize      deliver
 *   propose 1 foo         drop 1->3         isolate 3           heal           restart 2
 *   compact 1             transfer 1 2      read 1 ctx          conf 1 addLearner 4
 *   expect leader 1       expect role 2 follower   expect term 1 3   expect commit 2 5
 *   expect applied 3 foo,bar                (data of applied Normal entries, comma separated)
 */
import { SeededRng } from '../../src/env/rng.js';
import { RaftNode } from '../../src/raft/raft-node.js';
import { DEFAULT_RAFT_CONFIG, EntryType, type ConfChangeType, type Entry, type Message, type RaftConfig, type ReadState } from '../../src/raft/types.js';
import { MemoryRaftStorage } from '../../src/storage/memory-raft-storage.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface TestNode {
  id: string;
  node: RaftNode;
  storage: MemoryRaftStorage;
  /** Data of every applied entry (Normal entries with data; conf entries as "conf:<type>:<node>"). */
  applied: string[];
  appliedIndex: number;
  readStates: ReadState[];
  config: RaftConfig;
}

export type ClusterOptions = Partial<Omit<RaftConfig, 'id' | 'applied'>>;

export class Cluster {
  readonly nodes = new Map<string, TestNode>();
  queue: Message[] = [];
  /** Every message ever sent (for counting). */
  sent: Message[] = [];
  private readonly dropLinks = new Set<string>();
  /** Messages matching this predicate are lost. */
  dropWhere: ((m: Message) => boolean) | null = null;
  private readonly isolated = new Set<string>();
  private readonly rng: SeededRng;
  readonly opts: ClusterOptions;

  constructor(ids: string[], opts: ClusterOptions = {}, seed = 1, learners: string[] = []) {
    this.rng = new SeededRng(seed);
    this.opts = opts;
    for (const id of ids) {
      const storage = new MemoryRaftStorage();
      void storage.bootstrap({ voters: ids.filter((i) => !learners.includes(i)), learners });
      this.add(id, storage);
    }
  }

  /** Start (or restart) a node over existing storage. */
  add(id: string, storage: MemoryRaftStorage, appliedIndex = 0, applied: string[] = []): TestNode {
    const config: RaftConfig = { ...DEFAULT_RAFT_CONFIG, ...this.opts, id, applied: appliedIndex };
    const n: TestNode = { id, node: new RaftNode(config, storage, this.rng.fork()), storage, applied, appliedIndex, readStates: [], config };
    this.nodes.set(id, n);
    return n;
  }

  /** A new, empty, un-bootstrapped node (joins by being added as a learner). */
  addEmpty(id: string): TestNode {
    return this.add(id, new MemoryRaftStorage());
  }

  /** Crash and restart: in-memory state is lost, storage (all of it was synced) survives. */
  restart(id: string): TestNode {
    const old = this.get(id);
    this.queue = this.queue.filter((m) => m.to !== id);
    return this.add(id, old.storage, old.appliedIndex, old.applied);
  }

  get(id: string): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Drive one Ready cycle of a node. Returns whether it had one. */
  process(id: string): boolean {
    const n = this.get(id);
    if (!n.node.hasReady()) return false;
    const rd = n.node.ready();
    if (rd.snapshot) {
      void n.storage.applySnapshot(rd.snapshot);
      n.applied = rd.snapshot.data.byteLength > 0 ? (JSON.parse(dec.decode(rd.snapshot.data)) as string[]) : [];
      n.appliedIndex = rd.snapshot.meta.index;
    }
    void n.storage.save(rd.hardState, rd.entries, rd.mustSync);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (this.blocked(m)) continue;
      this.queue.push(m);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) throw new Error(`${id}: apply gap: applied ${n.appliedIndex}, next ${e.index}`);
      n.appliedIndex = e.index;
      n.applied.push(...describe(e));
    }
    n.readStates.push(...rd.readStates);
    n.node.advance(rd);
    return true;
  }

  private blocked(m: Message): boolean {
    if (this.dropWhere?.(m)) return true;
    return this.isolated.has(m.from) || this.isolated.has(m.to) || this.dropLinks.has(`${m.from}->${m.to}`);
  }

  /** Process every node's Ready once. */
  processAll(): boolean {
    let any = false;
    for (const id of this.nodes.keys()) if (this.process(id)) any = true;
    return any;
  }

  /** Deliver the messages queued so far (not those they cause). Returns how many. */
  deliver(filter?: (m: Message) => boolean): number {
    const msgs = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of msgs) {
      if (filter && !filter(m)) {
        this.queue.push(m);
        continue;
      }
      const to = this.nodes.get(m.to);
      if (!to || this.blocked(m)) continue;
      to.node.step(m);
      n++;
    }
    return n;
  }

  /** Run Ready cycles and deliveries until quiet. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      const any = this.processAll();
      const delivered = this.deliver();
      if (!any && delivered === 0 && this.queue.length === 0) return;
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: string, times = 1): void {
    for (let i = 0; i < times; i++) this.get(id).node.tick();
  }

  /** Tick every node and stabilize after each tick. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.node.tick();
      this.stabilize();
    }
  }

  isolate(id: string): void {
    this.isolated.add(id);
  }

  drop(from: string, to: string): void {
    this.dropLinks.add(`${from}->${to}`);
  }

  heal(): void {
    this.dropWhere = null;
    this.isolated.clear();
    this.dropLinks.clear();
  }

  leader(): TestNode | null {
    const ls = [...this.nodes.values()].filter((n) => n.node.status().role === 'leader');
    if (ls.length === 0) return null;
    // Several may think they lead (in different terms); the one with the highest term counts.
    return ls.sort((a, b) => b.node.status().term - a.node.status().term)[0]!;
  }

  /** Drive ticks until some node leads (bounded). */
  electLeader(maxTicks = 200): TestNode {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leader();
      if (l && [...this.nodes.values()].every((n) => this.isolated.has(n.id) || n.node.status().leader === l.id || n === l)) return l;
      this.tickAll(1);
    }
    throw new Error('no leader elected');
  }

  propose(id: string, data: string): { index: number; term: number } {
    return this.get(id).node.propose(enc.encode(data));
  }

  /** Take a snapshot at the node's applied index and compact the log up to it. */
  compact(id: string, keep = 0): void {
    const n = this.get(id);
    const index = n.appliedIndex;
    const st = n.node.status();
    const snap = { meta: { index, term: n.storage.term(index), conf: st.conf }, data: enc.encode(JSON.stringify(n.applied)) };
    void n.storage.createSnapshot(snap, Math.max(n.storage.firstIndex() - 1, index - keep));
  }

  // -------------------------------------------------------------------------------------------

  /** Run a script (see the file comment). Throws with the line number on a failed expectation. */
  run(script: string): string[] {
    const out: string[] = [];
    const lines = script.split('\n');
    for (let ln = 0; ln < lines.length; ln++) {
      const line = lines[ln]!.replace(/#.*/, '').trim();
      if (!line) continue;
      try {
        this.exec(line, out);
      } catch (e) {
        throw new Error(`line ${ln + 1} \`${line}\`: ${(e as Error).message}`, { cause: e });
      }
    }
    return out;
  }

  private exec(line: string, out: string[]): void {
    const [cmd, ...args] = line.split(/\s+/);
    const times = (): number => {
      const x = args.find((a) => /^x\d+$/.test(a));
      return x ? Number(x.slice(1)) : 1;
    };
    switch (cmd) {
      case 'campaign':
        this.get(args[0]!).node.campaign();
        return;
      case 'tick':
        this.tick(args[0]!, times());
        return;
      case 'tickall':
        this.tickAll(times());
        return;
      case 'stabilize':
        this.stabilize();
        return;
      case 'process':
        this.processAll();
        return;
      case 'deliver':
        this.deliver();
        return;
      case 'propose':
        this.propose(args[0]!, args[1] ?? '');
        return;
      case 'drop': {
        const [a, b] = args[0]!.split('->');
        this.drop(a!, b!);
        return;
      }
      case 'isolate':
        this.isolate(args[0]!);
        return;
      case 'heal':
        this.heal();
        return;
      case 'restart':
        this.restart(args[0]!);
        return;
      case 'compact':
        this.compact(args[0]!, Number(args[1] ?? 0));
        return;
      case 'transfer':
        this.get(args[0]!).node.transferLeadership(args[1]!);
        return;
      case 'read':
        this.get(args[0]!).node.readIndex(enc.encode(args[1]!));
        return;
      case 'conf':
        this.get(args[0]!).node.proposeConfChange({ type: args[1] as ConfChangeType, node: args[2]! });
        return;
      case 'status':
        out.push(JSON.stringify(this.get(args[0]!).node.status()));
        return;
      case 'expect':
        this.expectLine(args);
        return;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private expectLine(args: string[]): void {
    const [what, id, value] = args;
    const st = this.get(id!).node.status();
    let actual: string;
    switch (what) {
      case 'leader':
        actual = String(st.leader);
        if (value === undefined) {
          // `expect leader 1`: node 1 is the leader, as every non-isolated node agrees.
          if (st.role !== 'leader') throw new Error(`${id} is ${st.role}, not leader`);
          for (const n of this.nodes.values()) {
            if (this.isolated.has(n.id)) continue;
            const l = n.node.status().leader;
            if (l !== id) throw new Error(`${n.id} thinks the leader is ${l}`);
          }
          return;
        }
        break;
      case 'role':
        actual = st.role;
        break;
      case 'term':
        actual = String(st.term);
        break;
      case 'commit':
        actual = String(st.commit);
        break;
      case 'last':
        actual = String(st.lastIndex);
        break;
      case 'applied':
        actual = this.get(id!).applied.join(',');
        break;
      case 'voters':
        actual = st.conf.voters.join(',');
        break;
      case 'learners':
        actual = st.conf.learners.join(',');
        break;
      default:
        throw new Error(`unknown expectation ${what}`);
    }
    if (actual !== (value ?? '')) throw new Error(`expected ${what} of ${id} to be ${value ?? ''}, got ${actual}`);
  }
}

function describe(e: Entry): string[] {
  if (e.type === EntryType.ConfChange) return [];
  return e.data.byteLength > 0 ? [dec.decode(e.data)] : [];
}

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/**
 * A node whose durable log holds entries of the given terms (index i+1 has terms[i]), built
 * directly in storage, as after earlier leaders came and went.
 */
export function storageWithLog(voters: string[], terms: number[], hardTerm: number): MemoryRaftStorage {
  const s = new MemoryRaftStorage();
  void s.bootstrap({ voters, learners: [] });
  const ents: Entry[] = terms.map((term, i) => ({ term, index: i + 1, type: EntryType.Normal, data: enc.encode(`${term}.${i + 1}`) }));
  void s.save({ term: hardTerm, vote: null, commit: 0 }, ents, true);
  return s;
}

/** Terms of a storage's entries [firstIndex, lastIndex]. */
export function termsOf(s: MemoryRaftStorage): number[] {
  const out: number[] = [];
  for (let i = s.firstIndex(); i <= s.lastIndex(); i++) out.push(s.term(i));
  return out;
}

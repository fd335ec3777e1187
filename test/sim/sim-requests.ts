/**
 * A simulated server's handling of client requests: writes are proposed and answered when
 * applied (or told to retry when overwritten or replaced by a snapshot); reads go through
 * ReadIndex and are answered from the local state machine once their index is applied.
 */
import type { Entry, ReadState } from '../../src/raft/types.js';
import { CairnError } from '../../src/util/errors.js';
import type { ClientReq, ClientResp } from './client-protocol.js';
import { encodeSimCommand, type SimCommand, type SimKvMachine, type SimResult as KvResult } from './sim-kv-machine.js';
import { nsCommand, type NsOp, type NsRead, type SimNsMachine } from './sim-ns-machine.js';
import type { SimNode } from './sim-node.js';
import type { Simulation } from './simulation.js';

interface PendingWrite {
  term: number;
  req: ClientReq;
}

interface PendingRead {
  req: ClientReq;
  index: number | null;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class SimRequests {
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readSeq = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly n: SimNode,
  ) {}

  /** `e` was applied with `result`: answer its proposer, if it waits here. */
  applied(e: Entry, result: unknown): void {
    const p = this.pendingWrites.get(e.index);
    if (!p) return;
    this.pendingWrites.delete(e.index);
    if (p.term === e.term && result) this.reply(p.req, p.req.ns ? nsResultResp(p.req.opId, result) : resultResp(p.req.opId, result as KvResult));
    else this.reply(p.req, { opId: p.req.opId, ok: false, err: 'Retry', leader: this.n.leader });
  }

  /** A snapshot up to `index` was installed: the outcome of writes at or below it is unknown here. */
  replacedThrough(index: number): void {
    for (const [idx, p] of this.pendingWrites) {
      if (idx <= index) {
        this.reply(p.req, { opId: p.req.opId, ok: false, err: 'Retry', leader: null });
        this.pendingWrites.delete(idx);
      }
    }
  }

  /** The node is no longer the leader: its reads fail over. */
  lostLeadership(): void {
    for (const r of this.pendingReads.values()) this.reply(r.req, { opId: r.req.opId, ok: false, err: 'NotLeader', leader: this.n.leader });
    this.pendingReads.clear();
  }

  /** ReadIndex results: reads whose index is applied are answered. */
  confirmed(readStates: ReadState[]): void {
    for (const rs of readStates) {
      const r = this.pendingReads.get(dec.decode(rs.ctx));
      if (r) r.index = rs.index;
    }
    this.release();
  }

  /** Answer the reads whose read index is applied. */
  release(): void {
    for (const [ctx, r] of this.pendingReads) {
      if (r.index !== null && r.index <= this.n.sm.applied) {
        this.pendingReads.delete(ctx);
        this.reply(r.req, this.localRead(r.req));
      }
    }
  }

  /** Answer a read from this node's state machine. */
  private localRead(req: ClientReq): ClientResp {
    if (req.ns) return { opId: req.opId, ok: true, result: (this.n.sm as SimNsMachine).read(req.ns as NsRead) };
    return { opId: req.opId, ok: true, value: (this.n.sm as SimKvMachine).get(req.key) };
  }

  private reply(req: ClientReq, resp: ClientResp): void {
    this.sim.net.sendToClient(this.n.id, req.client, resp);
  }

  /** A client request arrives at the (running) server. */
  onRequest(req: ClientReq): void {
    const n = this.n;
    const notLeader = (): void => this.reply(req, { opId: req.opId, ok: false, err: 'NotLeader', leader: n.leader });
    if (req.op === 'get') {
      if (this.sim.bugs.staleReads) {
        this.reply(req, this.localRead(req));
        return;
      }
      if (n.role !== 'leader') return notLeader();
      const ctx = `${n.id}/${n.incarnation}/${++this.readSeq}`;
      try {
        n.node.readIndex(enc.encode(ctx));
      } catch (err) {
        if (err instanceof CairnError && err.code === 'NotLeader') return notLeader();
        throw err;
      }
      this.pendingReads.set(ctx, { req, index: null });
      n.kick();
      return;
    }
    const cmd: SimCommand =
      req.op === 'cas'
        ? { op: 'cas', client: req.client, seq: req.seq, key: req.key, expected: req.expected ?? null, value: req.value! }
        : { op: req.op as 'put' | 'append', client: req.client, seq: req.seq, key: req.key, value: req.value! };
    let at: { index: number; term: number };
    try {
      // ns: the leader stamps its clock into the command, as the metadata service does.
      at = n.node.propose(req.ns ? nsCommand(req.ns as Exclude<NsOp, NsRead>, req.client, req.seq, this.sim.q.now) : encodeSimCommand(cmd));
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NotLeader') return notLeader();
      if (err instanceof CairnError && err.code === 'ProposalDropped') {
        this.reply(req, { opId: req.opId, ok: false, err: 'Retry', leader: n.leader });
        return;
      }
      throw err;
    }
    const old = this.pendingWrites.get(at.index);
    if (old) this.reply(old.req, { opId: old.req.opId, ok: false, err: 'Retry', leader: n.leader });
    this.pendingWrites.set(at.index, { term: at.term, req });
    n.kick();
  }
}

/** A namespace outcome; StaleRequest goes back as the protocol error the client checks for. */
function nsResultResp(opId: number, r: unknown): ClientResp {
  const o = r as { ok: boolean; code?: string };
  if (!o.ok && o.code === 'StaleRequest') return { opId, ok: false, err: 'StaleRequest', leader: null };
  return { opId, ok: true, result: r };
}

function resultResp(opId: number, r: KvResult): ClientResp {
  if (!r.ok) return { opId, ok: false, err: r.code, leader: null };
  return r.swapped === undefined ? { opId, ok: true } : { opId, ok: true, swapped: r.swapped };
}

/**
 * A simulated client: one operation at a time, retries on timeout / NotLeader, gives up after a
 * few attempts in the safety phase (its write's outcome is then unknown); records the history
 * the linearizability and namespace checkers read. Its requests and answers travel the
 * simulated network (client-protocol.ts).
 */
import type { SeededRng } from '../../src/env/rng.js';
import type { NodeId } from '../../src/raft/types.js';
import type { ClientReq, ClientResp } from './client-protocol.js';
import { describeOp, type HistoryOp, type KvInput, type KvOpKind, type KvOutput } from './linearizability.js';
import { isNsRead, randomNsOp, type NsOp } from './sim-ns-machine.js';
import type { Simulation } from './simulation.js';

type OpKind = KvOpKind;

interface CurrentOp {
  opId: number;
  op: OpKind;
  ns?: NsOp;
  input: KvInput;
  seq: number;
  callTime: number;
  attempts: number;
  /** Bumped per attempt: only the latest attempt's timer counts. */
  attempt: number;
}

/** A client: one operation at a time, retries on timeout / NotLeader, gives up after a few attempts. */
export class SimClient {
  private seq = 0;
  private opIds = 0;
  private cur: CurrentOp | null = null;
  private target: NodeId;
  private readonly lastSeen = new Map<string, string | null>();
  /** Liveness phase: operations still to start; -1 while in the safety phase. */
  livenessLeft = -1;
  /** The only server this client knows (a targeted fault), or null: it tries the others too. */
  private pinned: NodeId | null = null;
  done = false;
  stopped = false;

  constructor(
    private readonly sim: Simulation,
    readonly id: string,
    private readonly rng: SeededRng,
  ) {
    this.target = sim.nodeIds[rng.int(sim.nodeIds.length)]!;
  }

  start(): void {
    this.sim.q.after(this.rng.int(50), () => this.next());
  }

  /** From now on the client talks to `to` only (null: to any server again). */
  pin(to: NodeId | null): void {
    this.pinned = to;
    if (to !== null) this.target = to;
  }

  busy(): boolean {
    return this.cur !== null;
  }

  next(): void {
    if (this.cur || this.stopped) return;
    if (this.livenessLeft === 0) {
      this.done = true;
      return;
    }
    if (this.livenessLeft > 0) this.livenessLeft--;
    if (this.sim.machine === 'ns') {
      const opId = ++this.opIds;
      const ns = randomNsOp(this.rng, this.id, opId);
      const read = isNsRead(ns);
      const seq = read ? 0 : ++this.seq;
      this.cur = { opId, op: read ? 'get' : 'put', ns, input: { key: ns.op }, seq, callTime: this.sim.q.now, attempts: 0, attempt: 0 };
      this.send();
      return;
    }
    const p = this.sim.params;
    const key = `k${this.rng.int(p.keys)}`;
    const r = this.rng.int(100);
    const opId = ++this.opIds;
    const v = `${this.id}.${opId}`;
    let op: OpKind;
    let input: KvInput;
    if (r < 40) {
      op = 'get';
      input = { key };
    } else if (r < 60) {
      op = 'put';
      input = { key, value: `${v};` };
    } else if (r < 85) {
      op = 'append';
      input = { key, value: `${v};` };
    } else {
      op = 'cas';
      input = { key, expected: this.lastSeen.get(key) ?? null, value: `${v};` };
    }
    const seq = op === 'get' ? 0 : ++this.seq;
    this.cur = { opId, op, input, seq, callTime: this.sim.q.now, attempts: 0, attempt: 0 };
    this.send();
  }

  private send(): void {
    const c = this.cur!;
    c.attempts++;
    const attempt = ++c.attempt;
    const req: ClientReq = { client: this.id, opId: c.opId, op: c.op, key: c.input.key, seq: c.seq };
    if (c.ns) req.ns = c.ns;
    if (c.input.value !== undefined) req.value = c.input.value;
    if (c.op === 'cas') req.expected = c.input.expected ?? null;
    this.sim.net.sendToNode(this.id, this.target, req);
    this.sim.q.after(this.sim.params.clientTimeout, () => {
      if (this.cur !== c || c.attempt !== attempt) return;
      this.sim.tr(() => `${this.id} timeout ${c.op}#${c.opId} at ${this.target}`);
      this.target = this.otherNode(this.target);
      this.retry(0);
    });
  }

  private otherNode(not: NodeId): NodeId {
    if (this.pinned !== null) return this.pinned;
    const ids = this.sim.nodeIds.filter((i) => i !== not && !this.sim.nodes.get(i)!.retired);
    return ids.length > 0 ? ids[this.rng.int(ids.length)]! : not;
  }

  private retry(backoff: number): void {
    const c = this.cur!;
    if (this.livenessLeft < 0 && c.attempts >= this.sim.params.clientAttemptsMax) {
      this.giveUp();
      return;
    }
    const attempt = ++c.attempt; // invalidates the pending timer
    this.sim.q.after(backoff, () => {
      if (this.cur === c && c.attempt === attempt) this.send();
    });
  }

  private giveUp(): void {
    const c = this.cur!;
    this.cur = null;
    this.sim.tr(() => `${this.id} gives up ${c.op}#${c.opId}`);
    // A write may still take effect at any later time; a read that never returned constrains nothing.
    if (c.ns) {
      if (c.op !== 'get') this.sim.nsHistory.push({ client: this.id, opId: c.opId, op: c.ns, seq: c.seq, callTime: c.callTime, returnTime: Infinity });
      if (c.op !== 'get') this.sim.stats.opsUnknown++;
    } else if (c.op !== 'get') {
      this.sim.history.push({ clientId: this.id, op: c.op, input: c.input, output: 'unknown', callTime: c.callTime, returnTime: Infinity });
      this.sim.stats.opsUnknown++;
    }
    this.sim.q.after(this.rng.int(this.sim.params.thinkMax + 1), () => this.next());
  }

  onResponse(from: NodeId, resp: ClientResp): void {
    const c = this.cur;
    if (!c || resp.opId !== c.opId) return; // a late answer to an operation already finished
    if (!resp.ok && resp.err === 'StaleRequest') {
      // Only a client's latest seq is ever retried, so the machine must never call it stale.
      this.sim.inv.report(`exactly-once: ${from} refused ${this.id}'s current request ${c.op}#${c.opId} (seq ${c.seq}) as stale`);
      return;
    }
    if (!resp.ok) {
      this.sim.tr(() => `${this.id} <- ${from} ${resp.err} ${c.op}#${c.opId} (leader ${resp.leader ?? '-'})`);
      this.target = this.pinned ?? (resp.leader !== null && resp.leader !== from ? resp.leader : this.otherNode(from));
      this.retry(5 + this.rng.int(20));
      return;
    }
    if (c.ns) {
      this.sim.nsHistory.push({ client: this.id, opId: c.opId, op: c.ns, seq: c.seq, callTime: c.callTime, returnTime: this.sim.q.now, result: resp.result });
      this.sim.stats.opsOk++;
      this.sim.tr(() => `${this.id} <- ${from} ${c.ns!.op}#${c.opId} = ${JSON.stringify(resp.result)}`);
      this.cur = null;
      this.target = from;
      this.sim.q.after(this.rng.int(this.sim.params.thinkMax + 1), () => this.next());
      return;
    }
    let output: KvOutput;
    if (c.op === 'get') {
      output = { value: resp.value ?? null };
      this.lastSeen.set(c.input.key, resp.value ?? null);
    } else if (c.op === 'cas') {
      output = { ok: resp.swapped === true };
    } else {
      output = {};
    }
    const h: HistoryOp = { clientId: this.id, op: c.op, input: c.input, output, callTime: c.callTime, returnTime: this.sim.q.now };
    this.sim.history.push(h);
    this.sim.stats.opsOk++;
    this.sim.tr(() => `${this.id} <- ${from} ${describeOp(h)}`);
    this.cur = null;
    this.target = from;
    this.sim.q.after(this.rng.int(this.sim.params.thinkMax + 1), () => this.next());
  }
}

/**
 * The simulated network: delay, drop, duplication, reordering, and partitions (as blocked
 * one-way links). Between servers it carries bytes, as the real transport does: Raft messages
 * encoded by the production codec and snapshot-transfer frames, decoded by the receiving node.
 * Raft messages may overtake each other; snapshot frames on a link keep their order unless the
 * reorder fault strikes, as the transfer expects of its one stream.
 */
import { decodeRaftMessage } from '../../src/proto/raft-codec.js';
import { decodeSnapshotFrame, isSnapshotFrame } from '../../src/consensus/snapshot-transfer.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { ClientReq, ClientResp } from './client-protocol.js';
import type { Simulation } from './simulation.js';

export class SimNetwork {
  /** Blocked directed links "a>b". */
  readonly blocked = new Set<string>();
  faults = true;

  constructor(private readonly sim: Simulation) {}

  /** When the last in-order frame on each link "a>b" arrives (snapshot transfers run over one stream). */
  private readonly streamTail = new Map<string, number>();

  /**
   * Delay of one delivery. A `stream` link keeps the base delays in order, as one TCP connection
   * does; the reorder fault still lets a frame be overtaken (a connection lost and re-made).
   */
  private delay(stream?: string): number {
    const p = this.sim.params;
    const rng = this.sim.rng.net;
    let d = p.netDelayMin + rng.int(p.netDelayJitter + 1);
    if (stream !== undefined) {
      const at = Math.max(this.sim.q.now + d, this.streamTail.get(stream) ?? 0);
      this.streamTail.set(stream, at);
      d = at - this.sim.q.now;
    }
    if (this.faults && rng.next() < p.reorderRate) d += rng.int(p.reorderDelayMax);
    return d;
  }

  /** Schedule delivery (and maybe a duplicate); false if dropped. */
  private carry(deliver: () => void, stream?: string): boolean {
    const p = this.sim.params;
    const rng = this.sim.rng.net;
    if (this.faults && rng.next() < p.dropRate) return false;
    this.sim.q.after(this.delay(stream), deliver);
    if (this.faults && rng.next() < p.dupRate) this.sim.q.after(this.delay(stream), deliver);
    return true;
  }

  /** A frame from server `from` to server `to` (a Raft message or a snapshot-transfer frame). */
  sendPeer(from: NodeId, to: NodeId, payload: Uint8Array): void {
    const sim = this.sim;
    if (this.blocked.has(`${from}>${to}`)) {
      // The transport notices a dead link some of the time and tells the leader.
      if (sim.rng.net.int(4) === 0) {
        const n = sim.nodes.get(from);
        const inc = n?.incarnation;
        sim.q.after(1, () => {
          if (n && n.up && n.incarnation === inc) n.reportUnreachable(to);
        });
      }
      return;
    }
    const n = sim.nodes.get(to);
    if (!n) return;
    this.carry(() => {
      if (this.blocked.has(`${from}>${to}`)) return; // partitioned while in flight
      sim.tr(() => `${from}->${to} ${describeFrame(payload)}${n.up ? '' : ' (down)'}`);
      n.receive(from, payload);
    }, isSnapshotFrame(payload) ? `${from}>${to}` : undefined);
  }

  sendToNode(client: string, to: NodeId, req: ClientReq): void {
    const n = this.sim.nodes.get(to);
    if (!n) return;
    this.carry(() => n.onRequest(req));
    this.sim.tr(() => `${client} -> ${to} ${req.op}#${req.opId} ${req.key}${req.value !== undefined ? ' ' + req.value : ''}`);
  }

  sendToClient(from: NodeId, client: string, resp: ClientResp): void {
    const c = this.sim.clients.get(client);
    if (!c) return;
    this.carry(() => c.onResponse(from, resp));
  }
}

/** A frame for the trace (decoded again: the trace is built only when tracing). */
function describeFrame(payload: Uint8Array): string {
  try {
    if (isSnapshotFrame(payload)) {
      const f = decodeSnapshotFrame(payload);
      switch (f.kind) {
        case 'piece':
          return `snapshot piece ${f.transfer}#${f.seq} (${f.bytes.byteLength} bytes)`;
        case 'done':
          return `snapshot done ${f.transfer} after ${f.pieces} pieces`;
        case 'ack':
          return `snapshot ack ${f.transfer}#${f.seq}`;
        case 'fail':
          return `snapshot fail ${f.transfer}: ${f.reason}`;
      }
    }
    return describeMessage(decodeRaftMessage(payload));
  } catch (err) {
    return `malformed frame (${(err as Error).message})`;
  }
}

function describeMessage(m: Message): string {
  switch (m.type) {
    case 'app':
      return `app t${m.term} prev ${m.prevIndex}/${m.prevTerm} [${m.entries.length > 0 ? `${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}` : ''}] commit ${m.commit}`;
    case 'app-resp':
      return `app-resp t${m.term} ${m.reject ? `REJECT ${m.index} hint ${m.hintIndex}/${m.hintTerm}` : `ok ${m.index}`}`;
    case 'vote':
    case 'pre-vote':
      return `${m.type} t${m.term} last ${m.lastLogIndex}/${m.lastLogTerm}${m.transfer ? ' transfer' : ''}`;
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${m.type} t${m.term} ${m.reject ? 'reject' : 'grant'}`;
    case 'heartbeat':
      return `heartbeat t${m.term} commit ${m.commit}${m.ctx.byteLength > 0 ? ' read' : ''}`;
    case 'heartbeat-resp':
      return `heartbeat-resp t${m.term}`;
    case 'snap':
      return `snap t${m.term} ${m.snapshot.meta.index}/${m.snapshot.meta.term}`;
    case 'timeout-now':
      return `timeout-now t${m.term}`;
  }
}

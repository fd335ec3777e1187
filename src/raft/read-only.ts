/**
 * Pending ReadIndex requests on the leader (Raft thesis §6.4; etcd readOnly, ReadOnlySafe).
 * Each request records the commit index at arrival; it is released once a quorum of voters has
 * answered a heartbeat carrying its ctx (or a later one: acks are cumulative, because a
 * heartbeat round that confirms leadership after request B was queued also confirms it for
 * every earlier request A).
 */
import type { NodeId, ReadState } from './types.js';

interface ReadRequest {
  index: number;
  ctx: Uint8Array;
  key: string;
  acks: Set<NodeId>;
}

export function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadRequest>();
  private queue: ReadRequest[] = [];

  /** Queue a request; ignored if a request with the same ctx is already pending. */
  add(index: number, ctx: Uint8Array, self: NodeId): boolean {
    const key = ctxKey(ctx);
    if (this.pending.has(key)) return false;
    const req: ReadRequest = { index, ctx, key, acks: new Set([self]) };
    this.pending.set(key, req);
    this.queue.push(req);
    return true;
  }

  /** Record an ack for ctx; returns the set of nodes that acked it (null if unknown ctx). */
  recvAck(from: NodeId, ctx: Uint8Array): Set<NodeId> | null {
    const req = this.pending.get(ctxKey(ctx));
    if (!req) return null;
    req.acks.add(from);
    return req.acks;
  }

  /** Release every request up to and including ctx's, in arrival order. */
  advance(ctx: Uint8Array): ReadState[] {
    const key = ctxKey(ctx);
    const i = this.queue.findIndex((r) => r.key === key);
    if (i < 0) return [];
    const done = this.queue.slice(0, i + 1);
    this.queue = this.queue.slice(i + 1);
    for (const r of done) this.pending.delete(r.key);
    return done.map((r) => ({ index: r.index, ctx: r.ctx }));
  }

  /** ctx of the newest pending request (carried by heartbeats), or null. */
  lastPendingCtx(): Uint8Array | null {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]!.ctx : null;
  }

  get size(): number {
    return this.queue.length;
  }

  clear(): void {
    this.pending.clear();
    this.queue = [];
  }
}

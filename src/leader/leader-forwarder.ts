/**
 * A follower forwards client calls to the leader (as etcd forwards proposals), so a client or
 * gateway that reaches a follower but not the leader still makes progress: without it the
 * follower answers NotLeader, the client goes to the leader it cannot reach, and every call
 * stalls until the partition heals.
 *
 * Only calls of clients (the client token) are forwarded, and only while this server hears
 * from the leader (otherwise the forward would only turn a quick NotLeader into a timeout).
 * The forward goes as this server (cluster secret, its own id), so the leader never forwards it
 * again. Outcomes keep their meaning for the client (client/meta-session.ts): a forward that
 * could not connect, or that the leader refused with NotLeader, answers the original NotLeader
 * (nothing was applied); a forward that timed out answers Timeout (outcome unknown).
 */
import { isCairnError, type CairnError } from '../util/errors.js';
import type { Caller } from './meta-leader.js';

/** One connection to the leader (net/RpcClient implements it). */
export interface ForwardConn {
  call(method: string, body: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
  close(): void;
}

export interface LeaderForwarderComponents {
  /** A connection to a metadata server, authenticated as this server. */
  dial(addr: string): ForwardConn;
  /** Since a message from the leader arrived (null: none yet). */
  leaderContactMs(): number | null;
}

export interface LeaderForwarderOptions {
  /** Forward only while the leader was heard from within this long. */
  leaderContactMsMax: number;
  /** Per-forward timeout: below the client's per-call timeout, so the client sees the answer. */
  timeoutMs: number;
}

export class LeaderForwarder {
  private readonly conns = new Map<string, ForwardConn>();
  private closed = false;

  constructor(
    private readonly c: LeaderForwarderComponents,
    private readonly o: LeaderForwarderOptions,
  ) {}

  /** Run `local`; a NotLeader of a client's call is forwarded to the leader when that can help. */
  async handle(method: string, body: unknown, caller: Caller, local: () => Promise<unknown>): Promise<unknown> {
    try {
      return await local();
    } catch (err) {
      if (!this.shouldForward(err, caller)) throw err;
      return this.forward((err as CairnError).detail!.leaderAddr as string, method, body, err as CairnError);
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  private shouldForward(err: unknown, caller: Caller): boolean {
    if (this.closed || caller.role !== 'client' || !isCairnError(err) || err.code !== 'NotLeader') return false;
    if (typeof err.detail?.leaderAddr !== 'string') return false;
    const contact = this.c.leaderContactMs();
    return contact !== null && contact <= this.o.leaderContactMsMax;
  }

  private async forward(addr: string, method: string, body: unknown, notLeader: CairnError): Promise<unknown> {
    let conn = this.conns.get(addr);
    if (!conn) this.conns.set(addr, (conn = this.c.dial(addr)));
    try {
      return await conn.call(method, body, { timeoutMs: this.o.timeoutMs });
    } catch (err) {
      if (!isCairnError(err)) throw err;
      if (err.detail?.connectFailed === true) {
        this.drop(addr);
        throw notLeader;
      }
      if (err.code === 'Timeout' || err.code === 'Unavailable') this.drop(addr);
      throw err;
    }
  }

  private drop(addr: string): void {
    this.conns.get(addr)?.close();
    this.conns.delete(addr);
  }
}

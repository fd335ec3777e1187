/**
 * Replicas reported bad by clients (fs.bad), waiting to be re-verified by the server that holds
 * them. A client's report is a hint, never a verdict: the leader keeps counting the replica (stat
 * lists it, status never calls its chunk lost for it) and sends the holder a `{op:'verify', id}`
 * command with its next heartbeat answer, work poll or report answer. The server re-reads the
 * replica; only if it is corrupt or missing does the server report it removed (cs.update), and
 * that report — the holder's own word — is what makes repair copy the chunk again.
 *
 * Bounded: reports are rate-limited per session (the caller's connection: a token bucket of
 * reportsPerSecMax with a burst of reportBurstMax), each server has at most pendingPerServerMax
 * checks waiting (a replica already waiting is not queued twice), and at most commandsPerAnswerMax
 * go out in one answer. A refused report is dropped silently: a reader that still finds the
 * replica bad reports it again on its next read. Soft state of one term, pure (time comes in).
 */

/** A report accepted (queued), already waiting, or refused by a limit. */
export type CheckOutcome = 'queued' | 'waiting' | 'rate-limited' | 'full';

export interface ReplicaChecksOptions {
  /** Sustained reports per session. @default 20 */
  reportsPerSecMax?: number;
  /** Reports a session may send at once before the rate applies. @default 100 */
  reportBurstMax?: number;
  /** Checks waiting per chunk server. @default 1024 */
  pendingPerServerMax?: number;
  /** Verify commands in one answer. @default 256 */
  commandsPerAnswerMax?: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class ReplicaChecks {
  private readonly reportsPerSecMax: number;
  private readonly reportBurstMax: number;
  private readonly pendingPerServerMax: number;
  private readonly commandsPerAnswerMax: number;
  /** Per server, the chunks to verify (insertion order: oldest first). */
  private readonly pending = new Map<string, Set<string>>();
  /** Keyed by the caller's connection, forgotten with it. */
  private readonly buckets = new WeakMap<object, Bucket>();
  /** Reports accepted, already waiting, refused (status and tests). */
  readonly counters = { queued: 0, waiting: 0, refused: 0 };

  constructor(o: ReplicaChecksOptions = {}) {
    this.reportsPerSecMax = o.reportsPerSecMax ?? 20;
    this.reportBurstMax = o.reportBurstMax ?? 100;
    this.pendingPerServerMax = o.pendingPerServerMax ?? 1024;
    this.commandsPerAnswerMax = o.commandsPerAnswerMax ?? 256;
  }

  /** A report that `server`'s replica of `chunk` is bad, from `session` (undefined: not rate-limited). */
  report(server: string, chunk: string, session: object | undefined, nowMs: number): CheckOutcome {
    if (session !== undefined && !this.take(session, nowMs)) {
      this.counters.refused++;
      return 'rate-limited';
    }
    let set = this.pending.get(server);
    if (set?.has(chunk)) {
      this.counters.waiting++;
      return 'waiting';
    }
    if (set && set.size >= this.pendingPerServerMax) {
      this.counters.refused++;
      return 'full';
    }
    if (!set) this.pending.set(server, (set = new Set()));
    set.add(chunk);
    this.counters.queued++;
    return 'queued';
  }

  /** The verify commands for `server` (taken: each is sent once; a lost one is a lost hint). */
  commandsFor(server: string): Array<{ op: 'verify'; id: string }> {
    const set = this.pending.get(server);
    if (!set) return [];
    const out: Array<{ op: 'verify'; id: string }> = [];
    for (const id of set) {
      if (out.length >= this.commandsPerAnswerMax) break;
      out.push({ op: 'verify', id });
      set.delete(id);
    }
    if (set.size === 0) this.pending.delete(server);
    return out;
  }

  /** Checks waiting for `server`. */
  waitingFor(server: string): number {
    return this.pending.get(server)?.size ?? 0;
  }

  private take(session: object, nowMs: number): boolean {
    let b = this.buckets.get(session);
    if (!b) this.buckets.set(session, (b = { tokens: this.reportBurstMax, atMs: nowMs }));
    b.tokens = Math.min(this.reportBurstMax, b.tokens + ((nowMs - b.atMs) / 1000) * this.reportsPerSecMax);
    b.atMs = nowMs;
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}

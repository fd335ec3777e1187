/**
 * The scrub rounds of one leader term (`cairn scrub`): on-demand verification of every replica
 * of a set of chunk servers, with the bookkeeping that turns their reports into what the operator
 * asked for — replicas checked, corrupt, missing, and repaired.
 *
 * A round begins with a snapshot, per server, of the chunks this leader believes it holds. The
 * server learns of the round from a `{op:'scrub', round, bytesPerSecMax}` command in its heartbeat
 * answer or work poll (sent until its first report arrives), verifies every replica it lists and
 * reports pages of verified and corrupt ids, then `done`. Each corrupt replica, and at `done` each
 * missing one (in the snapshot, still believed now, never reported: the server has no such
 * file), is returned to the caller to stop counting as a location, so repair copies the chunk
 * again. Chunks placed on a server after the round began are not in its snapshot and never count
 * as missing; ones it deleted meanwhile (reported removed) are no longer believed and do not either.
 *
 * A found replica is `repaired` once its chunk is back at its full count of live verified
 * replicas, `unrepairable` while the chunk has no live verified copy left, and settled without
 * either once no file references the chunk. A round is done when every server finished and every
 * found replica is repaired, unrepairable or unreferenced; its figures are then frozen. It fails
 * when a server in it stops being alive before finishing, or when its deadline passes. A server
 * that registers again (a new process) starts its part of the round over. One round at a time
 * per server: a request for the same servers joins the running round, an overlapping one is refused.
 *
 * Soft state of the term (a new leader knows no round: the CLI then fails clearly). Pure and
 * synchronous; time comes in as `nowMs` arguments.
 */
import type { ScrubRoundStatus, ScrubServerState, ScrubState } from '../proto/meta-answers.js';
import type { ScrubReportRequest } from '../proto/meta-requests.js';
import { CairnError } from '../util/errors.js';

/** What a round needs to know about the cluster now. */
export interface ScrubView {
  /** Replicas per chunk. */
  replicas: number;
  isAlive(server: string): boolean;
  /** Whether the leader still counts `server` as holding `chunk`. */
  holds(server: string, chunk: string): boolean;
  /** Live servers holding a verified replica of `chunk`. */
  liveCopies(chunk: string): number;
  isReferenced(chunk: string): boolean;
}

export interface ScrubRoundsOptions {
  /** Finished rounds remembered for cluster.scrubStatus. @default 16 */
  finishedRoundsMax?: number;
}

export interface ScrubStart {
  servers: readonly string[];
  /** The chunks the leader believes `server` holds now. */
  believed(server: string): Iterable<string>;
  bytesPerSecMax: number;
  timeoutMs: number;
  nowMs: number;
}

interface ServerPart {
  state: ScrubServerState;
  /** Believed at the start (or at the server's restart) and not reported since. */
  pending: Set<string>;
  expected: number;
  /** The last report page applied (a repeated page changes nothing). */
  lastPage: number;
  checked: number;
  corrupt: Set<string>;
  missing: Set<string>;
}

interface Round {
  id: string;
  scope: string;
  bytesPerSecMax: number;
  deadlineMs: number;
  parts: Map<string, ServerPart>;
  /** `chunk@server` → chunk, for every replica found corrupt or missing. */
  found: Map<string, string>;
  error: string | null;
  /** Set once done or failed: the figures the round ended with. */
  final: ScrubRoundStatus | null;
}

export class ScrubRounds {
  private readonly term: number;
  private readonly finishedRoundsMax: number;
  private readonly rounds = new Map<string, Round>();
  private seq = 0;

  constructor(o: ScrubRoundsOptions & { term: number }) {
    this.term = o.term;
    this.finishedRoundsMax = o.finishedRoundsMax ?? 16;
  }

  /**
   * Begin a round over `servers` (sorted ids, at least one), or join the running one over exactly
   * those servers. PreconditionFailed when a running round covers some of them but not the same set.
   */
  start(s: ScrubStart, view: ScrubView): string {
    this.refresh(view, s.nowMs);
    const scope = [...s.servers].sort().join(',');
    for (const r of this.running()) {
      if (r.scope === scope) return r.id;
      if (s.servers.some((id) => r.parts.has(id))) throw new CairnError('PreconditionFailed', `scrub round ${r.id} is running on some of these servers; wait for it to finish`);
    }
    const id = `${this.term}-${++this.seq}`;
    const parts = new Map<string, ServerPart>();
    for (const server of s.servers) parts.set(server, newPart(s.believed(server)));
    this.rounds.set(id, { id, scope, bytesPerSecMax: s.bytesPerSecMax, deadlineMs: s.nowMs + s.timeoutMs, parts, found: new Map(), error: null, final: null });
    return id;
  }

  /** Scrub commands for `server`: one per running round it has not acknowledged yet. */
  commandsFor(server: string): unknown[] {
    const out: unknown[] = [];
    for (const r of this.running()) {
      if (r.parts.get(server)?.state === 'waiting') out.push({ op: 'scrub', round: r.id, bytesPerSecMax: r.bytesPerSecMax });
    }
    return out;
  }

  /**
   * A page of `server`'s progress. Returns whether the server should go on (false: no such round
   * running with it) and the chunks the leader must stop counting on `server` (corrupt, and at
   * `done` missing).
   */
  report(server: string, req: ScrubReportRequest, view: ScrubView): { active: boolean; bad: string[] } {
    const r = this.rounds.get(req.round);
    const part = r?.parts.get(server);
    if (!r || r.final || !part || part.state === 'done' || part.state === 'failed') return { active: false, bad: [] };
    if (req.page <= part.lastPage) return { active: true, bad: [] };
    part.lastPage = req.page;
    part.state = 'scrubbing';
    const bad: string[] = [];
    for (const c of req.verified) {
      part.pending.delete(c);
      part.checked++;
    }
    for (const c of req.corrupt) {
      part.pending.delete(c);
      part.checked++;
      part.corrupt.add(c);
      r.found.set(`${c}@${server}`, c);
      bad.push(c);
    }
    if (req.done) {
      for (const c of part.pending) {
        if (!view.holds(server, c)) continue;
        part.missing.add(c);
        r.found.set(`${c}@${server}`, c);
        bad.push(c);
      }
      part.pending.clear();
      part.state = 'done';
    }
    return { active: !req.done, bad };
  }

  /** `server` registered again (a new process): its part of every running round starts over. */
  restarted(server: string, believed: () => Iterable<string>): void {
    for (const r of this.running()) {
      const part = r.parts.get(server);
      if (!part || part.state === 'done' || part.state === 'failed') continue;
      const fresh = newPart(believed());
      r.parts.set(server, { ...fresh, corrupt: part.corrupt, missing: part.missing });
    }
  }

  /** A round's figures now (`id` absent: the running round, else the latest). NotFound when unknown to this leader. */
  status(id: string | undefined, view: ScrubView, nowMs: number): ScrubRoundStatus {
    this.refresh(view, nowMs);
    const r = id === undefined ? (this.running()[0] ?? [...this.rounds.values()].pop()) : this.rounds.get(id);
    if (!r) throw new CairnError('NotFound', id === undefined ? 'no scrub round on this leader' : `no scrub round ${id} on this leader (the metadata leader may have changed)`);
    return r.final ?? figures(r, 'running', view);
  }

  /** Whether any round is running (status shows its progress). */
  active(): boolean {
    return this.running().length > 0;
  }

  /**
   * Counters for cluster.repair (hence the gateway's /metrics and `cairn status`): rounds started
   * in this term, whether one is running, and the latest round's figures (expected: the replicas
   * its servers were believed to hold).
   */
  counters(view: ScrubView, nowMs: number): Record<string, number> {
    this.refresh(view, nowMs);
    const out = { scrubRounds: this.seq, scrubRunning: this.active() ? 1 : 0, scrubExpected: 0, scrubChecked: 0, scrubCorrupt: 0, scrubMissing: 0, scrubRepaired: 0 };
    if (this.rounds.size === 0) return out;
    const s = this.status(undefined, view, nowMs);
    return { ...out, scrubExpected: s.servers.reduce((n, x) => n + x.expected, 0), scrubChecked: s.checked, scrubCorrupt: s.corrupt, scrubMissing: s.missing, scrubRepaired: s.repaired };
  }

  /** Settle rounds: fail those with a dead server or past their deadline, finish those complete. */
  private refresh(view: ScrubView, nowMs: number): void {
    for (const r of this.running()) {
      for (const [id, part] of r.parts) {
        if ((part.state === 'waiting' || part.state === 'scrubbing') && !view.isAlive(id)) {
          part.state = 'failed';
          r.error ??= `chunk server ${id} stopped answering during the scrub`;
        }
      }
      if (r.error === null && nowMs >= r.deadlineMs) r.error = `the scrub did not finish within its time limit`;
      if (r.error !== null) {
        r.final = figures(r, 'failed', view);
        continue;
      }
      const every = [...r.parts.values()].every((p) => p.state === 'done');
      if (every && [...r.found.values()].every((c) => settled(c, view))) r.final = figures(r, 'done', view);
    }
    const finished = [...this.rounds.values()].filter((r) => r.final);
    for (const r of finished.slice(0, Math.max(0, finished.length - this.finishedRoundsMax))) this.rounds.delete(r.id);
  }

  private running(): Round[] {
    return [...this.rounds.values()].filter((r) => !r.final);
  }
}

function newPart(believed: Iterable<string>): ServerPart {
  const pending = new Set(believed);
  return { state: 'waiting', pending, expected: pending.size, lastPage: 0, checked: 0, corrupt: new Set(), missing: new Set() };
}

/** A found replica needs nothing more: its chunk is whole again, lost, or no longer referenced. */
function settled(chunk: string, view: ScrubView): boolean {
  if (!view.isReferenced(chunk)) return true;
  const live = view.liveCopies(chunk);
  return live === 0 || live >= view.replicas;
}

function figures(r: Round, state: ScrubState, view: ScrubView): ScrubRoundStatus {
  let repaired = 0;
  let unrepairable = 0;
  for (const c of r.found.values()) {
    if (!view.isReferenced(c)) continue;
    const live = view.liveCopies(c);
    if (live >= view.replicas) repaired++;
    else if (live === 0) unrepairable++;
  }
  const servers = [...r.parts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, p]) => ({ id, state: p.state, checked: p.checked, corrupt: p.corrupt.size, missing: p.missing.size, expected: p.expected }));
  const sum = (k: 'checked' | 'corrupt' | 'missing'): number => servers.reduce((n, s) => n + s[k], 0);
  return { round: r.id, state, error: r.error, checked: sum('checked'), corrupt: sum('corrupt'), missing: sum('missing'), repaired, unrepairable, servers };
}

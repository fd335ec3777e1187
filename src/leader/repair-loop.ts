/**
 * Drives a term's RepairScheduler: plans repair from the term's registry and the committed chunk
 * index, hands a chunk server its work (as wire commands) and answers held cs.work polls when a
 * scan queued work for them.
 *
 * Commands on the wire: {op:'copy', id, sources:[{id, addr}], token} (a read token for the
 * sources) · {op:'delete', id}. A server gets work only once it is in the map and has sent this
 * leader a full report; a scan runs only once every live server has (so "not reported yet" is
 * never mistaken for "missing").
 *
 * A scan runs in steps (RepairScheduler.scanSteps): the first at once, the rest on timers, so a
 * chunk index of millions never holds the leader's event loop for more than a slice. One pass at
 * a time per term; a scan asked for while one runs starts as soon as it ends.
 */
import type { Clock, Timers } from '../env/clock.js';
import { REPAIR_SCAN_SHARE_PERCENT_MAX } from '../config/defaults.js';
import { CHUNK_PREFIX, type MetaReadView } from '../meta/namespace-keys.js';
import type { Logger } from '../util/logger.js';
import type { LeaderTerm } from './leader-term.js';
import { REPAIR_SCAN_SLICE_CHUNKS, type RepairTask } from './repair-scheduler.js';
import type { TokenSigner } from './token-signer.js';

export interface RepairLoopComponents {
  /** Committed state (cluster map, chunk index). */
  view: MetaReadView;
  tokens: TokenSigner;
  /** Runs the steps of a scan after the first. */
  timers: Timers;
  /** Times each pass (LeaderTerm.lastRepairPassMs). */
  clock: Clock;
  logger: Logger;
}

export interface RepairLoopOptions {
  /** Replicas per chunk. */
  replicas: number;
  /** How long a chunk token stays valid. */
  tokenTtlMs: number;
}

/**
 * When the next periodic repair pass is due: `scanMs` after the last one started, or later when
 * passes are long, so that they take at most REPAIR_SCAN_SHARE_PERCENT_MAX % of the leader's
 * time. A pass plans every chunk the index references (~3 µs each here), so on a large index a
 * pass a second would take a fifth of the leader and more (bench/RESULTS.md, twentieth session);
 * what needs a pass at once (a server falling silent) does not wait for this.
 */
export function nextRepairScanMs(lastScanMs: number, lastPassMs: number, scanMs: number): number {
  return lastScanMs + Math.max(scanMs, (lastPassMs * 100) / REPAIR_SCAN_SHARE_PERCENT_MAX);
}

/** The first key after every chunk-index key. */
export const CHUNK_PREFIX_END = CHUNK_PREFIX.slice(0, -1) + '0';

export class RepairLoop {
  private readonly c: RepairLoopComponents;
  private readonly o: RepairLoopOptions;

  constructor(c: RepairLoopComponents, o: RepairLoopOptions) {
    this.c = c;
    this.o = o;
  }

  /** Every live chunk server has sent this leader a full report (its location map is complete). */
  ready(t: LeaderTerm, nowMs: number): boolean {
    return this.reportsPending(t, nowMs).length === 0;
  }

  /** Live chunk servers whose full report this leader has not had yet (sorted ids). */
  reportsPending(t: LeaderTerm, nowMs: number): string[] {
    return t.cluster
      .ring()
      .servers.filter((s) => t.registry.isAlive(s.id, nowMs) && !t.registry.hasReported(s.id))
      .map((s) => s.id)
      .sort();
  }

  /**
   * Plan repair now (or, while a pass runs, right after it), then answer every held poll whose
   * server has work.
   */
  scan(t: LeaderTerm, nowMs: number): void {
    if (t.repairPass) {
      t.repairPass.againAtMs = nowMs;
      return;
    }
    const pass: { againAtMs: number | null } = { againAtMs: null };
    t.repairPass = pass;
    const startedMs = this.c.clock.nowMs();
    const steps = this.steps(t, nowMs);
    const step = (): void => {
      if (t.ended) return void (t.repairPass = null);
      let done: boolean | undefined;
      try {
        done = steps.next().done;
      } catch (err) {
        t.repairPass = null;
        this.c.logger.warn('repair scan failed', { err: (err as Error).message });
        return;
      }
      if (!done) {
        this.c.timers.setTimeout(step, 0);
        return;
      }
      t.repairPass = null;
      t.lastRepairPassMs = this.c.clock.nowMs() - startedMs;
      // (A poll whose connection closed was released by its abort listener already.)
      for (const id of t.polls.servers()) {
        const commands = this.take(t, id, nowMs);
        if (commands.length > 0) t.polls.release(id, commands);
      }
      if (pass.againAtMs !== null) this.scan(t, pass.againAtMs);
    };
    step();
  }

  private steps(t: LeaderTerm, nowMs: number): Generator<void, void, void> {
    const reg = t.registry;
    const ring = t.cluster.ring();
    const view = this.c.view;
    return t.repair.scanSteps({
      view: {
        ring,
        replicas: this.o.replicas,
        isAlive: (s) => ring.server(s) !== undefined && reg.isAlive(s, nowMs),
        isFull: (s) => reg.load(s)?.full ?? false,
        locations: (id) => reg.locations(id),
      },
      referenced: referencedChunks(view),
      isReferenced: (id) => view.get(CHUNK_PREFIX + id) !== undefined,
      located: reg.located(),
      nowMs,
    });
  }

  /** Repair work for chunk server `id`, marked handed out; none before it is in the map and has reported in full. */
  take(t: LeaderTerm, id: string, nowMs: number): unknown[] {
    if (!t.cluster.ring().server(id) || !t.registry.hasReported(id)) return [];
    return t.repair.take(id, nowMs).map((task) => this.commandOf(t, task));
  }

  /** A repair task on the wire: copies carry where to read from and a read token. */
  private commandOf(t: LeaderTerm, task: RepairTask): unknown {
    if (task.op === 'delete') return { op: 'delete', id: task.id };
    const servers = t.cluster.servers();
    const sources = task.from.filter((s) => servers.has(s)).map((s) => ({ id: s, addr: servers.get(s)!.addr }));
    return { op: 'copy', id: task.id, sources, token: this.c.tokens.signFor('read', task.id, this.o.tokenTtlMs) };
  }
}

/**
 * Every chunk the index references, read a page at a time: a page is read whole before its ids
 * are handed out, so no LMDB read stays open while the scan pauses.
 */
function* referencedChunks(view: MetaReadView): Generator<string> {
  let from = CHUNK_PREFIX;
  for (;;) {
    const page = [...view.range(from, CHUNK_PREFIX_END, REPAIR_SCAN_SLICE_CHUNKS)];
    for (const [key] of page) yield key.slice(CHUNK_PREFIX.length);
    if (page.length < REPAIR_SCAN_SLICE_CHUNKS) return;
    from = `${page[page.length - 1]![0]}\u0000`;
  }
}

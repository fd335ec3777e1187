/**
 * One chunk of a write onto all of its replicas (file-writer.ts cuts the input into chunks and
 * commits them): names and places the chunk from the client's placement view, sends its bytes by
 * the write's PutStrategy, and replaces failed targets until every replica holds it durably.
 *
 * Contracts:
 * - A chunk counts only once EVERY target acknowledged it durably. A failed target makes the
 *   uploader refresh the view and re-send to the next servers in ring order outside the failed
 *   and the holding servers (fs.retarget when the chunk's grant is too old to use); the chunk's
 *   bytes are the caller's and stay untouched until upload() settles.
 * - When no server outside the failed and the holding ones is left (a small cluster, or a rolling
 *   restart that took two servers down one after the other while the chunk was being sent), the
 *   failed servers are tried again after a backoff: a restarted server refuses connections only
 *   for a moment. The write fails once RETARGETS_MAX sends have failed AND RETARGET_WINDOW_MS
 *   has passed since the first send (or after SENDS_MAX sends, whichever comes first).
 * - A server that refused the chunk for lack of space (NoSpace) is not asked again for it: a
 *   full disk does not empty in seconds. When only such servers are left the write fails at once
 *   with NoSpace (HDFS: "could only be replicated to N nodes"), not after the retry window.
 * - Every ring version a chunk was placed with is reported through `onPlaced` (the commit carries
 *   the oldest).
 */
import type { ChunkPutOutcome, ChunkTarget, ChunkTargetResult } from '../chunk/chunk-client.js';
import { decodeRetarget, type WriteTarget } from '../proto/meta-answers.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { ClientCore } from './client-core.js';
import type { Grant, PlacementView } from './placement-cache.js';

/**
 * How a chunk's bytes reach its R replicas:
 * - pipeline: client → t1 → t2 → t3, each server stores and forwards (HDFS)
 * - fanout:   client → t1, client → t2, client → t3 in parallel
 * - split:    client → t1 and client → t2 → t3 at once (two streams out of the client, one hop
 *             less of latency than the pipeline, one stream less than fan-out)
 */
export type PutStrategy = 'pipeline' | 'fanout' | 'split';

export const PUT_STRATEGIES: readonly PutStrategy[] = ['pipeline', 'fanout', 'split'];

/**
 * Pipeline, by measurement (bench/put-strategy.ts, 8 MiB chunks, 3 chunk-server + 3 metadata
 * processes on this 2-core host):
 * - 2026-12 first pass, load ≈ 4, 512 MiB puts, medians of 3: pipeline 107 MiB/s with 0.36 s
 *   client CPU per 512 MiB, fan-out 108 MiB/s with 0.65 s.
 * - 2026-12-06, load 34–52 (the machine shared with other builds), 128 MiB puts, 2 rounds,
 *   CPU-s per GiB client + chunk servers summed: pipeline 2.7 + 25.5 / 1.4 + 19.4 / 1.7 + 23.6 /
 *   1.6 + 18.5 at 2/3/4/5 uploads in flight; fan-out 2.6 + 19.2 / 3.3 + 15.5 / 2.8 + 19.9 /
 *   2.6 + 20.0; split (client → t1 and → t2 → t3) 3.1 + 18.9 / 1.8 + 19.9 / 2.7 + 20.9 /
 *   3.8 + 20.8. Fan-out spares the servers the forwarding (each forwarding hop is a socket
 *   receive plus a send in JavaScript); the pipeline spares the client 1.5–2 CPU-s per GiB.
 *   A second run (load 40–44, 3 rounds, 3 in flight): pipeline 2.3 + 27.7, fan-out 2.5 + 19.9,
 *   split 2.5 + 21.6. Rounds of one setting differ by 2× in MiB/s at such load; the servers'
 *   CPU leans to fan-out (10–25 % less in total at 3 in flight) but wants a quiet-machine run
 *   before the default moves.
 * So the topology is chosen by the network, not this host: every strategy sends each byte across
 * R links and writes it to R disks, but only the pipeline sends it out of the client ONCE — on
 * a real network the client's uplink is what a batch job's puts share (why HDFS pipelines),
 * while fan-out needs R× that uplink and split 2×. Fan-out and split stay selectable per write.
 */
export const PUT_STRATEGY: PutStrategy = 'pipeline';

/** Target replacements tried per chunk before the write may fail (see RETARGET_WINDOW_MS). */
const RETARGETS_MAX = 5;
/** How long a chunk's failed servers are tried again, from its first send, before the write fails. */
export const RETARGET_WINDOW_MS = 15_000;
/** Sends per chunk, at most, whatever the window. */
const SENDS_MAX = 40;
/** Wait before sending again to servers that failed, or asking again when none is left (× attempt number, capped). */
const RETARGET_BACKOFF_MS = 200;
const RETARGET_BACKOFF_MAX_MS = 2000;
/** Failed attempts described in the error a failed write gives (the last ones). */
const ERRORS_SHOWN = 8;

export interface ChunkUploaderComponents {
  core: ClientCore;
}

export interface ChunkUploaderOptions {
  /** The file's path, for error messages and logs. */
  path: string;
  strategy: PutStrategy;
  /** Aborts every send of this write. */
  signal: AbortSignal;
  requestId: string;
  /** Told the ring version of every placement made. */
  onPlaced(ringVersion: number): void;
}

/** A chunk every replica acknowledged. */
export interface UploadedChunk {
  id: string;
  /** The servers holding it (ids). */
  holders: string[];
}

export class ChunkUploader {
  private readonly core: ClientCore;

  constructor(
    components: ChunkUploaderComponents,
    private readonly options: ChunkUploaderOptions,
  ) {
    this.core = components.core;
  }

  /** Stores chunk number `index` (`bytes`, whose CRC-32C is `crc`) on all its replicas. */
  async upload(index: number, bytes: Buffer, crc: number): Promise<UploadedChunk> {
    const { signal, path } = this.options;
    const placement = this.core.placement;
    let view = await placement.current();
    const id = placement.newChunkId(view);
    const grant: Grant = view.grant;
    const held = new Set<string>();
    const excluded = new Set<string>();
    let targets = this.placeOn(view, id, grant.token, excluded);
    if (targets.length === 0) {
      // Nothing writable in this view: ask once more, then fail as fs.alloc would.
      view = await placement.refresh(view);
      targets = this.placeOn(view, id, grant.token, excluded);
      if (targets.length === 0) throw new CairnError('NoSpace', 'no live chunk server with free space can take a new chunk');
    }
    // As with fs.alloc: R, or every writable server when fewer (a small cluster).
    const replicas = targets.length;
    /** What went wrong, one entry per failed attempt (bounded by SENDS_MAX + its refusals). */
    const errors: string[] = [];
    const startedMs = this.core.clock.nowMs();
    /** Whether `targets` holds only servers that failed before (sent to after a backoff). */
    let revisit = false;
    /** Servers that refused this chunk for lack of space: never tried again for it. */
    const full = new Set<string>();
    // Bounded: at most SENDS_MAX sends; each completes the set, excludes a server or backs off.
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      if (revisit || targets.length === 0) await this.core.sleep(Math.min(RETARGET_BACKOFF_MAX_MS, RETARGET_BACKOFF_MS * attempt), signal);
      signal.throwIfAborted();
      const outcome = targets.length > 0 ? await this.send(id, targets, bytes, crc) : { ok: false, results: [] };
      signal.throwIfAborted();
      const byAddr = new Map(targets.map((t) => [t.addr, t.id]));
      for (const f of failedTargets(outcome, this.options.strategy)) {
        const sid = byAddr.get(f.addr);
        if (sid !== undefined) excluded.add(sid);
        if (sid !== undefined && f.error?.code === 'NoSpace') full.add(sid);
        errors.push(`${sid ?? f.addr}: ${f.error?.code ?? 'Unavailable'} ${f.error?.message ?? ''}`.trim());
      }
      for (const r of outcome.results) {
        const sid = byAddr.get(r.addr);
        if (r.ok && sid !== undefined) held.add(sid);
      }
      if (held.size >= replicas) break;
      const windowOver = this.core.clock.nowMs() - startedMs >= RETARGET_WINDOW_MS;
      if ((attempt >= RETARGETS_MAX && windowOver) || attempt + 1 >= SENDS_MAX) {
        throw new CairnError('Unavailable', `chunk ${index} of ${path} reached ${held.size} of ${replicas} replicas after ${attempt + 1} attempts (${lastOf(errors)})`);
      }
      this.core.counters.retargets++;
      this.core.logger.debug('chunk target failed; retargeting', { chunk: id, excluded: [...excluded], held: [...held], error: errors.at(-1) });
      // Liveness may have moved: the next servers in ring order of a fresh view replace the failed.
      view = await placement.refresh(view);
      targets = await this.replacements(view, id, grant, excluded, held, replicas - held.size, errors);
      revisit = false;
      if (targets.length === 0 && excluded.size > full.size) {
        // Nothing left outside the failed servers: one of them may be back (restarted) by now.
        // The full ones stay out.
        errors.push(`no writable server outside ${[...excluded, ...held].join(',')} in ring version ${view.ringVersion}; trying the failed again`);
        for (const sid of [...excluded]) if (!full.has(sid)) excluded.delete(sid);
        targets = await this.replacements(view, id, grant, excluded, held, replicas - held.size, errors);
        revisit = true;
      }
      if (targets.length === 0 && full.size > 0 && excluded.size === full.size) {
        throw new CairnError('NoSpace', `chunk ${index} of ${path} reached ${held.size} of ${replicas} replicas: no server with free space is left (${[...full].join(',')} full; ${lastOf(errors)})`);
      }
    }
    return { id, holders: [...held] };
  }

  /**
   * Up to `want` servers to send chunk `id` to, outside `excluded` and `held`: the next in ring
   * order of `view` while the chunk's grant is usable, else fs.retarget's (per-chunk tokens from
   * the leader). None: `errors` says why.
   */
  private async replacements(view: PlacementView, id: string, grant: Grant, excluded: ReadonlySet<string>, held: ReadonlySet<string>, want: number, errors: string[]): Promise<WriteTarget[]> {
    const exclude = new Set([...excluded, ...held]);
    if (this.core.placement.usable(grant)) return this.placeOn(view, id, grant.token, exclude).slice(0, want);
    // The grant this chunk was named under is too old to send.
    let r: { targets: WriteTarget[] };
    try {
      r = await this.core.idempotentWrite('fs.retarget', { id, exclude: [...exclude] }, decodeRetarget, this.options.requestId);
    } catch (e) {
      if (!isCairnError(e, 'NoSpace')) throw e;
      errors.push(`no replacement outside ${[...exclude].join(',')}: ${e.message}`);
      return [];
    }
    const targets = r.targets.filter((t) => !held.has(t.id)).slice(0, want);
    if (targets.length === 0) errors.push(`fs.retarget outside ${[...exclude].join(',')} offered only ${r.targets.map((t) => t.id).join(',')}`);
    return targets;
  }

  /** Targets of chunk `id` by `view` (placement-cache.ts), noting the ring version placed with. */
  private placeOn(view: PlacementView, id: string, token: string, exclude: ReadonlySet<string>): WriteTarget[] {
    this.options.onPlaced(view.ringVersion);
    return this.core.placement.targets(view, id, token, exclude);
  }

  /** One attempt to store `bytes` on `targets`. Target failures are outcomes, not exceptions. */
  private async send(id: string, targets: readonly ChunkTarget[], bytes: Buffer, crc: number): Promise<ChunkPutOutcome> {
    const opts = { size: bytes.length, crc32c: crc, signal: this.options.signal, requestId: this.options.requestId };
    const chunks = this.core.chunks;
    const groups = streamsOf(this.options.strategy, targets);
    if (groups.length === 1) return chunks.putChunk(id, targets, bytes, opts);
    const outs = await Promise.all(groups.map((g) => chunks.putChunk(id, g, bytes, opts)));
    const results = outs.flatMap((o) => o.results);
    return { ok: results.every((r) => r.ok), results };
  }
}

/** The last ERRORS_SHOWN failures of a chunk, for its error message. */
function lastOf(errors: readonly string[]): string {
  const shown = errors.length > ERRORS_SHOWN ? [`${errors.length - ERRORS_SHOWN} earlier failures`, ...errors.slice(-ERRORS_SHOWN)] : errors;
  return shown.join('; ');
}

/** The client's streams of one send: each a pipeline of targets, in target order. */
export function streamsOf<T>(strategy: PutStrategy, targets: readonly T[]): T[][] {
  if (strategy === 'fanout') return targets.map((t) => [t]);
  if (strategy === 'split' && targets.length > 1) return [targets.slice(0, 1), targets.slice(1)];
  return [targets.slice()];
}

/**
 * The servers to replace: in each pipeline of the send, the first failed server only; the ones
 * after it were never reached or failed because of it (HDFS blames the first bad node). Fan-out:
 * every failed target. `outcome.results` lists the targets in order.
 */
export function failedTargets(outcome: ChunkPutOutcome, strategy: PutStrategy): ChunkTargetResult[] {
  return streamsOf(strategy, outcome.results).flatMap((g) => g.filter((r) => !r.ok).slice(0, 1));
}

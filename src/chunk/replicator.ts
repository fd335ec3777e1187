/**
 * Carries out the leader's repair work on this chunk server (HDFS DataNode transfer/invalidate
 * commands): `copy` reads the chunk straight from a live replica (bulk data never passes through
 * the metadata servers), verifies it end to end (the source's CRC-32C, then the store's own
 * per-segment CRCs while writing) and stores it durably — only then does the store's onAdded
 * make the reporter announce it; `delete` removes a replica; `verify` re-reads a replica a client
 * reported bad (fs.bad is only a hint to the leader): a corrupt one is marked by the store (its
 * onCorrupt hook deletes and reports it), a missing one goes to onMissing (reported removed), a
 * good one stays counted — the leader never drops a replica on a client's word alone.
 *
 * Throttled: at most concurrencyMax commands at once, and every copy shares one byte budget of
 * bytesPerSecMax (0: unlimited), so repair cannot starve client traffic. With an IoPriority
 * (io-priority.ts) each piece and each commit also waits behind this server's client requests,
 * and the budget shrinks to its repairShare() while clients are active. Default 32 MiB/s per
 * receiving server (N receiving servers repair at up to N × 32 MiB/s), chosen by measurement:
 * `npm run bench:repair` times sequential 4 KiB gets and puts through the client while idle and
 * while the copies of a killed server run (8 MiB chunks, 3 survivors, all servers on this
 * 2-core machine's ONE disk). Quiet machine (load < 4), 1 GiB file, ratio to idle:
 *   16 MiB/s   repair 39 MiB/s, 20 s   get p50 1.04 p99 2.56   put p50 1.28 p99 3.05
 *   32 MiB/s   repair 72 MiB/s, 11 s   get p50 1.39 p99 3.90   put p50 1.56 p99 4.57
 * and in noisier runs (load 8-17, shared with other jobs): unthrottled p50 0.84-10.1, p99 1.2-6.9;
 * 64 MiB/s p50 1.10-2.43, p99 3.7-19; 32 MiB/s p50 0.54-2.62, p99 0.50-9.0. Two later runs
 * (load 4.6-5.7): 32 MiB/s get p50 1.22-1.47 p99 3.0-4.7, put p50 1.55-2.06 p99 3.8-5.1; 16 MiB/s
 * in the same run get p50 1.59 p99 8.0, put p50 2.07 p99 5.0 (between 16 and 32 the noise of
 * this machine is larger than the difference).
 * So the default keeps MEDIAN client latency within about 2× of idle; the p99 is not held within 2× at
 * any rate tried (copies' fsyncs queue with the clients' on the one shared disk; on separate
 * disks per server that contention is smaller — not measured). 32 rather than 16 because it
 * repairs twice as fast for a small p50 cost. Lift it with --repair-bytes-per-sec 0.
 *
 * Commands are idempotent: a copy of a replica already held (identical) succeeds at once and is
 * announced again through onCopied (the leader asked because it did not know this server has it,
 * e.g. an incremental report was lost); one already queued or running is not started twice; a
 * delete of an absent replica is a no-op.
 *
 * A source that fails mid-stream (unreachable, corrupt segment, wrong whole CRC) fails that
 * attempt cleanly: the error reaches the store's put, which removes its temp file, and the next
 * source is tried (a wrong whole CRC after one more attempt at the same source, below); the
 * replicator itself reports nothing.
 *
 * Each byte of a copy is hashed once: the source sends a whole replica without checking its
 * segments first (X-Cairn-Verify: reader, proto/chunk-http.ts), since the store here checks the
 * copy against the source's CRC as it writes it. A copy that fails that check (Corrupt) is asked
 * of the same source once more with the source checking its segments, so a corrupt source
 * replica is found by its own server (which deletes and reports it, as on any read) before the
 * next source is tried — and a copy spoiled on the way, not on the source's disk, still succeeds.
 */
import type { Clock, Timers } from '../env/clock.js';
import { isChunkId } from '../util/chunk-id.js';
import { isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { ChunkGetResult, WholeReadCheck } from './chunk-client.js';
import type { IoPriority } from './io-priority.js';
import { REPAIR_BYTES_PER_SEC_DEFAULT, REPAIR_CONCURRENCY_MAX_DEFAULT, REPAIR_QUEUE_MAX_DEFAULT } from '../config/defaults.js';

/** Who checks a copy's bytes on the source's side (chunk-client.ts WholeReadCheck). */
type CheckedBy = NonNullable<WholeReadCheck['checkedBy']>;

export type ReplicaCommand = { op: 'copy'; id: string; sources: Array<{ id: string; addr: string }>; token: string } | { op: 'delete'; id: string } | { op: 'verify'; id: string };

export interface ReplicatorComponents {
  store: {
    /** Durable (fsynced, renamed) when it resolves; `created: false` when an identical replica was already there. */
    put(id: string, source: AsyncIterable<Uint8Array> | Uint8Array, opts: { size?: number; crc32c?: number }): Promise<{ created: boolean }>;
    delete(id: string): Promise<boolean>;
    /** Re-reads the replica against its CRCs (ok false: the store marked it corrupt); NotFound when absent. */
    verify?(id: string): Promise<{ ok: boolean }>;
  };
  chunks: {
    getChunk(addr: string, id: string, token: string, opts: { verifyCrc: false; repair: true; checkedBy: CheckedBy }): Promise<ChunkGetResult>;
    /** A whole replica into one buffer (`scratch` when it fits): the copy path when the throttle is lifted. Absent: always streamed. */
    readChunk?(addr: string, id: string, token: string, opts: { verifyCrc: false; repair: true; checkedBy: CheckedBy; scratch?: Buffer }): Promise<{ size: number; crc32c: number; bytes: Buffer }>;
  };
  /** This server's client-first I/O scheduler: copies wait behind client requests and follow its adaptive share. Absent: no priority. */
  io?: Pick<IoPriority, 'admitRepair' | 'repairShare'>;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** A copy finished: the replica is durable here (`created: false`: it already was). */
  onCopied?: (id: string, created: boolean) => void;
  /** A copy failed from every source (told to the leader, which may then plan it again at once). */
  onCopyFailed?: (id: string) => void;
  /** A replica the leader asked to verify is not here (to be reported removed). */
  onMissing?: (id: string) => void;
}

export interface ReplicatorOptions {
  /** Commands running at once. @default 4 */
  concurrencyMax?: number;
  /** Copy bandwidth shared by all copies, bytes/s (0: unlimited). @default 32 MiB/s */
  bytesPerSecMax?: number;
  /** Commands waiting at most (more are dropped; the leader sends them again). @default 10_000 */
  queueMax?: number;
}

/** Credit the copy throttle may bank while idle or behind (see throttled()). */
const THROTTLE_BURST_MS = 100;

/** Largest copy buffer kept for reuse between unthrottled copies (one per running copy). */
const COPY_BUFFER_KEPT_BYTES_MAX = 16 * 1024 * 1024;

export { REPAIR_BYTES_PER_SEC_DEFAULT } from '../config/defaults.js';

/** Validate a command as received from the leader; null when malformed. */
export function parseReplicaCommand(v: unknown): ReplicaCommand | null {
  if (v === null || typeof v !== 'object') return null;
  const c = v as Record<string, unknown>;
  if (!isChunkId(c.id)) return null;
  if (c.op === 'delete') return { op: 'delete', id: c.id };
  if (c.op === 'verify') return { op: 'verify', id: c.id };
  if (c.op !== 'copy' || typeof c.token !== 'string' || c.token.length > 4096 || !Array.isArray(c.sources) || c.sources.length > 64) return null;
  const sources: Array<{ id: string; addr: string }> = [];
  for (const s of c.sources as unknown[]) {
    const r = s as Record<string, unknown> | null;
    if (!r || typeof r.id !== 'string' || typeof r.addr !== 'string' || r.addr.length > 300) return null;
    sources.push({ id: r.id, addr: r.addr });
  }
  return { op: 'copy', id: c.id, sources, token: c.token };
}

export class Replicator {
  private readonly c: ReplicatorComponents;
  private readonly concurrencyMax: number;
  private readonly bytesPerSecMax: number;
  private readonly queueMax: number;
  private readonly queue: ReplicaCommand[] = [];
  /** Chunk ids with a command queued or running. */
  private readonly busy = new Set<string>();
  private running = 0;
  /** Token bucket: when the next byte may pass (ms on the clock). */
  private nextFreeMs = 0;
  /** Buffers of finished unthrottled copies, reused by the next ones; dropped when idle. */
  private readonly buffers: Buffer[] = [];
  private stopped = false;
  readonly counters = { copies: 0, copyFailures: 0, deletes: 0, bytesCopied: 0, verified: 0, verifiedBad: 0 };

  constructor(c: ReplicatorComponents, o: ReplicatorOptions = {}) {
    this.c = c;
    this.concurrencyMax = o.concurrencyMax ?? REPAIR_CONCURRENCY_MAX_DEFAULT;
    this.bytesPerSecMax = o.bytesPerSecMax ?? REPAIR_BYTES_PER_SEC_DEFAULT;
    this.queueMax = o.queueMax ?? REPAIR_QUEUE_MAX_DEFAULT;
  }

  /** Commands from a heartbeat's answer (malformed ones are logged and skipped). */
  submit(raw: unknown): void {
    if (!Array.isArray(raw)) return;
    for (const v of raw) {
      const cmd = parseReplicaCommand(v);
      if (!cmd) {
        this.c.logger.warn('malformed repair command ignored');
        continue;
      }
      if (this.busy.has(cmd.id) || this.queue.length >= this.queueMax) continue;
      this.busy.add(cmd.id);
      this.queue.push(cmd);
    }
    this.pump();
  }

  /** Nothing queued or running. */
  idle(): boolean {
    return this.running === 0 && this.queue.length === 0;
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrencyMax && this.queue.length > 0) {
      const cmd = this.queue.shift()!;
      this.running++;
      void this.run(cmd).finally(() => {
        this.running--;
        this.busy.delete(cmd.id);
        this.pump();
        if (this.idle()) this.buffers.length = 0;
      });
    }
  }

  private async run(cmd: ReplicaCommand): Promise<void> {
    if (cmd.op === 'delete') {
      try {
        if (await this.c.store.delete(cmd.id)) this.counters.deletes++;
      } catch (err) {
        this.c.logger.warn('repair delete failed', { chunk: cmd.id, err: (err as Error).message });
      }
      return;
    }
    if (cmd.op === 'verify') return this.verify(cmd.id);
    for (const src of cmd.sources) {
      for (const checkedBy of ['reader', 'server'] as const) {
        if (this.stopped) return;
        try {
          const r = this.bytesPerSecMax === 0 && this.c.chunks.readChunk ? await this.copyWhole(src.addr, cmd.id, cmd.token, checkedBy) : await this.copyStreamed(src.addr, cmd.id, cmd.token, checkedBy);
          this.counters.copies++;
          if (r.created) this.counters.bytesCopied += r.size;
          this.c.onCopied?.(cmd.id, r.created);
          return;
        } catch (err) {
          this.c.logger.warn('repair copy from a source failed', { chunk: cmd.id, source: src.id, checkedBy, err: (err as Error).message });
          // Only a copy that failed our check is asked again, of the source checking its own replica.
          if (!isCairnError(err, 'Corrupt')) break;
        }
      }
    }
    this.counters.copyFailures++;
    if (!this.stopped) this.c.onCopyFailed?.(cmd.id);
  }

  /** The copy at a byte rate: the source's pieces pass through throttled() into the store. */
  private async copyStreamed(addr: string, id: string, token: string, checkedBy: CheckedBy): Promise<{ created: boolean; size: number }> {
    // The store checks the bytes against the source's CRC as it writes them (Corrupt if not).
    const g = await this.c.chunks.getChunk(addr, id, token, { verifyCrc: false, repair: true, checkedBy });
    try {
      const { created } = await this.c.store.put(id, this.throttled(g.stream), { size: g.size, crc32c: g.crc32c });
      return { created, size: g.size };
    } finally {
      g.stream.destroy(); // no-op once fully read; frees the connection after a failure
    }
  }

  /**
   * The copy with the throttle lifted: the socket reads the replica straight into a buffer kept
   * from an earlier copy (no stream, no allocation per socket read), and the store writes and
   * checks it against the source's CRC in one pass. Still behind client requests: the read and
   * the commit each wait their turn.
   */
  private async copyWhole(addr: string, id: string, token: string, checkedBy: CheckedBy): Promise<{ created: boolean; size: number }> {
    const { io, store } = this.c;
    const before = io?.admitRepair();
    if (before) await before;
    const scratch = this.buffers.pop();
    const got = await this.c.chunks.readChunk!(addr, id, token, { verifyCrc: false, repair: true, checkedBy, ...(scratch ? { scratch } : {}) });
    // Keep the larger of the two for the next copy (a view of `scratch` means it was used).
    const keep = scratch && got.bytes.buffer === scratch.buffer ? scratch : got.bytes.length <= COPY_BUFFER_KEPT_BYTES_MAX ? got.bytes : scratch;
    try {
      const commit = io?.admitRepair();
      if (commit) await commit;
      if (this.stopped) throw new Error('replicator stopped');
      const { created } = await store.put(id, got.bytes, { size: got.size, crc32c: got.crc32c });
      return { created, size: got.size };
    } finally {
      if (keep) this.buffers.push(keep);
    }
  }

  private async verify(id: string): Promise<void> {
    const { store } = this.c;
    if (!store.verify) return;
    this.counters.verified++;
    try {
      if (!(await store.verify(id)).ok) {
        this.counters.verifiedBad++;
        this.c.logger.warn('replica reported bad is corrupt', { chunk: id });
      }
    } catch (err) {
      if (isCairnError(err, 'NotFound')) {
        this.counters.verifiedBad++;
        this.c.logger.warn('replica reported bad is missing', { chunk: id });
        this.c.onMissing?.(id);
      } else {
        this.c.logger.warn('verify of a reported replica failed', { chunk: id, err: (err as Error).message });
      }
    }
  }

  /**
   * The source's bytes, delayed so that all copies together stay under bytesPerSecMax. An async
   * generator (not pipe()) so a source error reaches the consumer and a consumer that stops
   * early destroys the source.
   */
  private async *throttled(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    const { clock, timers, io } = this.c;
    for await (const chunk of source) {
      const admitted = io?.admitRepair();
      if (admitted) await admitted;
      // The configured rate times the share client activity leaves to repair (io-priority.ts).
      const rate = io ? this.bytesPerSecMax * io.repairShare() : this.bytesPerSecMax;
      if (rate > 0) {
        // A token bucket holding at most throttleBurstMs of credit: a timer that fires late (they
        // do, by a few ms under load, and a 64 KiB piece is ~1 ms at 64 MiB/s) is made up by the
        // next pieces instead of lowering the rate; over any window T at most rate·(T + burst).
        const now = clock.nowMs();
        this.nextFreeMs = Math.max(this.nextFreeMs, now - THROTTLE_BURST_MS) + (chunk.length / rate) * 1000;
        const wait = this.nextFreeMs - now;
        if (wait >= 1) await new Promise<void>((resolve) => timers.setTimeout(resolve, wait));
      }
      if (this.stopped) throw new Error('replicator stopped');
      yield chunk;
    }
    // The store commits (fsyncs) the replica once this generator returns: that too waits its turn.
    const commit = io?.admitRepair();
    if (commit) await commit;
  }
}

/**
 * Abandoned multipart uploads expire: every intervalMs the gateway walks
 * `/.s3-uploads/{bucket}/{uploadId}/` (s3-multipart.ts) and removes each upload started more than
 * expiryMs ago (its `upload` record's start time; without a readable record, the directory's
 * mtime), parts and all — as an S3 lifecycle rule with AbortIncompleteMultipartUpload would.
 * An upload being completed at that moment may lose its parts: Complete then answers InvalidPart
 * or NoSuchUpload, as S3 does for an upload its lifecycle removed.
 *
 * Contracts: one sweep at a time; a failing sweep is logged and the next one runs on time;
 * stop() ends the timer. Time (the timer and the wall clock) is injected.
 */
import type { Timers } from '../env/clock.js';
import type { CairnClient } from '../client/cairn-client.js';
import { RemotePath } from '../proto/path.js';
import { isCairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { UPLOADS_DIR } from './s3-context.js';

/** S3 lifecycle's common choice: a week. */
export const UPLOAD_EXPIRY_HOURS_DEFAULT = 168;
export const UPLOAD_SWEEP_INTERVAL_MS_DEFAULT = 3_600_000;
/** Bytes of an `upload` record read at most. */
const RECORD_BYTES_MAX = 64 * 1024;

export interface S3UploadExpiryComponents {
  client: Pick<CairnClient, 'ls' | 'open' | 'rm'>;
  timers: Timers;
  wallClockMs(): number;
  logger: Logger;
}

export interface S3UploadExpiryOptions {
  /** Uploads started longer ago than this are removed. */
  expiryMs: number;
  /** @default UPLOAD_SWEEP_INTERVAL_MS_DEFAULT (an hour) */
  intervalMs?: number;
}

export class S3UploadExpiry {
  private timer: { cancel(): void } | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly c: S3UploadExpiryComponents,
    private readonly o: S3UploadExpiryOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = this.c.timers.setInterval(() => {
      void this.sweep().catch((err: unknown) => this.c.logger.warn('s3 upload expiry sweep failed', { err: err instanceof Error ? err.message : String(err) }));
    }, this.o.intervalMs ?? UPLOAD_SWEEP_INTERVAL_MS_DEFAULT);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** One pass now (or the one under way): the number of uploads removed. */
  sweep(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    const root = RemotePath.parse(`/${UPLOADS_DIR}`);
    const cutoff = this.c.wallClockMs() - this.o.expiryMs;
    let removed = 0;
    for (const bucket of await this.dirs(root)) {
      for (const up of await this.dirs(bucket.path)) {
        const started = (await this.startedAt(up.path)) ?? up.mtime;
        if (started >= cutoff) continue;
        try {
          await this.c.client.rm(up.path, { recursive: true });
          removed++;
          this.c.logger.info('s3 upload expired', { upload: up.path.text, startedMs: started });
        } catch (err) {
          if (!isCairnError(err, 'NotFound')) throw err;
        }
      }
    }
    return removed;
  }

  private async dirs(path: RemotePath): Promise<Array<{ path: RemotePath; mtime: number }>> {
    const out: Array<{ path: RemotePath; mtime: number }> = [];
    try {
      for await (const e of this.c.client.ls(path)) if (e.type === 'dir') out.push({ path: path.child(e.name), mtime: e.mtime });
    } catch (err) {
      if (!isCairnError(err, 'NotFound') && !isCairnError(err, 'NotADirectory')) throw err;
    }
    return out;
  }

  /** The upload record's start time, or null when it cannot be read. */
  private async startedAt(dir: RemotePath): Promise<number | null> {
    try {
      const o = await this.c.client.open(dir.child('upload'));
      if (o.size > RECORD_BYTES_MAX) {
        if (o.inline === null) o.stream.destroy();
        return null;
      }
      let bytes = o.inline;
      if (bytes === null) {
        const parts: Buffer[] = [];
        for await (const b of o.stream as AsyncIterable<Buffer>) parts.push(b);
        bytes = Buffer.concat(parts);
      }
      const initiated = (JSON.parse(bytes.toString('utf8')) as { initiated?: unknown }).initiated;
      return typeof initiated === 'number' && Number.isFinite(initiated) ? initiated : null;
    } catch {
      return null;
    }
  }
}

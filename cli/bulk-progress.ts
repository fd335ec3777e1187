/**
 * ONE progress bar for a bulk transfer (put -r, get -r, several sources, cp -r): files and bytes
 * done of the total, and the rate over the last few seconds, on stderr when it is a terminal;
 * scripts and pipes get silence (CONTRACT.md). The line stays within 80 columns.
 */
import type { SingleBar } from 'cli-progress';
import { onFailureCleanup } from './cli-errors.js';
import { formatBytes } from './format.js';
import { monotonicMs, RecentRate } from './recent-rate.js';

const FPS = 8;

export class BulkProgress {
  private readonly bar: SingleBar;
  private readonly totalBytes: number;
  private readonly totalFiles: number;
  private readonly rate = new RecentRate();
  private bytes = 0;
  private files = 0;
  private stopped = false;
  private readonly unregister: () => void;

  private constructor(Bar: typeof SingleBar, label: string, totalFiles: number, totalBytes: number) {
    this.totalFiles = totalFiles;
    this.totalBytes = totalBytes;
    this.bar = new Bar({
      format: `${label} [{bar}] {percentage}% {files}/{totalFiles} files {done}/{totalText} {speed}`,
      stream: process.stderr,
      fps: FPS,
      barsize: 12,
      hideCursor: true,
      clearOnComplete: false,
    });
    this.bar.start(Math.max(1, totalBytes), 0, this.payload());
    this.unregister = onFailureCleanup(() => this.stop());
  }

  /** A bar when stderr is a terminal, else null (cli-progress is then not even loaded). */
  static async forTerminal(label: string, totalFiles: number, totalBytes: number): Promise<BulkProgress | null> {
    if (!process.stderr.isTTY) return null;
    const { SingleBar: Bar } = await import('cli-progress');
    return new BulkProgress(Bar, label, totalFiles, totalBytes);
  }

  /** `n` more bytes moved (of any file). */
  addBytes(n: number): void {
    this.bytes += n;
    this.redraw();
  }

  /** One more file complete. */
  fileDone(): void {
    this.files++;
    this.redraw();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar.update(this.totalBytes === 0 ? 1 : Math.min(this.bytes, this.totalBytes), this.payload());
    this.bar.stop();
    this.unregister();
  }

  private redraw(): void {
    if (this.stopped) return;
    this.bar.update(Math.min(this.bytes, Math.max(1, this.totalBytes)), this.payload());
  }

  private payload(): Record<string, string | number> {
    const rate = this.rate.sample(monotonicMs(), this.bytes);
    const speed = rate === null ? '' : `${formatBytes(rate)}/s`;
    return { files: this.files, totalFiles: this.totalFiles, done: formatBytes(this.bytes), totalText: formatBytes(this.totalBytes), speed };
  }
}

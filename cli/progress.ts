/**
 * The put/get progress bar (cli-progress on stderr), shown only when stderr is a terminal:
 * scripts and pipes get silence (CONTRACT.md). A stream of unknown length (stdin) shows bytes
 * and rate without a bar. Updates are cheap: cli-progress redraws at most `fps` times a second.
 */
import type { SingleBar } from 'cli-progress';
import { formatBytes } from './format.js';

const FPS = 8;

export class Progress {
  private readonly bar: SingleBar;
  private readonly startedNs = process.hrtime.bigint();
  private readonly total: number | null;
  private stopped = false;

  private constructor(Bar: typeof SingleBar, label: string, total: number | null) {
    this.total = total;
    const format = total === null
      ? `${label} {done} | {speed}`
      : `${label} [{bar}] {percentage}% | {done}/{totalText} | {speed} | ETA {eta_formatted}`;
    this.bar = new Bar({
      format,
      stream: process.stderr,
      fps: FPS,
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 64,
    });
    this.bar.start(total ?? 1, 0, { done: formatBytes(0), totalText: formatBytes(total ?? 0), speed: '-' });
  }

  /** A bar on stderr when it is a terminal, otherwise null (callers skip all progress work; cli-progress is not even loaded). */
  static async forTerminal(label: string, total: number | null): Promise<Progress | null> {
    if (!process.stderr.isTTY) return null;
    const { SingleBar: Bar } = await import('cli-progress');
    return new Progress(Bar, label, total);
  }

  update(bytes: number): void {
    if (this.stopped) return;
    const secs = Number(process.hrtime.bigint() - this.startedNs) / 1e9;
    const speed = secs > 0.05 ? `${formatBytes(bytes / secs)}/s` : '-';
    this.bar.update(this.total === null ? 0 : Math.min(bytes, this.total), { done: formatBytes(bytes), speed });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar.stop();
  }
}

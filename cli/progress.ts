/**
 * The put/get progress bar (cli-progress on stderr), shown only when stderr is a terminal:
 * scripts and pipes get silence (CONTRACT.md). A stream of unknown length (stdin) shows bytes
 * and rate without a bar. The line fits 80 columns (the label is cut to LABEL_CHARS_MAX); the
 * rate and the ETA come from the last few seconds, not the average since the start. Updates are
 * cheap: cli-progress redraws at most `fps` times a second.
 */
import type { SingleBar } from 'cli-progress';
import { formatBytes, formatDuration } from './format.js';
import { monotonicMs, RecentRate } from './recent-rate.js';

const FPS = 8;
/** `put /a/very/long/name` is cut to its last characters: with the bar and figures, 80 columns. */
const LABEL_CHARS_MAX = 18;
/** The bar's own width in columns. */
export const BAR_COLUMNS = 12;

/** `label` ("put /a/b") at most `max` characters: the verb stays, the path is cut from the left with '…'. */
export function shortLabel(label: string, max = LABEL_CHARS_MAX): string {
  if (label.length <= max) return label;
  const sp = label.indexOf(' ');
  const verb = sp > 0 && sp < max / 2 ? label.slice(0, sp + 1) : '';
  const rest = label.slice(verb.length);
  return `${verb}…${rest.slice(rest.length - (max - verb.length) + 1)}`;
}

/** The cli-progress format of a put/get line (placeholders in braces). */
export function progressFormat(label: string, sized: boolean): string {
  return sized ? `${shortLabel(label)} [{bar}] {percentage}% {done}/{totalText} {speed} {eta}` : `${shortLabel(label)} {done} {speed}`;
}

export class Progress {
  private readonly bar: SingleBar;
  private readonly rate = new RecentRate();
  private readonly total: number | null;
  private stopped = false;

  private constructor(Bar: typeof SingleBar, label: string, total: number | null) {
    this.total = total;
    const format = progressFormat(label, total !== null);
    this.bar = new Bar({
      format,
      stream: process.stderr,
      fps: FPS,
      barsize: BAR_COLUMNS,
      hideCursor: true,
      clearOnComplete: false,
    });
    this.bar.start(total ?? 1, 0, { done: formatBytes(0), totalText: formatBytes(total ?? 0), speed: '', eta: '' });
  }

  /** A bar on stderr when it is a terminal, otherwise null (callers skip all progress work; cli-progress is not even loaded). */
  static async forTerminal(label: string, total: number | null): Promise<Progress | null> {
    if (!process.stderr.isTTY) return null;
    const { SingleBar: Bar } = await import('cli-progress');
    return new Progress(Bar, label, total);
  }

  update(bytes: number): void {
    if (this.stopped) return;
    const rate = this.rate.sample(monotonicMs(), bytes);
    const speed = rate === null ? '' : `${formatBytes(rate)}/s`;
    const left = this.total === null ? 0 : this.total - bytes;
    const eta = rate === null || rate <= 0 || this.total === null ? '' : left <= 0 ? '' : `ETA ${formatDuration((left / rate) * 1000)}`;
    this.bar.update(this.total === null ? 0 : Math.min(bytes, this.total), { done: formatBytes(bytes), speed, eta });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bar.stop();
  }
}

/**
 * The put/get progress line: within 80 columns with the longest figures, a rate from the last
 * seconds (an ETA that follows the current speed), durations for people.
 */
import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from '../../../cli/format.js';
import { BAR_COLUMNS, progressFormat, shortLabel } from '../../../cli/progress.js';
import { RecentRate } from '../../../cli/recent-rate.js';

describe('progress line', () => {
  it('fits an 80-column terminal with the longest label and figures', () => {
    const widest = (values: number[]): string => values.map(formatBytes).reduce((a, b) => (b.length > a.length ? b : a));
    const sizes = [1023, 99.94 * 1024, 1023 * 1024 ** 2, 1023 * 1024 ** 4];
    const line = progressFormat(`get /${'very-long-directory-name/'.repeat(8)}file.iso`, true)
      .replace('{bar}', '='.repeat(BAR_COLUMNS))
      .replace('{percentage}', '100')
      .replace('{done}', widest(sizes))
      .replace('{totalText}', widest(sizes))
      .replace('{speed}', `${widest(sizes)}/s`)
      .replace('{eta}', `ETA ${formatDuration(99 * 3600_000 + 59 * 60_000)}`);
    expect(line).not.toContain('{');
    expect(line.length).toBeLessThan(80);
  });

  it('cuts a long label\'s path from the left, keeps its verb, and keeps a short one', () => {
    expect(shortLabel('put /a.txt')).toBe('put /a.txt');
    const cut = shortLabel('get /logs/2024/12/05/server-17.log');
    expect(cut.length).toBe(18);
    expect(cut.startsWith('get …')).toBe(true);
    expect(cut.endsWith('server-17.log')).toBe(true);
  });

  it('rates the last seconds, not the average since the start', () => {
    const r = new RecentRate();
    let bytes = 0;
    let rate: number | null = null;
    for (let t = 0; t <= 20_000; t += 100) {
      rate = r.sample(t, bytes);
      bytes += t < 10_000 ? 100_000 : 10_000; // 1 MB/s for 10 s, then 100 kB/s
    }
    // The average since the start is ~550 kB/s; the last 5 s ran at 100 kB/s.
    expect(rate).not.toBeNull();
    expect(rate!).toBeGreaterThan(90_000);
    expect(rate!).toBeLessThan(110_000);
  });

  it('has no rate before 200 ms of history', () => {
    const r = new RecentRate();
    expect(r.sample(1000, 0)).toBeNull();
    expect(r.sample(1150, 5000)).toBeNull();
    expect(r.sample(1300, 9000)).toBe(30_000);
  });

  it('formats durations for people', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(4_200)).toBe('5s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(2 * 3600_000 + 7 * 60_000)).toBe('2h07m');
  });
});

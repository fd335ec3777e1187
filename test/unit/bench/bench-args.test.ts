import { describe, expect, it } from 'vitest';
import { benchUsage, vetBenchArgs, type BenchFlag } from '../../../bench/bench-args.js';

const FLAGS: BenchFlag[] = [
  { name: 'mib', value: 'number', help: 'file size' },
  { name: 'throttle-mib', value: 'numbers', help: 'throttles' },
  { name: 'cpu-prof', value: 'word', help: 'profiles here' },
  { name: 'repair-only', help: 'one phase' },
];

describe('bench flags', () => {
  it('accepts the listed flags with their values', () => {
    expect(vetBenchArgs([], FLAGS)).toBeNull();
    expect(vetBenchArgs(['--mib', '512', '--throttle-mib', '64,32', '--cpu-prof', '/tmp/p', '--repair-only'], FLAGS)).toBeNull();
  });

  it('answers --help instead of running', () => {
    expect(vetBenchArgs(['--mib', '5', '--help'], FLAGS)).toEqual({ help: true });
    const usage = benchUsage('bench:repair', FLAGS);
    expect(usage.split('\n')[0]).toBe('usage: npm run bench:repair -- [flags]');
    for (const f of FLAGS) expect(usage).toContain(`--${f.name}`);
  });

  it('refuses unknown flags, missing or malformed values and stray words', () => {
    expect(vetBenchArgs(['--mibs', '5'], FLAGS)).toEqual({ error: 'unknown flag --mibs' });
    expect(vetBenchArgs(['--mib'], FLAGS)).toEqual({ error: '--mib needs a value' });
    expect(vetBenchArgs(['--mib', '--repair-only'], FLAGS)).toEqual({ error: '--mib needs a value' });
    expect(vetBenchArgs(['--mib', 'big'], FLAGS)).toEqual({ error: '--mib takes a number, not "big"' });
    expect(vetBenchArgs(['--throttle-mib', '64,,32'], FLAGS)).toMatchObject({ error: expect.stringContaining('comma-separated') as string });
    expect(vetBenchArgs(['512'], FLAGS)).toEqual({ error: 'unexpected argument "512"' });
  });
});

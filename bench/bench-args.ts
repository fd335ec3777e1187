/**
 * The flags a benchmark takes, checked before it starts: a mistyped flag or `--help` must not
 * start a run of several minutes with the defaults (the benches read their flags where they
 * use them; this only vets the command line and prints the usage).
 *
 *   checkBenchArgs('bench:repair', [{ name: 'mib', value: 'number', help: '…' }, …]);
 *
 * `--help`: the usage on stdout, exit 0. A flag not listed, a missing value, a value that is not
 * a number where one is wanted, or a stray word: one line on stderr, exit 2.
 */

export interface BenchFlag {
  /** Without the leading `--`. */
  name: string;
  /** What follows the flag: nothing (a switch), a number, a comma-separated list of numbers, or a word (a path). */
  value?: 'number' | 'numbers' | 'word';
  help: string;
}

/** What parsing found wrong, or that help was asked for; null when the command line is good. */
export function vetBenchArgs(argv: readonly string[], flags: readonly BenchFlag[]): { help: true } | { error: string } | null {
  const known = new Map(flags.map((f) => [`--${f.name}`, f]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return { help: true };
    const f = known.get(a);
    if (f === undefined) return { error: a.startsWith('-') ? `unknown flag ${a}` : `unexpected argument ${JSON.stringify(a)}` };
    if (f.value === undefined) continue;
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) return { error: `${a} needs a value` };
    const numbers = f.value === 'numbers' ? v.split(',') : f.value === 'number' ? [v] : [];
    if (numbers.some((n) => n.trim() === '' || !Number.isFinite(Number(n)))) return { error: `${a} takes ${f.value === 'numbers' ? 'a comma-separated list of numbers' : 'a number'}, not ${JSON.stringify(v)}` };
  }
  return null;
}

/** The usage text of a bench. */
export function benchUsage(bench: string, flags: readonly BenchFlag[]): string {
  const lines = flags.map((f) => {
    const left = `--${f.name}${f.value === undefined ? '' : f.value === 'word' ? ' PATH' : f.value === 'numbers' ? ' N[,N…]' : ' N'}`;
    return `  ${left.padEnd(26)} ${f.help}`;
  });
  return [`usage: npm run ${bench} -- [flags]`, ...lines, `  ${'--help'.padEnd(26)} this text`].join('\n');
}

/** Vets process.argv: prints the usage and exits on --help, or one error line and exit 2. */
export function checkBenchArgs(bench: string, flags: readonly BenchFlag[]): void {
  const r = vetBenchArgs(process.argv.slice(2), flags);
  if (r === null) return;
  if ('help' in r) {
    process.stdout.write(`${benchUsage(bench, flags)}\n`);
    process.exit(0);
  }
  process.stderr.write(`${bench}: ${r.error} (--help lists the flags)\n`);
  process.exit(2);
}

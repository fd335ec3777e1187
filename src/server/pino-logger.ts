/**
 * Adapts pino (JSON lines on stderr) to the Logger interface components receive. docs/logs.md
 * documents the line format:
 *
 *   {"level":"info","time":"2026-01-02T03:04:05.678Z","pid":1234,"node":"c1","role":"chunk","component":"chunk-http","msg":"…",…fields}
 *
 * - `level` is the level's name and `time` an ISO-8601 UTC timestamp.
 * - Every key appears once per line. A child's binding replaces its parent's binding of the same
 *   key (the innermost `component` names the code that logged), because each child is made from
 *   the root with all of its bindings merged — pino itself would print both. A field of one call
 *   whose key is already bound (or is one of pino's own keys) is renamed `<key>_` (`role_`
 *   beside the process's `role`), so it neither repeats nor hides the binding.
 */
import { destination, pino, stdTimeFunctions, type DestinationStream, type Logger as Pino } from 'pino';
import type { Timers } from '../env/clock.js';
import { systemTimers } from '../env/system.js';
import type { Logger } from '../util/logger.js';

type Fields = Record<string, unknown>;

/** Keys pino writes itself on every line. */
const PINO_KEYS = ['level', 'time', 'pid', 'msg'] as const;

/**
 * How long an info or debug line may wait in memory before it is written. A gateway logs one
 * access line per request: written one by one, the writes took 6.8 % of its CPU on a 4 KiB PUT
 * and GET load, gathered 2.4 % (bench/RESULTS.md, eighteenth session).
 */
export const LOG_LINGER_MS = 50;
/** Lines gathered up to this many characters are written at once, without waiting. */
export const LOG_BATCH_CHARS = 8192;

/** What batchedLines writes through: sonic-boom (pino.destination) in a server. */
export interface LineSink {
  write(text: string): unknown;
  /** Write everything buffered before returning (at exit). */
  flushSync(): void;
}

/**
 * A destination that gathers lines and hands them to `sink` as one string within `lingerMs` of
 * the first, or at once when they reach LOG_BATCH_CHARS; a warn, error or fatal line goes at
 * once, with everything before it. `flushSync` writes what is gathered and what the sink holds
 * (the server calls it at exit); a kill -9 loses at most the last `lingerMs` of info lines.
 */
export function batchedLines(sink: LineSink, timers: Timers, lingerMs: number): DestinationStream & { flushSync(): void } {
  let lines: string[] = [];
  let chars = 0;
  let timer: { cancel(): void } | null = null;
  const flush = (): void => {
    timer?.cancel();
    timer = null;
    if (lines.length === 0) return;
    const text = lines.length === 1 ? lines[0]! : lines.join('');
    lines = [];
    chars = 0;
    sink.write(text);
  };
  return {
    write(line: string): void {
      lines.push(line);
      chars += line.length;
      // pino writes the level first: {"level":"warn",…
      if (chars >= LOG_BATCH_CHARS || line.startsWith('{"level":"warn"') || line.startsWith('{"level":"error"') || line.startsWith('{"level":"fatal"')) flush();
      else timer ??= timers.setTimeout(flush, lingerMs);
    },
    flushSync(): void {
      flush();
      sink.flushSync();
    },
  };
}

/** stderr, batched (batchedLines), written asynchronously; what is gathered at exit is written then. */
function batchedStderr(): DestinationStream {
  const dest = batchedLines(destination({ fd: 2, sync: false }), systemTimers, LOG_LINGER_MS);
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // pino's own exit hook may have closed the stream already, after writing what it held
    }
  });
  return dest;
}

/** `dest`: where lines go. @default stderr, batched (batchedStderr) */
export function pinoLogger(bindings: Fields, level: string = process.env.CAIRN_LOG_LEVEL ?? 'info', dest: DestinationStream = batchedStderr()): Logger {
  const root = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  return wrap(root, {}, bindings);
}

/** A logger bound to `inherited` + `added`, made from `root` with the merged bindings (each key once). */
function wrap(root: Pino, inherited: Fields, added: Fields): Logger {
  const bindings: Fields = { ...inherited, ...added };
  const p = Object.keys(bindings).length === 0 ? root : root.child(bindings);
  const taken = new Set<string>([...PINO_KEYS, ...Object.keys(bindings)]);
  const clean = (fields: Fields | undefined): Fields => {
    if (fields === undefined) return {};
    let out: Fields | null = null;
    for (const k in fields) {
      if (!taken.has(k)) continue;
      out ??= { ...fields };
      delete out[k];
      out[`${k}_`] = fields[k];
    }
    return out ?? fields;
  };
  return {
    debug: (msg, fields) => p.debug(clean(fields), msg),
    info: (msg, fields) => p.info(clean(fields), msg),
    warn: (msg, fields) => p.warn(clean(fields), msg),
    error: (msg, fields) => p.error(clean(fields), msg),
    child: (b) => wrap(root, bindings, b),
  };
}

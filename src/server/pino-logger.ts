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
import type { Logger } from '../util/logger.js';

type Fields = Record<string, unknown>;

/** Keys pino writes itself on every line. */
const PINO_KEYS = ['level', 'time', 'pid', 'msg'] as const;

/** `dest`: where lines go. @default stderr (asynchronous writes) */
export function pinoLogger(bindings: Fields, level: string = process.env.CAIRN_LOG_LEVEL ?? 'info', dest: DestinationStream = destination({ fd: 2, sync: false })): Logger {
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

/** Adapts pino (JSON lines on stderr) to the Logger interface components receive. */
import { destination, pino, type Logger as Pino } from 'pino';
import type { Logger } from '../util/logger.js';

export function pinoLogger(bindings: Record<string, unknown>, level: string = process.env.CAIRN_LOG_LEVEL ?? 'info'): Logger {
  return wrap(pino({ level, base: bindings }, destination({ fd: 2, sync: false })));
}

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    child: (b) => wrap(p.child(b)),
  };
}

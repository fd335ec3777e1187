/** Finding free loopback ports for local clusters and tests. */
import { createServer } from 'node:net';

/** True when `port` can be bound on `host` right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Ports handed out by default: below Linux's ephemeral range (32768–60999 by default), so a
 * listening port of a server that is down for a moment (a restart, a test's kill -9) cannot be
 * taken as the local port of some outgoing connection meanwhile, which would make its restart
 * fail to bind.
 */
const PORTS_LO_DEFAULT = 10000;
const PORTS_HI_DEFAULT = 32000;

/**
 * A base port P such that P .. P+count-1 are all free now, drawn from [lo, hi).
 * `pick(n)` supplies randomness (injected). Racy by nature: callers bind promptly.
 */
export async function findFreePortRange(count: number, pick: (n: number) => number, lo = PORTS_LO_DEFAULT, hi = PORTS_HI_DEFAULT, triesMax = 50): Promise<number> {
  for (let t = 0; t < triesMax; t++) {
    const base = lo + pick(Math.floor((hi - lo - count) / 10)) * 10;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portIsFree(p);
    if (ok) return base;
  }
  throw new Error(`no range of ${count} free ports found`);
}

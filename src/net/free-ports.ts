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

/** Ranges of at least this many ports (whole local clusters) start on a multiple of it. */
const BLOCK_PORTS = 1000;
/** Small ranges (a few ports) come from the top of the default span, clusters from the rest. */
const SMALL_RANGES_PORTS = 2000;

/**
 * A base port P such that P .. P+count-1 are all free now, drawn from [lo, hi). `pick(n)`
 * supplies randomness (injected). Racy by nature: callers bind promptly.
 *
 * With the default span, a range of BLOCK_PORTS or more starts on a block boundary and small
 * ranges come from a separate top slice: two clusters started at once (each binding ports across
 * its whole block, e.g. metrics ports at P+901) can then only collide by drawing the same block,
 * which the free check sees once the other's first ports are bound — never by partial overlap,
 * where one cluster's late-bound high ports fall on another's low ones.
 */
export async function findFreePortRange(count: number, pick: (n: number) => number, lo = PORTS_LO_DEFAULT, hi = PORTS_HI_DEFAULT, triesMax = 50): Promise<number> {
  const defaultSpan = lo === PORTS_LO_DEFAULT && hi === PORTS_HI_DEFAULT;
  const blocks = count >= BLOCK_PORTS && defaultSpan;
  const smallLo = defaultSpan ? hi - SMALL_RANGES_PORTS : lo;
  for (let t = 0; t < triesMax; t++) {
    let base: number;
    if (blocks) {
      const step = Math.ceil(count / BLOCK_PORTS) * BLOCK_PORTS;
      base = lo + pick(Math.floor((hi - SMALL_RANGES_PORTS - lo) / step)) * step;
    } else {
      const from = count <= SMALL_RANGES_PORTS / 10 ? smallLo : lo;
      base = from + pick(Math.floor((hi - from - count) / 10)) * 10;
    }
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portIsFree(p);
    if (ok) return base;
  }
  throw new Error(`no range of ${count} free ports found`);
}

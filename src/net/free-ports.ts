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

/** Ranges of at least this many ports (whole local clusters) are whole blocks of it. */
const BLOCK_PORTS = 1000;
/** Small ranges (a few ports) come from the top of the default span, clusters from the rest. */
const SMALL_RANGES_PORTS = 2000;

/**
 * Hold `port` for the rest of this process (an unref'd listener): no other process's
 * findFreePortRange takes its block, however close in time the two draws are. False if taken.
 */
function holdPort(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => {
      srv.unref();
      resolve(true);
    });
  });
}

/**
 * A base port P such that P .. P+count-1 are all free now, drawn from [lo, hi). `pick(n)`
 * supplies randomness (injected). Racy by nature: callers bind promptly.
 *
 * With the default span, a range of BLOCK_PORTS or more is a whole block: it starts on a block
 * boundary and its block's last port is held by this process (so the caller gets count - 1
 * usable ports at most: a dev cluster uses P .. P+903), which makes two processes drawing at
 * the same moment take different blocks, and makes partial overlap impossible (one cluster's
 * late-bound high ports, e.g. metrics at P+901, landing on another's low ones). Small ranges
 * come from a slice of their own. When every block is taken it falls back to any free range.
 */
export async function findFreePortRange(count: number, pick: (n: number) => number, lo = PORTS_LO_DEFAULT, hi = PORTS_HI_DEFAULT, triesMax = 50): Promise<number> {
  const defaultSpan = lo === PORTS_LO_DEFAULT && hi === PORTS_HI_DEFAULT;
  if (count >= BLOCK_PORTS && defaultSpan) {
    const step = Math.ceil(count / BLOCK_PORTS) * BLOCK_PORTS;
    const blocks = Math.floor((hi - SMALL_RANGES_PORTS - lo) / step);
    for (let t = 0; t < triesMax; t++) {
      const base = lo + pick(blocks) * step;
      if (!(await holdPort(base + step - 1))) continue;
      let ok = true;
      for (let p = base; p < base + count && p < base + step - 1 && ok; p++) ok = await portIsFree(p);
      if (ok) return base;
    }
  }
  const from = defaultSpan && count <= SMALL_RANGES_PORTS / 10 ? hi - SMALL_RANGES_PORTS : lo;
  for (let t = 0; t < triesMax; t++) {
    const base = from + pick(Math.floor((hi - from - count) / 10)) * 10;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portIsFree(p);
    if (ok) return base;
  }
  throw new Error(`no range of ${count} free ports found`);
}

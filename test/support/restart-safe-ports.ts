/**
 * Port ranges for local clusters whose servers a test kills and restarts. findFreePortRange's
 * default range overlaps Linux's ephemeral ports (32768–60999 by default): while a server is down,
 * any outgoing connection of any process on the machine may be given its listening port as a
 * local port, and the restarted server then fails to bind it (EADDRINUSE). Below the ephemeral
 * range that cannot happen.
 */
import { readFileSync } from 'node:fs';
import { systemRng } from '../../src/env/system.js';
import { findFreePortRange } from '../../src/net/index.js';

const PORTS_LO = 20000;
/** Linux's default first ephemeral port, used where the system's range cannot be read. */
const EPHEMERAL_LO_DEFAULT = 32768;

function ephemeralLo(): number {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isSafeInteger(lo) && lo > 0 ? lo : EPHEMERAL_LO_DEFAULT;
  } catch {
    return EPHEMERAL_LO_DEFAULT;
  }
}

/** A base port P with P .. P+count-1 free and below the ephemeral range (see the file comment). */
export function restartSafePortBase(count: number): Promise<number> {
  const hi = Math.min(EPHEMERAL_LO_DEFAULT, ephemeralLo());
  return hi - PORTS_LO > 2 * count ? findFreePortRange(count, (n) => systemRng.int(n), PORTS_LO, hi) : findFreePortRange(count, (n) => systemRng.int(n));
}

/**
 * Exactly-once client requests (Raft dissertation §6.3), for clients with MANY requests in
 * flight at once.
 *
 * Every mutating command carries (client, seq, ackedBelow): seq numbers a client's requests
 * (1, 2, 3, … in any arrival order), and ackedBelow says "I have the answers of every seq below
 * this". The machine remembers the outcome of each applied seq not yet acknowledged:
 *   - a retry of an applied seq (after a timeout or a leader change) returns the FIRST outcome,
 *     success or failure, and applies nothing;
 *   - a seq below the acknowledged mark is refused with StaleRequest (its answer is gone);
 *   - a seq at or beyond ackedBelow + windowMax is refused with Unavailable (too many
 *     unacknowledged requests; nothing is recorded, so the client may send it again after
 *     acknowledging), which bounds the outcomes kept per client;
 *   - at most sessionsMax clients are remembered; a new client beyond that evicts the one least
 *     recently used by the leader-stamped command time (ties: the smaller client id), so every
 *     replica evicts the same one. A retry from an evicted client is applied again: clients must
 *     not stay silent longer than it takes sessionsMax other clients to appear.
 *
 * Layout (see namespace-keys.ts for the rest):
 *   s/<client>             → [ackedBelow, lastUsedMs, maxSeq]: maxSeq is the highest seq applied
 *                            for the client, so a seq above it has no outcome to look up (a new
 *                            request is the common case: its lookup would be a miss in the store).
 *                            A record of two, written before maxSeq was kept, means "unknown":
 *                            every seq is looked up, as it was then.
 *   r/<client>/<seq hex>   → the outcome of seq (msgpack of the plain result object)
 *   u/<lastUsed hex>/<client> → 0x01 (LRU index)
 *   m/sessions             → number of sessions
 * Client ids are 1..CLIENT_ID_BYTES_MAX of [A-Za-z0-9._:-] (no '/'), so prefixes never collide.
 */
import { SESSION_WINDOW_MAX_DEFAULT, SESSIONS_MAX_DEFAULT } from '../config/defaults.js';
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';
import { decodeNumber, encodeNumber, hex, type MetaTxn } from './namespace-keys.js';
import type { Fail } from './namespace.js';

import { CLIENT_ID_BYTES_MAX, CLIENT_ID_RE, type SessionHeader } from '../proto/meta-fields.js';

export { CLIENT_ID_BYTES_MAX, CLIENT_ID_RE, type SessionHeader };

export interface SessionLimits {
  /** Unacknowledged seqs remembered per client (seq < ackedBelow + windowMax). */
  windowMax: number;
  /** Clients remembered. */
  sessionsMax: number;
}

export { SESSION_WINDOW_MAX_DEFAULT, SESSIONS_MAX_DEFAULT };

const SESSION_PREFIX = 's/';
const RESULT_PREFIX = 'r/';
const LRU_PREFIX = 'u/';
const SESSIONS_COUNT_KEY = 'm/sessions';
const PRESENT = Uint8Array.of(1);
/** Acknowledged outcomes deleted key by key rather than by a range scan (see applyOnce). */
const ACK_DELETES_BY_KEY_MAX = 16;

interface Session {
  ackedBelow: number;
  lastUsedMs: number;
  /** Every seq with a remembered outcome is at most this (infinite: not known, see the layout). */
  maxSeq: number;
}

const sessionKey = (client: string) => SESSION_PREFIX + client;
const resultsStart = (client: string) => `${RESULT_PREFIX}${client}/`;
const resultsEnd = (client: string) => `${RESULT_PREFIX}${client}0`;
const resultKey = (client: string, seq: number) => resultsStart(client) + hex(seq);
const lruKey = (s: Session, client: string) => `${LRU_PREFIX}${hex(s.lastUsedMs)}/${client}`;

function readSession(txn: Pick<MetaTxn, 'get'>, client: string): Session | undefined {
  const v = txn.get(sessionKey(client));
  if (!v) return undefined;
  const s = unpack(v);
  if (!Array.isArray(s) || typeof s[0] !== 'number' || typeof s[1] !== 'number') throw new CairnError('Corrupt', 'session: malformed record');
  if (s.length === 2) return { ackedBelow: s[0], lastUsedMs: s[1], maxSeq: Number.POSITIVE_INFINITY };
  if (s.length !== 3 || !Number.isSafeInteger(s[2]) || (s[2] as number) < 0) throw new CairnError('Corrupt', 'session: malformed record');
  return { ackedBelow: s[0], lastUsedMs: s[1], maxSeq: s[2] as number };
}

function encodeSession(s: Session): Uint8Array {
  return pack(Number.isFinite(s.maxSeq) ? [s.ackedBelow, s.lastUsedMs, s.maxSeq] : [s.ackedBelow, s.lastUsedMs]);
}

/** The first outcome of (client, seq), if remembered. */
function outcomeOf(view: Pick<MetaTxn, 'get'>, s: Session | undefined, h: SessionHeader): Uint8Array | undefined {
  if (!s || h.seq > s.maxSeq) return undefined;
  return view.get(resultKey(h.client, h.seq));
}

function sessionCount(txn: MetaTxn): number {
  const v = txn.get(SESSIONS_COUNT_KEY);
  return v ? decodeNumber(v) : 0;
}

/** Forget a client entirely (its outcomes, its LRU entry). */
function dropSession(txn: MetaTxn, client: string, s: Session): void {
  for (const [k] of [...txn.range(resultsStart(client), resultsEnd(client))]) txn.del(k);
  txn.del(lruKey(s, client));
  txn.del(sessionKey(client));
  txn.put(SESSIONS_COUNT_KEY, encodeNumber(sessionCount(txn) - 1));
}

/**
 * Run `op` at most once for (client, seq) and return its outcome, or the remembered first one.
 * `op` must return plain data (it is stored with msgpack) and must not throw for operating errors.
 */
export function applyOnce<R extends object>(txn: MetaTxn, h: SessionHeader, nowMs: number, limits: SessionLimits, op: () => R): R | Fail {
  let s = readSession(txn, h.client);
  const ackedBelow = Math.max(s?.ackedBelow ?? 0, h.ackedBelow);
  if (h.seq < ackedBelow) {
    return { ok: false, code: 'StaleRequest', message: `request ${h.seq} of client ${h.client} was already acknowledged (below ${ackedBelow})` };
  }
  const first = outcomeOf(txn, s, h);
  if (first) return unpack(first) as R;
  if (h.seq >= ackedBelow + limits.windowMax) {
    return { ok: false, code: 'Unavailable', message: `client ${h.client} has ${limits.windowMax} unacknowledged requests; acknowledge answers first` };
  }
  if (!s) {
    // A new client: make room by evicting the least recently used one.
    const excess = sessionCount(txn) - limits.sessionsMax + 1;
    for (const [k] of [...txn.range(LRU_PREFIX, 'u0', Math.max(0, excess))]) {
      const victim = k.slice(LRU_PREFIX.length + hex(0).length + 1);
      const vs = readSession(txn, victim);
      if (vs) dropSession(txn, victim, vs);
      else txn.del(k);
    }
    s = { ackedBelow: 0, lastUsedMs: nowMs, maxSeq: 0 };
    txn.put(SESSIONS_COUNT_KEY, encodeNumber(sessionCount(txn) + 1));
  } else {
    txn.del(lruKey(s, h.client));
  }
  const result = op();
  txn.put(resultKey(h.client, h.seq), pack(result));
  // Outcomes the client acknowledged are no longer needed. Every stored outcome has a seq at or
  // above the session's ackedBelow (lower seqs are refused as stale, and this deletion runs each
  // time the mark moves), so the ones to drop are exactly [s.ackedBelow, ackedBelow): a few keys,
  // deleted one by one, usually one (no range scan); a long jump scans the range instead.
  if (ackedBelow > s.ackedBelow) {
    if (ackedBelow - s.ackedBelow <= ACK_DELETES_BY_KEY_MAX) {
      for (let seq = s.ackedBelow; seq < ackedBelow; seq++) txn.del(resultKey(h.client, seq));
    } else {
      for (const [k] of [...txn.range(resultsStart(h.client), resultKey(h.client, ackedBelow))]) txn.del(k);
    }
  }
  const next: Session = { ackedBelow, lastUsedMs: Math.max(s.lastUsedMs, nowMs), maxSeq: Math.max(s.maxSeq, h.seq) };
  txn.put(sessionKey(h.client), encodeSession(next));
  txn.put(lruKey(next, h.client), PRESENT);
  return result;
}

/**
 * Whether (client, seq) has a remembered outcome: a retry of a request already applied (the
 * leader then skips its early refusals, which could differ from the first outcome, and proposes
 * it again to get that outcome).
 */
export function hasOutcome(view: Pick<MetaTxn, 'get'>, h: SessionHeader): boolean {
  return outcomeOf(view, readSession(view, h.client), h) !== undefined;
}

/** How many clients have a session (tests and metrics). */
export function sessionsInUse(txn: Pick<MetaTxn, 'get'>): number {
  const v = txn.get(SESSIONS_COUNT_KEY);
  return v ? decodeNumber(v) : 0;
}

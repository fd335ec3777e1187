/**
 * Chunk access tokens (HDFS block tokens are the model): the metadata leader signs, chunk
 * servers verify, with no round trip between them. A token grants ONE operation on ONE chunk
 * until an expiry time:
 *
 *   token = base64url( version u8 = 1 ‖ op u8 ‖ expiresAtMs u64 BE ‖ mac[32] )   (56 characters)
 *   mac   = HMAC-SHA256( key, version ‖ op ‖ expiresAtMs ‖ chunkId as ASCII )
 *   key   = HMAC-SHA256( clusterSecret, "cairn chunk token v1" )
 *
 * The chunk id is not inside the token (it is in the request path) but is covered by the MAC, so
 * a token for one chunk or one operation is useless for any other. The derived key keeps these
 * MACs apart from any other use of the cluster secret. Verification compares MACs in constant
 * time (crypto.timingSafeEqual) and checks the expiry against the injected Clock.
 *
 * Write grants (the fast write path, src/client/placement-cache.ts): one token that lets its
 * holder WRITE any chunk whose id starts with a prefix the leader leased to it, so a client
 * names its own chunks (prefix ‖ its own suffix) and needs no per-chunk call:
 *
 *   grant = base64url( version u8 = 2 ‖ op u8 = write ‖ expiresAtMs u64 BE ‖ prefix[8] ‖ mac[32] )  (67 characters)
 *   mac   = HMAC-SHA256( key, version ‖ op ‖ expiresAtMs ‖ prefix )   (same key as above)
 *
 * The version byte is inside both MACs and the two kinds differ in length and MAC input, so a
 * grant never verifies as a per-chunk token nor the reverse: verify() reads the version and
 * checks a grant only against an id that starts with its (authenticated) prefix, and only for
 * 'write'. A grant never reads, copies or deletes.
 *
 * The Clock MUST be wall-clock milliseconds since the epoch (e.g. `{ nowMs: wallClockMs }` from
 * env/system.ts), the same time base on signer and verifier; `skewMs` tolerates clock skew
 * between servers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../env/clock.js';
import { isChunkId } from '../util/chunk-id.js';
import { CairnError } from '../util/errors.js';
import { TOKEN_SKEW_MS_DEFAULT } from '../config/defaults.js';

export const CHUNK_OPS = ['read', 'write', 'delete', 'copy'] as const;
export type ChunkOp = (typeof CHUNK_OPS)[number];

const VERSION = 1;
const GRANT_VERSION = 2;
const MAC_BYTES = 32;
const HEAD_BYTES = 1 + 1 + 8;
const TOKEN_BYTES = HEAD_BYTES + MAC_BYTES;
/** Length of an encoded token (base64url, no padding). */
export const CHUNK_TOKEN_CHARS = Math.ceil((TOKEN_BYTES * 4) / 3);
/** Bytes of a write grant's chunk-id prefix (hex digits: twice as many). */
export const GRANT_PREFIX_BYTES = 8;
const GRANT_BYTES = HEAD_BYTES + GRANT_PREFIX_BYTES + MAC_BYTES;
/** Length of an encoded write grant. */
export const WRITE_GRANT_CHARS = Math.ceil((GRANT_BYTES * 4) / 3);
const GRANT_PREFIX_RE = new RegExp(`^[0-9a-f]{${GRANT_PREFIX_BYTES * 2}}$`);
const KEY_LABEL = 'cairn chunk token v1';

export interface ChunkTokenComponents {
  /** Wall-clock ms since the epoch, shared time base with the other servers. */
  clock: Clock;
}

export interface ChunkTokenOptions {
  /** The cluster secret (at least 16 bytes). */
  secret: string | Uint8Array;
  /** Expired tokens are still accepted this long after their expiry. @default 30_000 */
  skewMs?: number;
}

export class ChunkToken {
  private readonly key: Buffer;
  private readonly skewMs: number;

  constructor(
    private readonly components: ChunkTokenComponents,
    options: ChunkTokenOptions,
  ) {
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret) : Buffer.from(options.secret);
    if (secret.length < 16) throw new CairnError('InvalidArgument', 'the cluster secret must be at least 16 bytes');
    this.key = createHmac('sha256', secret).update(KEY_LABEL).digest();
    this.skewMs = options.skewMs ?? TOKEN_SKEW_MS_DEFAULT;
  }

  /** A token for `op` on `chunkId`, valid until `expiresAtMs` (wall clock). */
  sign(op: ChunkOp, chunkId: string, expiresAtMs: number): string {
    if (!isChunkId(chunkId)) throw new CairnError('InvalidArgument', 'a chunk id is 32 lowercase hex digits');
    if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) throw new CairnError('InvalidArgument', 'bad token expiry');
    const head = Buffer.alloc(HEAD_BYTES);
    head.writeUInt8(VERSION, 0);
    head.writeUInt8(opCode(op), 1);
    head.writeBigUInt64BE(BigInt(expiresAtMs), 2);
    return Buffer.concat([head, this.mac(head, chunkId)]).toString('base64url');
  }

  /** A token valid for `ttlMs` from now. */
  signFor(op: ChunkOp, chunkId: string, ttlMs: number): string {
    return this.sign(op, chunkId, Math.floor(this.components.clock.nowMs() + ttlMs));
  }

  /**
   * A write grant for every chunk id starting with `prefix` (GRANT_PREFIX_BYTES × 2 lowercase hex
   * digits), valid until `expiresAtMs` (wall clock).
   */
  signGrant(prefix: string, expiresAtMs: number): string {
    if (!GRANT_PREFIX_RE.test(prefix)) throw new CairnError('InvalidArgument', `a write grant prefix is ${GRANT_PREFIX_BYTES * 2} lowercase hex digits`);
    if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) throw new CairnError('InvalidArgument', 'bad token expiry');
    const head = Buffer.alloc(HEAD_BYTES + GRANT_PREFIX_BYTES);
    head.writeUInt8(GRANT_VERSION, 0);
    head.writeUInt8(opCode('write'), 1);
    head.writeBigUInt64BE(BigInt(expiresAtMs), 2);
    head.write(prefix, HEAD_BYTES, 'hex');
    return Buffer.concat([head, this.grantMac(head)]).toString('base64url');
  }

  /** A write grant valid for `ttlMs` from now. */
  signGrantFor(prefix: string, ttlMs: number): string {
    return this.signGrant(prefix, Math.floor(this.components.clock.nowMs() + ttlMs));
  }

  /**
   * Checks that `token` grants one of `ops` on `chunkId` now; returns the granted op. `token` is a
   * per-chunk token, or a write grant whose prefix starts `chunkId` (it grants 'write' only).
   * Throws CairnError('Unauthorized') for a missing, malformed, forged, mismatched or expired token.
   */
  verify(token: string | undefined, ops: ChunkOp | readonly ChunkOp[], chunkId: string): ChunkOp {
    if (token !== undefined && token.length === WRITE_GRANT_CHARS) {
      this.verifyGrant(token, chunkId);
      const allowed: readonly ChunkOp[] = typeof ops === 'string' ? [ops] : ops;
      if (!allowed.includes('write')) throw new CairnError('Unauthorized', `a write grant does not allow ${allowed.join('/')}`);
      return 'write';
    }
    if (token === undefined || token.length !== CHUNK_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token))
      throw new CairnError('Unauthorized', 'missing or malformed chunk token');
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== TOKEN_BYTES || raw.readUInt8(0) !== VERSION) throw new CairnError('Unauthorized', 'malformed chunk token');
    const head = raw.subarray(0, HEAD_BYTES);
    const expected = this.mac(head, chunkId);
    // MAC first, in constant time: nothing below depends on an unauthenticated field.
    if (!timingSafeEqual(expected, raw.subarray(HEAD_BYTES))) throw new CairnError('Unauthorized', 'chunk token does not match this chunk or was not signed by this cluster');
    const op = CHUNK_OPS[raw.readUInt8(1)];
    const allowed: readonly ChunkOp[] = typeof ops === 'string' ? [ops] : ops;
    if (op === undefined || !allowed.includes(op)) throw new CairnError('Unauthorized', `chunk token is for '${op ?? '?'}', not ${allowed.join('/')}`);
    this.checkExpiry(raw, 'chunk token');
    return op;
  }

  /**
   * Checks that `grant` is a write grant of this cluster, unexpired, whose prefix starts `chunkId`
   * (any chunk id when `chunkId` is undefined); returns the prefix. Throws Unauthorized otherwise
   * (a per-chunk token is not a grant).
   */
  verifyGrant(grant: string | undefined, chunkId?: string): string {
    if (grant === undefined || grant.length !== WRITE_GRANT_CHARS || !/^[A-Za-z0-9_-]+$/.test(grant)) throw new CairnError('Unauthorized', 'missing or malformed write grant');
    const raw = Buffer.from(grant, 'base64url');
    if (raw.length !== GRANT_BYTES || raw.readUInt8(0) !== GRANT_VERSION) throw new CairnError('Unauthorized', 'malformed write grant');
    const head = raw.subarray(0, HEAD_BYTES + GRANT_PREFIX_BYTES);
    // MAC first, in constant time: the prefix, op and expiry are trusted only once it matched.
    if (!timingSafeEqual(this.grantMac(head), raw.subarray(head.length))) throw new CairnError('Unauthorized', 'write grant was not signed by this cluster');
    if (raw.readUInt8(1) !== opCode('write')) throw new CairnError('Unauthorized', 'malformed write grant');
    const prefix = head.subarray(HEAD_BYTES).toString('hex');
    if (chunkId !== undefined && !chunkId.startsWith(prefix)) throw new CairnError('Unauthorized', `write grant covers chunk ids starting ${prefix}, not ${chunkId}`);
    this.checkExpiry(raw, 'write grant');
    return prefix;
  }

  private checkExpiry(raw: Buffer, what: string): void {
    const expiresAtMs = Number(raw.readBigUInt64BE(2));
    if (this.components.clock.nowMs() > expiresAtMs + this.skewMs) throw new CairnError('Unauthorized', `${what} expired`);
  }

  private mac(head: Buffer, chunkId: string): Buffer {
    return createHmac('sha256', this.key).update(head).update(chunkId, 'latin1').digest();
  }

  private grantMac(head: Buffer): Buffer {
    return createHmac('sha256', this.key).update(head).digest();
  }
}

function opCode(op: ChunkOp): number {
  const i = CHUNK_OPS.indexOf(op);
  if (i < 0) throw new CairnError('InvalidArgument', `unknown chunk op ${String(op)}`);
  return i;
}

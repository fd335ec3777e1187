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
const MAC_BYTES = 32;
const TOKEN_BYTES = 1 + 1 + 8 + MAC_BYTES;
/** Length of an encoded token (base64url, no padding). */
export const CHUNK_TOKEN_CHARS = Math.ceil((TOKEN_BYTES * 4) / 3);
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
    const head = Buffer.alloc(10);
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
   * Checks that `token` grants one of `ops` on `chunkId` now; returns the granted op.
   * Throws CairnError('Unauthorized') for a missing, malformed, forged, mismatched or expired token.
   */
  verify(token: string | undefined, ops: ChunkOp | readonly ChunkOp[], chunkId: string): ChunkOp {
    if (token === undefined || token.length !== CHUNK_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token))
      throw new CairnError('Unauthorized', 'missing or malformed chunk token');
    const raw = Buffer.from(token, 'base64url');
    if (raw.length !== TOKEN_BYTES || raw.readUInt8(0) !== VERSION) throw new CairnError('Unauthorized', 'malformed chunk token');
    const head = raw.subarray(0, 10);
    const expected = this.mac(head, chunkId);
    // MAC first, in constant time: nothing below depends on an unauthenticated field.
    if (!timingSafeEqual(expected, raw.subarray(10))) throw new CairnError('Unauthorized', 'chunk token does not match this chunk or was not signed by this cluster');
    const op = CHUNK_OPS[raw.readUInt8(1)];
    const allowed: readonly ChunkOp[] = typeof ops === 'string' ? [ops] : ops;
    if (op === undefined || !allowed.includes(op)) throw new CairnError('Unauthorized', `chunk token is for '${op ?? '?'}', not ${allowed.join('/')}`);
    const expiresAtMs = Number(raw.readBigUInt64BE(2));
    if (this.components.clock.nowMs() > expiresAtMs + this.skewMs) throw new CairnError('Unauthorized', 'chunk token expired');
    return op;
  }

  private mac(head: Buffer, chunkId: string): Buffer {
    return createHmac('sha256', this.key).update(head).update(chunkId, 'latin1').digest();
  }
}

function opCode(op: ChunkOp): number {
  const i = CHUNK_OPS.indexOf(op);
  if (i < 0) throw new CairnError('InvalidArgument', `unknown chunk op ${String(op)}`);
  return i;
}

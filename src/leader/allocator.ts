/**
 * Placement of new chunks for writers, with signed write authority:
 *
 *   fs.view {}                  → {ringVersion, ring, servers:[{id, addr, writable}], replicas,
 *                                  chunkSize, grant:{prefix, token, ttlMs}}
 *                                 the fast write path: the client holds the ring and places each
 *                                 chunk itself (placement/write-targets.ts, the rule below), naming
 *                                 its chunks prefix ‖ its own suffix under the write grant
 *   fs.alloc {count, exclude?}  → {chunkSize, chunks:[{id, targets:[{id, addr, token}]}]}
 *                                 (chunkSize: the cluster's default chunk size for writers)
 *   fs.retarget {id, exclude}   → {targets:[…]}  replacements for failed targets of one chunk
 *
 * Targets are writeTargets(ring, id, R, writable, exclude): the first R servers of the chunk's
 * ring order that are up in the ring and writable — registered, heard from within deadAfterMs,
 * not full — minus `exclude`; NoSpace when there is none. fs.view sends the same `writable`
 * verdicts, so a client computes the same targets as fs.alloc for the same view.
 *
 * A grant's prefix is GRANT_PREFIX_BYTES random bytes, fresh on every fs.view: prefixes of two
 * grants collide with probability 2^-64, so client-made ids are as unique as leader-made ones.
 * A grant lives grantTtlMs (short; the client refreshes it at half its life); an unused one
 * costs nothing (nothing is recorded per grant).
 */
import type { Clock } from '../env/clock.js';
import { ringLayoutToValue, writeTargets } from '../placement/index.js';
import { GRANT_PREFIX_BYTES } from '../proto/chunk-token.js';
import type { AllocRequest, RetargetRequest } from '../proto/meta-requests.js';
import { CairnError } from '../util/errors.js';
import type { LeaderTerm } from './leader-term.js';
import type { LeaderTerms } from './leader-terms.js';
import type { TokenSigner } from './token-signer.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';
import { WRITE_GRANT_TTL_MS_DEFAULT } from '../config/defaults.js';

export interface Target {
  id: string;
  addr: string;
  token: string;
}

export interface AllocatorComponents {
  terms: LeaderTerms;
  clock: Clock;
  /** Chunk ids are 16 random bytes; grant prefixes 8. */
  randomBytes: (n: number) => Uint8Array;
  tokens: TokenSigner;
}

export interface AllocatorOptions {
  /** Replicas per chunk. */
  replicas: number;
  /** How long a chunk token stays valid. */
  tokenTtlMs: number;
  /** Default chunk size handed to writers. */
  chunkSizeBytes: number;
  /** How long a write grant stays valid. @default min(tokenTtlMs, WRITE_GRANT_TTL_MS_DEFAULT) */
  grantTtlMs?: number;
}

export class Allocator {
  private readonly c: AllocatorComponents;
  private readonly o: AllocatorOptions;
  private readonly grantTtlMs: number;

  constructor(c: AllocatorComponents, o: AllocatorOptions) {
    this.c = c;
    this.o = o;
    this.grantTtlMs = o.grantTtlMs ?? Math.min(o.tokenTtlMs, WRITE_GRANT_TTL_MS_DEFAULT);
  }

  view(): A['fs.view'] {
    const t = this.c.terms.current();
    const ring = t.cluster.ring();
    const servers = t.cluster.servers();
    const writable = this.writable(t);
    const prefix = Buffer.from(this.c.randomBytes(GRANT_PREFIX_BYTES)).toString('hex');
    return {
      ringVersion: ring.version,
      ring: ringLayoutToValue(ring),
      servers: ring.servers.flatMap((s) => {
        const rec = servers.get(s.id);
        return rec ? [{ id: s.id, addr: rec.addr, writable: writable(s.id) }] : [];
      }),
      replicas: this.o.replicas,
      chunkSize: this.o.chunkSizeBytes,
      grant: { prefix, token: this.c.tokens.signGrantFor(prefix, this.grantTtlMs), ttlMs: this.grantTtlMs },
    };
  }

  alloc(req: AllocRequest): A['fs.alloc'] {
    const t = this.c.terms.current();
    const exclude = new Set(req.exclude);
    const chunks = [];
    for (let i = 0; i < req.count; i++) {
      const id = Buffer.from(this.c.randomBytes(16)).toString('hex');
      chunks.push({ id, targets: this.targets(t, id, exclude) });
    }
    return { chunkSize: this.o.chunkSizeBytes, chunks };
  }

  retarget(req: RetargetRequest): A['fs.retarget'] {
    const t = this.c.terms.current();
    return { targets: this.targets(t, req.id, new Set(req.exclude)) };
  }

  /** The liveness verdict placement uses, now: registered, alive, not full. */
  private writable(t: LeaderTerm): (id: string) => boolean {
    const reg = t.registry;
    const servers = t.cluster.servers();
    const now = this.c.clock.nowMs();
    return (s) => servers.has(s) && reg.isAlive(s, now) && reg.load(s)?.full !== true;
  }

  private targets(t: LeaderTerm, id: string, exclude: ReadonlySet<string>): Target[] {
    const servers = t.cluster.servers();
    const out = writeTargets(t.cluster.ring(), id, this.o.replicas, this.writable(t), exclude).map((s) => ({
      id: s,
      addr: servers.get(s)!.addr,
      token: this.c.tokens.signFor('write', id, this.o.tokenTtlMs),
    }));
    if (out.length === 0)
      throw new CairnError(
        'NoSpace',
        exclude.size > 0
          ? `no live chunk server with free space outside the ${exclude.size} excluded (${[...exclude].sort().slice(0, 8).join(',')}${exclude.size > 8 ? ',…' : ''}) can take chunk ${id}`
          : 'no live chunk server with free space can take a new chunk',
      );
    return out;
  }
}

/**
 * Placement of new chunks for writers, with signed write tokens:
 *
 *   fs.alloc {count, exclude?}  → {chunkSize, chunks:[{id, targets:[{id, addr, token}]}]}
 *                                 (chunkSize: the cluster's default chunk size for writers)
 *   fs.retarget {id, exclude}   → {targets:[…]}  replacements for failed targets of one chunk
 *
 * Targets are the first R up, alive, not-full servers in the chunk's ring order, minus
 * `exclude`; NoSpace when there is none.
 */
import type { Clock } from '../env/clock.js';
import { preferenceList } from '../placement/index.js';
import type { AllocRequest, RetargetRequest } from '../proto/meta-requests.js';
import { CairnError } from '../util/errors.js';
import type { LeaderTerm } from './leader-term.js';
import type { LeaderTerms } from './leader-terms.js';
import type { TokenSigner } from './token-signer.js';
import type { MetaAnswers as A } from '../proto/meta-answers.js';

export interface Target {
  id: string;
  addr: string;
  token: string;
}

export interface AllocatorComponents {
  terms: LeaderTerms;
  clock: Clock;
  /** Chunk ids are 16 random bytes. */
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
}

export class Allocator {
  private readonly c: AllocatorComponents;
  private readonly o: AllocatorOptions;

  constructor(c: AllocatorComponents, o: AllocatorOptions) {
    this.c = c;
    this.o = o;
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

  private targets(t: LeaderTerm, id: string, exclude: ReadonlySet<string>): Target[] {
    const ring = t.cluster.ring();
    const reg = t.registry;
    const servers = t.cluster.servers();
    const now = this.c.clock.nowMs();
    const out: Target[] = [];
    for (const s of preferenceList(ring, id)) {
      if (out.length >= this.o.replicas) break;
      const rec = servers.get(s);
      if (exclude.has(s) || !rec || !reg.isAlive(s, now) || reg.load(s)?.full) continue;
      out.push({ id: s, addr: rec.addr, token: this.c.tokens.signFor('write', id, this.o.tokenTtlMs) });
    }
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

/**
 * The history of a chaos run and its checks.
 *
 * Every file the workload writes is one version named by a unique tag: its bytes are a header
 * line `tag size\n` followed by bytes drawn from the tag, so any read can be checked byte for
 * byte and told apart from every other version. Each path is a register whose value is the tag
 * it holds ('' when absent) and the namespace history is checked for linearizability by the
 * simulator's checker (test/sim/linearizability.ts): put = PUT, cas('' → tag) = PUT with
 * If-None-Match: *, put('') = DELETE, get = GET or HEAD (or a DELETE that found nothing).
 * A request whose outcome is unknown (timeout, 5xx, connection lost) may have taken effect at
 * any later time, or never.
 *
 * Figures: corrupt = reads whose bytes are not exactly a version's; never-written = reads of a
 * version never written to that path; lost = paths whose final value (read after the cluster
 * healed) is no write that could have been the last one (an acknowledged write vanished).
 */
import { createHash } from 'node:crypto';
import { checkLinearizable, type HistoryOp } from '../sim/linearizability.js';

/** The bytes of version `tag` of a file, `size` bytes after the header. */
export function versionBytes(tag: string, size: number): Buffer {
  const header = Buffer.from(`${tag} ${size}\n`);
  const body = Buffer.alloc(size);
  let block = createHash('sha256').update(tag).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(body, at, 0, Math.min(block.length, size - at));
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat([header, body]);
}

/** The tag of a read's bytes if they are exactly one version's, else null. */
export function parseVersion(bytes: Buffer): string | null {
  const nl = bytes.indexOf(10);
  if (nl < 0 || nl > 200) return null;
  const m = /^(\S+) (\d+)$/.exec(bytes.subarray(0, nl).toString('utf8'));
  if (!m) return null;
  const size = Number(m[2]);
  if (bytes.length !== nl + 1 + size) return null;
  return versionBytes(m[1]!, size).equals(bytes) ? m[1]! : null;
}

export interface ChaosFigures {
  ops: number;
  acked: number;
  unknown: number;
  reads: number;
  corrupt: number;
  neverWritten: number;
  lost: number;
  linearizable: boolean;
  detail: string | null;
}

export class ChaosHistory {
  readonly ops: HistoryOp[] = [];
  /** Tags written (attempted) per path. */
  private readonly written = new Map<string, Set<string>>();
  corrupt = 0;
  neverWritten = 0;
  reads = 0;
  private readonly problems: string[] = [];

  constructor(paths: readonly string[]) {
    // Every path starts absent.
    for (const p of paths) this.ops.push({ clientId: 'init', op: 'put', input: { key: p, value: '' }, output: {}, callTime: -2, returnTime: -1 });
  }

  /** A write of `tag` to `path` is about to be sent. */
  writing(path: string, tag: string): void {
    let s = this.written.get(path);
    if (!s) this.written.set(path, (s = new Set()));
    s.add(tag);
  }

  add(op: HistoryOp): void {
    this.ops.push(op);
  }

  /** A successful read of `path` returned `bytes` (null: absent); the tag, or null if it is not a version. */
  readBytes(path: string, bytes: Buffer | null): string | null {
    this.reads++;
    if (bytes === null) return '';
    const tag = parseVersion(bytes);
    if (tag === null) {
      this.corrupt++;
      this.problems.push(`corrupt read of ${path}: ${bytes.length} bytes, header ${JSON.stringify(bytes.subarray(0, 40).toString('utf8'))}`);
      return null;
    }
    if (!this.written.get(path)?.has(tag)) {
      this.neverWritten++;
      this.problems.push(`read of ${path} returned version ${tag}, never written there`);
      return null;
    }
    return tag;
  }

  /** Paths whose final value is no write that could have been the last one. */
  lostPaths(finalValues: Map<string, string>): string[] {
    const lost: string[] = [];
    for (const [path, final] of finalValues) {
      const writes = this.ops.filter((o) => o.input.key === path && o.op !== 'get' && !(o.op === 'cas' && o.output !== 'unknown' && o.output.ok !== true));
      // W could be last unless an acknowledged write started after W returned.
      const acked = writes.filter((o) => o.output !== 'unknown');
      const candidates = writes.filter((w) => !acked.some((a) => a !== w && a.callTime > w.returnTime));
      if (!candidates.some((w) => (w.input.value ?? '') === final)) lost.push(`${path}: final ${final || 'absent'}, expected one of ${candidates.map((w) => w.input.value || 'absent').join(', ')}`);
    }
    return lost;
  }

  /**
   * Linearizability, with the simulator's sound reduction of unknown outcomes: a version some
   * read returned took effect before that read returned (its return time is tightened), and a
   * version nobody read can be dropped (placed last, it changes nothing). Only a failed
   * create-if-absent can need a dropped write to explain it: a violation found without them is
   * checked again with every operation.
   */
  private check(): ReturnType<typeof checkLinearizable> {
    const seenAt = new Map<string, number>();
    for (const o of this.ops) {
      if (o.op === 'get' && o.output !== 'unknown' && o.output.value) seenAt.set(o.output.value, Math.min(seenAt.get(o.output.value) ?? Infinity, o.returnTime));
    }
    const reduced: HistoryOp[] = [];
    for (const o of this.ops) {
      const v = o.input.value ?? '';
      if (o.op === 'get' || o.output !== 'unknown' || v === '') {
        reduced.push(o);
        continue;
      }
      const seen = seenAt.get(v);
      if (seen !== undefined) reduced.push({ ...o, output: o.op === 'cas' ? { ok: true } : {}, returnTime: Math.max(seen, o.callTime) });
    }
    const opts = { stepsMax: 20_000_000 };
    const r = checkLinearizable(reduced, opts);
    return r.verdict === 'violation' && reduced.length < this.ops.length ? checkLinearizable(this.ops, opts) : r;
  }

  figures(finalValues: Map<string, string>): ChaosFigures {
    const lost = this.lostPaths(finalValues);
    const lin = this.check();
    const real = this.ops.filter((o) => o.clientId !== 'init');
    const detail = [...this.problems.slice(0, 5), ...lost.slice(0, 5), ...(lin.verdict === 'ok' ? [] : [`linearizability ${lin.verdict} on ${lin.key}: ${lin.detail}`])];
    return {
      ops: real.length,
      acked: real.filter((o) => o.output !== 'unknown').length,
      unknown: real.filter((o) => o.output === 'unknown').length,
      reads: this.reads,
      corrupt: this.corrupt,
      neverWritten: this.neverWritten,
      lost: lost.length,
      linearizable: lin.verdict === 'ok',
      detail: detail.length > 0 ? detail.join('; ') : null,
    };
  }
}

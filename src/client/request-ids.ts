/**
 * Request ids for writes to the metadata service: s = [client, seq, ackedBelow].
 *
 * Contract (meta/session.ts): the state machine applies each (client, seq) once and answers a
 * retry with the first outcome; `ackedBelow` tells it every seq below has its answer at the
 * client, so it may forget them. Many requests may be in flight: ackedBelow is the smallest seq
 * still outstanding (or the next seq when none is). A request the client gave up on (no answer
 * before the retry deadline) is ended too: it is never re-sent, so its answer is not needed.
 */
export class RequestIds {
  private nextSeq = 1;
  /** Outstanding seqs; a Set iterates in insertion order, which is ascending here. */
  private readonly outstanding = new Set<number>();

  constructor(readonly client: string) {}

  /** A fresh header for one request; call end(seq) once its answer (or final failure) is in. */
  begin(): [client: string, seq: number, ackedBelow: number] {
    const seq = this.nextSeq++;
    this.outstanding.add(seq);
    const lowest = this.outstanding.values().next().value as number;
    return [this.client, seq, lowest];
  }

  end(seq: number): void {
    this.outstanding.delete(seq);
  }

  get inflight(): number {
    return this.outstanding.size;
  }
}

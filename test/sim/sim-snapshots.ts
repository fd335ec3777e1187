/**
 * The simulated state machine's side of snapshot transfers (snapshot-streams.ts' SnapshotSource):
 * a reader over the image of the machine at its applied index, and a staging area that collects
 * received pieces, each write taking a simulated fsync. Staging lives in the node's memory: the
 * simulated disk makes an install durable in one sync with the log, so no crash falls between.
 */
import type { SnapshotReader, SnapshotWriter } from '../../src/consensus/snapshot-transfer.js';
import type { SnapshotSource } from '../../src/consensus/snapshot-streams.js';
import type { SimKvMachine } from './sim-kv-machine.js';
import type { SimNsMachine } from './sim-ns-machine.js';

export type Machine = SimKvMachine | SimNsMachine;

export interface SimSnapshotsComponents {
  /** The node's current state machine. */
  machine(): Machine;
  /** Resolve after a simulated fsync (never, if the node crashes first). */
  fsync(): Promise<void>;
}

export class SimSnapshots implements SnapshotSource {
  private writing: { pieces: Uint8Array[] } | null = null;
  private staged: { index: number; image: Uint8Array } | null = null;

  constructor(private readonly c: SimSnapshotsComponents) {}

  openSnapshot(): Promise<SnapshotReader> {
    const m = this.c.machine();
    const image = m.snapshot();
    let at = 0;
    return Promise.resolve({
      index: m.applied,
      next: (bytesMax: number) => {
        if (at >= image.byteLength) return Promise.resolve(null);
        const piece = image.subarray(at, at + bytesMax);
        at += piece.byteLength;
        return Promise.resolve(piece);
      },
      close: () => undefined,
    });
  }

  beginSnapshotWrite(): SnapshotWriter {
    const w = { pieces: [] as Uint8Array[] };
    this.writing = w;
    return {
      write: async (piece) => {
        if (this.writing !== w) throw new Error('superseded by a newer snapshot write');
        w.pieces.push(piece.slice());
        await this.c.fsync();
      },
      finish: async (index) => {
        if (this.writing !== w) throw new Error('superseded by a newer snapshot write');
        await this.c.fsync();
        if (this.writing !== w) throw new Error('superseded by a newer snapshot write');
        this.writing = null;
        const image = new Uint8Array(w.pieces.reduce((n, p) => n + p.byteLength, 0));
        let at = 0;
        for (const p of w.pieces) {
          image.set(p, at);
          at += p.byteLength;
        }
        this.staged = { index, image };
      },
      abort: () => {
        if (this.writing === w) this.writing = null;
        return Promise.resolve();
      },
    };
  }

  stagedSnapshotIndex(): number {
    return this.staged?.index ?? 0;
  }

  /** Replace the live state by the staged image (the caller swaps the machine it returns in). */
  takeStaged(index: number): Uint8Array {
    const s = this.staged;
    if (!s || s.index !== index) throw new Error(`snapshot ${index} is not the staged image (${s?.index ?? 0})`);
    this.staged = null;
    return s.image;
  }
}

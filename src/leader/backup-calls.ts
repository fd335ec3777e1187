/**
 * The leader's side of `cairn backup` (protocol in proto/backup-requests.ts): each open backup
 * holds one consistent read view of the state (an LMDB read transaction) and hands it out one
 * piece per call. At most `openMax` backups are open at once; one whose client has been silent
 * for `idleMs` is closed (a read view held forever would keep LMDB from reusing pages).
 *
 * The image is taken after a ReadIndex round, so it holds every write acknowledged before
 * cluster.backupOpen was called. A leader change does not spoil an open view (it is still one
 * consistent state), but every call is the leader's, as all metadata calls are: a follower answers
 * NotLeader, the client follows the hint and the new leader knows no such cursor (NotFound: run
 * the backup again). A server that loses leadership closes its open backups (MetaLeader.tick).
 */
import type { Timers } from '../env/clock.js';
import type { BackupCloseRequest, BackupNextRequest, BackupAnswers, BackupImageInfo } from '../proto/backup-requests.js';
import { CairnError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { LeaderRaft } from './leader-raft.js';

/** A read view of the whole state, read in pieces (consensus/kv-snapshot.ts's pairSnapshotReader). */
export interface BackupReader {
  readonly index: number;
  /** The next piece of about `bytesMax` bytes, or null after the last. */
  next(bytesMax: number): Promise<Uint8Array | null>;
  close(): void;
}

/** Where images come from (the metadata server wires its state machine and Raft log). */
export interface BackupSource {
  open(): Promise<{ reader: BackupReader; info: BackupImageInfo }>;
}

export interface BackupCallsComponents {
  raft: Pick<LeaderRaft, 'isLeader' | 'notLeader' | 'linearizableRead'>;
  /** null: this server cannot make backups (cluster.backupOpen answers Unavailable). */
  source: BackupSource | null;
  timers: Timers;
  randomBytes: (n: number) => Uint8Array;
  logger: Logger;
}

export interface BackupCallsOptions {
  /** Backups open at once. @default 4 */
  openMax?: number;
  /** A backup whose client asked nothing for this long is closed. @default 60000 */
  idleMs?: number;
  /** Approximate size of one piece. @default 1 MiB */
  pieceBytesMax?: number;
}

interface OpenBackup {
  reader: BackupReader;
  seq: number;
  last: Uint8Array | null;
  idle: { cancel(): void };
  /** The piece being read (calls on one cursor are served in order). */
  busy: Promise<unknown>;
}

export class BackupCalls {
  private readonly open = new Map<string, OpenBackup>();
  private readonly openMax: number;
  private readonly idleMs: number;
  private readonly pieceBytesMax: number;

  constructor(
    private readonly c: BackupCallsComponents,
    o: BackupCallsOptions = {},
  ) {
    this.openMax = o.openMax ?? 4;
    this.idleMs = o.idleMs ?? 60_000;
    this.pieceBytesMax = o.pieceBytesMax ?? 1 << 20;
  }

  async begin(): Promise<BackupAnswers['cluster.backupOpen']> {
    const { raft, source } = this.c;
    if (!raft.isLeader()) throw raft.notLeader();
    if (source === null) throw new CairnError('Unavailable', 'this server cannot make backups');
    if (this.open.size >= this.openMax) throw new CairnError('Unavailable', `${this.openMax} backups are running already`);
    await raft.linearizableRead();
    const { reader, info } = await source.open();
    if (this.open.size >= this.openMax) {
      reader.close();
      throw new CairnError('Unavailable', `${this.openMax} backups are running already`);
    }
    const cursor = Buffer.from(this.c.randomBytes(16)).toString('hex');
    const b: OpenBackup = { reader, seq: 0, last: null, idle: { cancel: () => undefined }, busy: Promise.resolve() };
    this.open.set(cursor, b);
    this.touch(cursor, b);
    this.c.logger.info('backup opened', { index: info.index });
    return { cursor, ...info };
  }

  async next(req: BackupNextRequest): Promise<BackupAnswers['cluster.backupNext']> {
    if (!this.c.raft.isLeader()) throw this.c.raft.notLeader();
    const b = this.found(req.cursor);
    this.touch(req.cursor, b);
    const run = b.busy.then(async () => {
      if (req.seq === b.seq) return { piece: b.last };
      if (req.seq !== b.seq + 1) throw new CairnError('InvalidArgument', `backup piece ${req.seq} asked after piece ${b.seq}`);
      b.last = await b.reader.next(this.pieceBytesMax);
      b.seq = req.seq;
      return { piece: b.last };
    });
    b.busy = run.catch(() => undefined);
    return run;
  }

  finish(req: BackupCloseRequest): BackupAnswers['cluster.backupClose'] {
    if (!this.c.raft.isLeader()) throw this.c.raft.notLeader();
    const b = this.open.get(req.cursor);
    if (b !== undefined) this.drop(req.cursor, b);
    return {};
  }

  /** Close every open backup (the server stops). */
  closeAll(): void {
    for (const [cursor, b] of [...this.open]) this.drop(cursor, b);
  }

  private found(cursor: string): OpenBackup {
    const b = this.open.get(cursor);
    if (b === undefined) throw new CairnError('NotFound', 'no such backup on this server (expired, finished, or the leader changed): run the backup again');
    return b;
  }

  private touch(cursor: string, b: OpenBackup): void {
    b.idle.cancel();
    b.idle = this.c.timers.setTimeout(() => {
      this.c.logger.warn('backup closed: its client went silent', { idleMs: this.idleMs });
      this.drop(cursor, b);
    }, this.idleMs);
  }

  private drop(cursor: string, b: OpenBackup): void {
    if (this.open.get(cursor) !== b) return;
    this.open.delete(cursor);
    b.idle.cancel();
    // A piece being read finishes first: the view must outlive its iterator's last step.
    void b.busy.then(() => b.reader.close());
  }
}

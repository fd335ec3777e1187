/**
 * `cairn restore`: seed a new metadata server's stores from a backup file (backup-format.ts)
 * so that the server, started on them, serves the backed-up state as a member of a new group.
 *
 * The image is written as a received snapshot is: into the state store's staging area, then
 * the Raft log records a snapshot at the image's index and term with the new group's voters
 * (and a hard state at that term, committed through that index). On start, RaftRuntime.create
 * finds the log ahead of the state with the image staged at exactly that index and installs it
 * (the same path that finishes a crash mid-install). Nothing else is written: a log that was
 * not bootstrapped when the image failed to verify stays unbootstrapped, and the caller
 * removes the directory it created. The backed-up group's member addresses (meta-members.ts) are
 * left out: the restored group's members are dialled at their --peers entries.
 */
import type { HardState, RaftLogStore } from '../raft/types.js';
import { isMemberKey } from '../meta/meta-members.js';
import { CairnError, isCairnError } from '../util/errors.js';
import type { BackupHeader } from './backup-format.js';
import { pairSnapshotWriter, type SnapshotStore } from './kv-snapshot.js';
import { NO_DATA } from './snapshot-streams.js';

export interface RestoreTargets {
  state: Pick<SnapshotStore, 'beginStaging'> & { appliedIndex(): number };
  log: Pick<RaftLogStore, 'isBootstrapped' | 'applySnapshot' | 'save'>;
}

/**
 * Write the image `pieces` at `header` into fresh stores. `voters`: the new group's members.
 * Throws InvalidArgument when the stores are not fresh, Corrupt when the image is malformed or
 * fails its checksum (the iteration of `pieces` throws it).
 */
export async function restoreBackup(t: RestoreTargets, header: BackupHeader, pieces: AsyncIterable<Uint8Array>, voters: string[]): Promise<{ pieces: number }> {
  if (t.log.isBootstrapped() || t.state.appliedIndex() !== 0) throw new CairnError('InvalidArgument', 'the data directory already holds a metadata server');
  if (voters.length === 0) throw new CairnError('InvalidArgument', 'a restored group needs at least one member');
  const staging = t.state.beginStaging();
  const writer = pairSnapshotWriter({
    put: (pairs) => staging.put([...pairs].filter(([k]) => !isMemberKey(k))),
    finish: (index) => staging.finish(index),
    abort: () => staging.abort(),
  });
  let n = 0;
  try {
    for await (const p of pieces) {
      await writer.write(p).catch((err: unknown) => {
        throw isCairnError(err, 'ProtocolError') ? new CairnError('Corrupt', `backup file is corrupt: ${err.message}`) : err;
      });
      n++;
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish(header.index);
  const conf = { voters: [...new Set(voters)].sort(), learners: [] };
  await t.log.applySnapshot({ meta: { index: header.index, term: header.term, conf }, data: NO_DATA });
  // The term must not lag behind the log's last term: a candidate's term starts above it.
  const hs: HardState = { term: header.term, vote: null, commit: header.index };
  await t.log.save(hs, [], true);
  return { pieces: n };
}

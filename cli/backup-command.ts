/**
 * `cairn backup [-f] FILE` and `cairn restore FILE --dir D [--dir D2 …] [--id ID …]`.
 *
 * backup asks the metadata leader for a consistent image of the namespace and cluster map at one
 * applied index and streams it into FILE (src/consensus/backup-format.ts: header, pieces,
 * SHA-256 trailer), through FILE.tmp-… renamed into place once complete and fsynced; `-` is
 * stdout. Chunk data is not in it: it stays on the chunk servers (docs/operations.md).
 *
 * restore checks the whole file (checksum) before writing anything, then seeds each --dir as
 * the data directory of a member of a new metadata group whose voters are the --id values
 * (default: the backed-up group's members). Every seeded directory is the same; start one
 * `cairn meta --id ID --dir D --peers …` per member, with the cluster secret the backed-up
 * cluster's chunk servers use. A directory must be absent or empty; one that a failed restore
 * created is removed again. FILE `-` reads the backup from stdin (`ssh host cat b.cbk | cairn
 * restore - --dir D`): it is spooled to a private temp file first, since the whole file is
 * checked before anything is written and then read once per --dir.
 */
import { createReadStream, createWriteStream, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { BackupWriter, readBackup, type BackupHeader } from '../src/consensus/backup-format.js';
import { CairnError } from '../src/util/errors.js';
import { onFailureCleanup } from './cli-errors.js';
import { out, withClient, withClientOptions, type ClientFlags } from './client-options.js';

export function registerBackupCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('backup')
      .argument('<file>', 'where to write the backup (- for stdout)')
      .option('-f, --force', 'replace an existing file')
      .description('write a consistent snapshot of the namespace and cluster map (not the chunk data) to FILE'),
  ).action(async (file: string, o: ClientFlags & { force?: boolean }) => {
    if (file !== '-' && existsSync(file) && o.force !== true) throw new CairnError('AlreadyExists', `${file} exists (use -f to replace it)`);
    const toStdout = file === '-';
    const tmp = toStdout ? '' : join(dirname(file), `.${basename(file)}.tmp-${process.pid}`);
    const stream = toStdout ? process.stdout : createWriteStream('', { fd: openSync(tmp, 'wx', 0o600) });
    const unregister = toStdout ? () => true : onFailureCleanup(() => rmSync(tmp, { force: true }));
    const writer = new BackupWriter((b) => write(stream, b));
    const info = await withClient(o, (c) =>
      c.backup({
        info: (i) => writer.header({ ...i, createdMs: Date.now() }),
        piece: (p) => writer.piece(p),
      }),
    );
    await writer.end();
    if (!toStdout) {
      await new Promise<void>((resolve, reject) => (stream as WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())));
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
      unregister();
      await out(`backup of cluster ${info.clusterId} at index ${info.index} (term ${info.term}): ${writer.bytes} bytes in ${file}\n`);
    }
    await done();
  });

  program
    .command('restore')
    .argument('<file>', 'a file written by `cairn backup` (- for stdin)')
    .option('--dir <path>', 'data directory to seed for a metadata server (required; repeat for several)', collect)
    .option('--id <id>', 'a member of the new metadata group (repeat; default: the backed-up group\'s members)', collect)
    .description('seed new metadata server data directories from a backup (checked before anything is written)')
    .action(async (file: string, flags: { dir?: string[]; id?: string[] }) => {
      const o = { dir: flags.dir ?? [], id: flags.id ?? [] };
      if (o.dir.length === 0) throw new CairnError('InvalidArgument', 'restore needs --dir (the data directory to seed)');
      const { parseNodeId } = await import('../src/proto/addr.js');
      const ids = o.id.map((id) => parseNodeId(id));
      for (const d of o.dir) if (existsSync(d) && readdirSync(d).length > 0) throw new CairnError('AlreadyExists', `${d} is not empty: restore seeds a new data directory`);
      const spool = file === '-' ? await spoolStdin() : null;
      const source = spool?.file ?? file;
      try {
        // First pass: the whole file must pass its checksum before anything is written.
        const checked = await readBackup(fileBytes(source));
        for await (const piece of checked.pieces) void piece;
        const voters = ids.length > 0 ? ids : checked.header.members;
        for (const d of o.dir) await seed(source, d, voters);
        const h = checked.header;
        await out(`restored cluster ${h.clusterId} at index ${h.index} (term ${h.term}) into ${o.dir.join(', ')} for members ${voters.join(',')}\n`);
      } finally {
        spool?.remove();
      }
      await done();
    });
}

/** Seed one data directory (absent or empty) from the backup; on failure, leave it as it was. */
async function seed(file: string, dir: string, voters: string[]): Promise<BackupHeader> {
  const { LmdbRaftStorage, LmdbStateStore } = await import('../src/storage/index.js');
  const { restoreBackup } = await import('../src/consensus/backup-restore.js');
  const created = !existsSync(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const undo = (): void => {
    if (created) rmSync(dir, { recursive: true, force: true });
    else for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
  };
  const unregister = onFailureCleanup(undo);
  const log = await LmdbRaftStorage.open(join(dir, 'raft'));
  const state = await LmdbStateStore.open(join(dir, 'state'));
  let header: BackupHeader;
  try {
    const r = await readBackup(fileBytes(file));
    header = r.header;
    await restoreBackup({ state, log }, header, r.pieces, voters);
  } catch (err) {
    await state.close().catch(() => undefined);
    await log.close().catch(() => undefined);
    throw err;
  }
  await state.close();
  await log.close();
  unregister();
  return header;
}

/** Copy stdin into a new 0600 file in a new 0700 directory; remove() deletes both (also on a failure exit). */
async function spoolStdin(): Promise<{ file: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-restore-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const unregister = onFailureCleanup(remove);
  const file = join(dir, 'backup.cbk');
  await pipeline(process.stdin, createWriteStream('', { fd: openSync(file, 'wx', 0o600) }));
  return {
    file,
    remove: () => {
      remove();
      unregister();
    },
  };
}

function fileBytes(file: string): AsyncIterable<Uint8Array> {
  return createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>;
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Write with backpressure; the stream's first error fails this and every later write. */
async function write(stream: NodeJS.WritableStream & { errored?: Error | null }, b: Uint8Array): Promise<void> {
  if (stream.errored) throw stream.errored;
  if (!stream.write(b)) await once(stream, 'drain');
}

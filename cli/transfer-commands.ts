/**
 * `cairn put`, `cairn get`, `cairn cat`: bytes between local files (or stdin/stdout) and the
 * cluster, streamed with backpressure end to end so memory stays flat whatever the size.
 *
 * put: SRC is a local file or '-' (stdin, length unknown). DST naming an existing directory, or
 * ending in '/', means DST/basename(SRC), as cp and `hdfs dfs -put` do. An existing DST is
 * refused before any byte is sent unless -f; the client's commit enforces the same rule
 * atomically (overwrite=false), so a racing writer cannot be clobbered either.
 *
 * get: DST is a local path or '-' (stdout); an existing local directory (or a trailing '/')
 * means DST/basename(SRC). The bytes go to a temporary file next to DST that is renamed over DST
 * only after every byte arrived and the size matches: a failed or interrupted get leaves no
 * partial file and an existing DST untouched. --verify also checks the CRC-32C of the bytes
 * written against the file's (composed from its chunk CRCs by the leader) before that rename.
 */
import { createReadStream, createWriteStream, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import type { RemotePath } from '../src/proto/path.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { onFailureCleanup } from './cli-errors.js';
import { destinationArg, positiveBytes, remotePath, withClient, withClientOptions, type ClientFlags, type DestinationArg } from './client-options.js';
import { checkCrc, CrcCounter } from './checksum-command.js';
import { Progress } from './progress.js';

async function statOrNull(client: CairnClient, path: RemotePath): Promise<{ type: 'file' | 'dir' } | null> {
  try {
    return await client.stat(path);
  } catch (err) {
    if (isCairnError(err, 'NotFound')) return null;
    throw err;
  }
}

function localStatOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Counts bytes flowing through for the progress bar (only inserted when a bar is shown). */
function progressCounter(progress: Progress): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      progress.update(n);
      cb(null, chunk);
    },
  });
}

export async function putCommand(client: CairnClient, src: string, dstArg: DestinationArg, o: { force: boolean; chunkSize?: number }): Promise<void> {
  let dst = dstArg.path;
  let total: number | null = null;
  if (src !== '-') {
    const st = statSync(src);
    if (st.isDirectory()) throw new CairnError('IsADirectory', `${src} is a local directory (put copies one file)`);
    total = st.isFile() ? st.size : null;
  }
  let existing = await statOrNull(client, dst);
  if (dstArg.intoDirectory || existing?.type === 'dir') {
    if (existing && existing.type !== 'dir') throw new CairnError('NotADirectory', `${dst.text} is a file, not a directory`);
    if (src === '-') throw new CairnError('IsADirectory', `${dst.text} is a directory: name the file to write from stdin`);
    dst = dst.child(basename(src));
    existing = await statOrNull(client, dst);
  }
  if (existing?.type === 'dir') throw new CairnError('IsADirectory', `${dst.text} is a directory`);
  if (existing && !o.force) throw new CairnError('AlreadyExists', `${dst.text} already exists (use -f to replace it)`);

  const source: Readable = src === '-' ? process.stdin : createReadStream(src, { highWaterMark: 1024 * 1024 });
  const progress = await Progress.forTerminal(`put ${dst.text}`, total);
  const stopProgress = progress ? onFailureCleanup(() => progress.stop()) : null;
  const sink = client.createWriteStream(dst, {
    overwrite: o.force,
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    ...(progress ? { onProgress: (bytes: number) => progress.update(bytes) } : {}),
  });
  await pipeline(source, sink);
  const done = await sink.done;
  progress?.update(done.size);
  progress?.stop();
  stopProgress?.();
}

export async function getCommand(client: CairnClient, src: RemotePath, dst: string, o: { verify?: boolean } = {}): Promise<void> {
  if (dst === '-') {
    await catCommand(client, src, true, o.verify ?? false);
    return;
  }
  let target = dst;
  const local = localStatOrNull(dst);
  if (local?.isDirectory() || dst.endsWith('/')) {
    if (!local) throw new CairnError('NotFound', `no such local directory: ${dst}`);
    target = join(dst, src.name);
  }
  const file = await client.open(src);
  const tmp = join(dirname(target), `.${basename(target)}.cairn-${process.pid}.part`);
  const removeTmp = (): void => rmSync(tmp, { force: true });
  const unregister = onFailureCleanup(removeTmp);
  const progress = await Progress.forTerminal(`get ${src.text}`, file.size);
  const stopProgress = progress ? onFailureCleanup(() => progress.stop()) : null;
  try {
    const sink = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 });
    const crc = o.verify ? new CrcCounter() : null;
    const stages: Transform[] = [...(crc ? [crc] : []), ...(progress ? [progressCounter(progress)] : [])];
    await pipeline([file.stream, ...stages, sink]);
    const got = statSync(tmp).size;
    if (got !== file.size) throw new CairnError('Corrupt', `${src.text}: received ${got} of ${file.size} bytes`);
    if (crc) checkCrc(src.text, file.crc32c, crc);
    renameSync(tmp, target);
  } catch (err) {
    removeTmp();
    throw err;
  } finally {
    unregister();
  }
  progress?.stop();
  stopProgress?.();
}

/**
 * The file's bytes to stdout (stdout is never ended: it is the process's). With `verify` a CRC
 * mismatch fails the command after the bytes went out (a pipe cannot take them back).
 */
export async function catCommand(client: CairnClient, path: RemotePath, withProgress = false, verify = false): Promise<void> {
  const file = await client.open(path);
  const progress = withProgress ? await Progress.forTerminal(`get ${path.text}`, file.size) : null;
  const stopProgress = progress ? onFailureCleanup(() => progress.stop()) : null;
  const crc = verify ? new CrcCounter() : null;
  const stages: Transform[] = [...(crc ? [crc] : []), ...(progress ? [progressCounter(progress)] : [])];
  await pipeline([file.stream, ...stages, process.stdout], { end: false });
  if (crc) checkCrc(path.text, file.crc32c, crc);
  progress?.stop();
  stopProgress?.();
}

export function registerTransferCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('put')
      .description("store a local file (or '-' for stdin) at a remote path; parents are created")
      .argument('<src>', "local file, or '-' for stdin")
      .argument('<dst>', 'remote path (an existing directory or a trailing / means dst/<name of src>)')
      .option('-f, --force', 'replace an existing file atomically', false)
      .option('--chunk-size <bytes>', 'chunk size for this file (default: the cluster\'s)', positiveBytes('--chunk-size')),
  ).action(async (src: string, dst: string, o: ClientFlags & { force: boolean; chunkSize?: number }) => {
    const to = destinationArg(dst);
    await withClient(o, (c) => putCommand(c, src, to, o), o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {});
    await done();
  });

  withClientOptions(
    program
      .command('get')
      .description("copy a remote file to a local path (or '-' for stdout)")
      .argument('<src>', 'remote file')
      .argument('<dst>', "local path, or '-' for stdout (an existing directory means dst/<name of src>)")
      .option('--verify', "check the CRC-32C of the bytes written against the file's (stat's crc32c); on a mismatch fail and leave no file", false),
  ).action(async (src: string, dst: string, o: ClientFlags & { verify: boolean }) => {
    const from = remotePath(src);
    await withClient(o, (c) => getCommand(c, from, dst, { verify: o.verify }));
    await done();
  });

  withClientOptions(
    program
      .command('cat')
      .description('write a remote file to stdout')
      .argument('<path>', 'remote file'),
  ).action(async (path: string, o: ClientFlags) => {
    const p = remotePath(path);
    await withClient(o, (c) => catCommand(c, p));
    await done();
  });
}

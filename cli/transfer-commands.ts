/**
 * `cairn put`, `cairn get`, `cairn cat`: bytes between local files (or stdin/stdout) and the
 * cluster, streamed with backpressure end to end so memory stays flat whatever the size.
 *
 * put: SRC is a local file or '-' (stdin, length unknown). DST naming an existing directory, or
 * ending in '/', means DST/basename(SRC), as cp and `hdfs dfs -put` do. An existing DST is
 * refused before any byte is sent unless -f; the client's commit enforces the same rule
 * atomically (overwrite=false), so a racing writer cannot be clobbered either.
 *
 * get: DST is a local path or '-' (stdout); an existing local directory (or a trailing '/',
 * created if missing) means DST/basename(SRC). An existing local file is refused (AlreadyExists) unless -f, as put
 * refuses an existing remote one. The bytes go to a temporary file next to DST that is renamed
 * over DST only after every byte arrived and the size matches: a failed or interrupted get
 * leaves no partial file and an existing DST untouched. --verify also checks the CRC-32C of the
 * bytes written against the file's (composed from its chunk CRCs by the leader) before that rename.
 *
 * Several sources, directories (-r) and remote wildcards (get): bulk-transfer.ts.
 */
import { createReadStream, createWriteStream, fstatSync, mkdirSync, renameSync, rmSync, statSync, write } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import { FileReader } from '../src/client/file-reader.js';
import { crc32c } from '../src/util/crc32c.js';
import type { RemotePath } from '../src/proto/path.js';
import { CairnError } from '../src/util/errors.js';
import { BULK_FILES_INFLIGHT } from './bulk-plan.js';
import { bulkGet, bulkPut, localStatOrNull, remoteStatOrNull as statOrNull } from './bulk-transfer.js';
import { onFailureCleanup } from './cli-errors.js';
import { destinationArg, positiveBytes, remotePath, withClient, withClientOptions, type ClientFlags, type DestinationArg } from './client-options.js';
import { checkCrc, CrcCounter } from './checksum-command.js';
import { Progress } from './progress.js';
import { expandAll } from './remote-glob.js';

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

  // A regular file is read straight into the writer's chunk buffers (writeFrom); anything else streams.
  const source: Readable | null = src === '-' ? process.stdin : total === null ? createReadStream(src, { highWaterMark: 1024 * 1024 }) : null;
  const progress = await Progress.forTerminal(`put ${dst.text}`, total);
  const stopProgress = progress ? onFailureCleanup(() => progress.stop()) : null;
  const sink = client.createWriteStream(dst, {
    overwrite: o.force,
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    ...(progress ? { onProgress: (bytes: number) => progress.update(bytes) } : {}),
  });
  let done;
  if (source === null) {
    const fh = await open(src, 'r');
    try {
      done = await sink.writeFrom(async (buf) => (await fh.read(buf, 0, buf.length, null)).bytesRead);
    } finally {
      await fh.close();
    }
  } else {
    await pipeline(source, sink);
    done = await sink.done;
  }
  progress?.update(done.size);
  progress?.stop();
  stopProgress?.();
}

export async function getCommand(client: CairnClient, src: RemotePath, dst: string, o: { verify?: boolean; force?: boolean } = {}): Promise<void> {
  if (dst === '-') {
    await catCommand(client, src, true, o.verify ?? false);
    return;
  }
  let target = dst;
  const local = localStatOrNull(dst);
  if (local?.isDirectory() || dst.endsWith('/')) {
    if (local && !local.isDirectory()) throw new CairnError('NotADirectory', `${dst} is a local file, not a directory`);
    target = join(dst, src.name);
  }
  const existing = target === dst ? local : localStatOrNull(target);
  if (existing?.isDirectory()) throw new CairnError('IsADirectory', `${target} is a local directory`);
  if (existing && !o.force) throw new CairnError('AlreadyExists', `${target} already exists (use -f to replace it)`);
  if (!local && dst.endsWith('/')) mkdirSync(dst, { recursive: true }); // as for several sources: DST/ is a directory, created
  await downloadFile(client, src, target, null, o.verify ?? false);
}

/**
 * One remote file to local `target`, atomically: a temporary file next to it, renamed over it
 * once complete and of the right size. `onBytes` sees the bytes as they arrive (a bulk get's
 * bar); with null this file gets its own bar on a terminal.
 */
export async function downloadFile(client: CairnClient, src: RemotePath, target: string, onBytes: ((n: number) => void) | null, verify = false): Promise<void> {
  const file = await client.open(src);
  const tmp = join(dirname(target), `.${basename(target)}.cairn-${process.pid}.part`);
  const removeTmp = (): void => rmSync(tmp, { force: true });
  const unregister = onFailureCleanup(removeTmp);
  const progress = onBytes === null ? await Progress.forTerminal(`get ${src.text}`, file.size) : null;
  const stopProgress = progress ? onFailureCleanup(() => progress.stop()) : null;
  try {
    const crc = verify ? new CrcCounter() : null;
    const reader = file.stream;
    if (reader instanceof FileReader) {
      const fh = await open(tmp, 'wx');
      try {
        let n = 0;
        await writePieces(reader, fdWrite(fh.fd, null), (b) => {
          if (crc) tapCrc(crc, b);
          n += b.length;
          if (progress) progress.update(n);
          else onBytes?.(b.length);
        });
      } finally {
        await fh.close();
      }
    } else {
      const sink = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 });
      const stages: Transform[] = [...(crc ? [crc] : []), ...(progress ? [progressCounter(progress)] : onBytes ? [byteTap(onBytes)] : [])];
      await pipeline([reader, ...stages, sink]);
    }
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

function byteTap(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

function tapCrc(crc: CrcCounter, b: Buffer): void {
  crc.crc = crc32c(b, crc.crc);
  crc.bytes += b.length;
}

/** A destination for pieces: resolves once `buf` was written whole (its buffer may then be reused). */
type PieceWrite = (buf: Buffer) => Promise<void>;

/**
 * Writes to `fd` at its current offset, off the main thread (a pipe or a file may take less per
 * call). A descriptor in non-blocking mode (a socket or pipe some other code set so) answers
 * EAGAIN: the rest then goes through `fallback`, which waits for it.
 */
function fdWrite(fd: number, fallback: Writable | null): PieceWrite {
  let viaStream = false;
  return async (buf) => {
    // Bounded: each turn writes at least one byte, throws, or hands the rest over.
    for (let off = 0; off < buf.length; ) {
      if (viaStream && fallback) return streamWrite(fallback)(buf.subarray(off));
      let n: number;
      try {
        n = await new Promise<number>((resolve, reject) => write(fd, buf, off, buf.length - off, null, (e, w) => (e ? reject(e) : resolve(w))));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || !fallback) throw e;
        viaStream = true;
        continue;
      }
      if (n <= 0) throw new CairnError('Unavailable', `a write to descriptor ${fd} made no progress`);
      off += n;
    }
  };
}

/** Writes to a stream, resolving on the write's callback (the stream is done with the buffer). */
function streamWrite(w: Writable): PieceWrite {
  return (buf) => new Promise<void>((resolve, reject) => w.write(buf, (e) => (e ? reject(e) : resolve())));
}

/**
 * The reader's pieces out through `writeOut`, in order: one write in flight while the next
 * pieces are fetched; each piece's buffer goes back to the reader's pool once its write
 * completed, so a get reuses a few chunk-sized buffers instead of allocating one per chunk.
 * `tap` sees each piece before it is written.
 */
async function writePieces(reader: FileReader, writeOut: PieceWrite, tap: (b: Buffer) => void): Promise<void> {
  let writing: Promise<void> | null = null;
  try {
    // Bounded by the file's pieces: nextPiece gives null after the last.
    for (;;) {
      const piece = await reader.nextPiece();
      if (writing) await writing;
      writing = null;
      if (piece === null) return;
      tap(piece.bytes);
      writing = writeOut(piece.bytes).finally(() => piece.release());
    }
  } catch (e) {
    reader.destroy();
    if (writing) await writing.catch(() => undefined);
    throw e;
  }
}

/**
 * Whether bulk bytes for stdout go straight to fd 1: a pipe, socket or file, written off the
 * main thread (process.stdout writes to pipes and files synchronously, which stalls the reads
 * from the chunk servers while the reader drains the pipe). A terminal (or anything else):
 * process.stdout.
 */
function stdoutTakesFdWrites(): boolean {
  try {
    const st = fstatSync(1);
    return st.isFIFO() || st.isFile() || st.isSocket();
  } catch {
    return false;
  }
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
  const reader = file.stream;
  if (reader instanceof FileReader) {
    let n = 0;
    await writePieces(reader, stdoutTakesFdWrites() ? fdWrite(1, process.stdout) : streamWrite(process.stdout), (b) => {
      if (crc) tapCrc(crc, b);
      n += b.length;
      progress?.update(n);
    });
  } else if (stdoutTakesFdWrites()) await pipeline([reader, ...stages, createWriteStream('', { fd: 1, autoClose: false, highWaterMark: 1024 * 1024 })]);
  else await pipeline([reader, ...stages, process.stdout], { end: false });
  if (crc) checkCrc(path.text, file.crc32c, crc);
  progress?.stop();
  stopProgress?.();
}

/** `<src...> <dst>`: the sources and the destination (at least one source). */
function splitDestination(paths: string[]): [string[], string] {
  if (paths.length < 2) throw new CairnError('InvalidArgument', 'missing destination: give one or more sources, then the destination');
  return [paths.slice(0, -1), paths[paths.length - 1]!];
}

export function registerTransferCommands(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('put')
      .description("store local files (or '-' for stdin) at a remote path; parents are created")
      .usage('[options] <src...> <dst>')
      .argument('<paths...>', "local files or directories (or '-' for stdin), then the remote destination")
      .option('-f, --force', 'replace existing files (each atomically)', false)
      .option('-r, --recursive', 'copy directories, recursively', false)
      .option('--chunk-size <bytes>', 'chunk size for new files (default: the cluster\'s)', positiveBytes('--chunk-size'))
      .addHelpText(
        'after',
        '\nDestination (as cp -r): an existing directory or a trailing / receives dst/<name of src>, otherwise\n' +
          'src is copied as dst. Several sources need a directory. Existing files are refused unless -f\n' +
          '(checked before anything is sent). Directories go ' + BULK_FILES_INFLIGHT + ' files at a time with one progress bar.',
      ),
  ).action(async (paths: string[], o: ClientFlags & { force: boolean; recursive: boolean; chunkSize?: number }) => {
    const [sources, dst] = splitDestination(paths);
    const to = destinationArg(dst); // a malformed path fails before any request
    await withClient(
      o,
      async (c) => {
        const single = sources.length === 1 && (sources[0] === '-' || !statSync(sources[0]!).isDirectory());
        if (single) await putCommand(c, sources[0]!, to, o);
        else await bulkPut(c, sources, dst, o);
      },
      o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {},
    );
    await done();
  });

  withClientOptions(
    program
      .command('get')
      .description("copy remote files to a local path (or '-' for stdout)")
      .usage('[options] <src...> <dst>')
      .argument('<paths...>', "remote files or directories (wildcards * ? [..] allowed, quoted), then the local destination or '-'")
      .option('-f, --force', 'replace existing local files', false)
      .option('-r, --recursive', 'copy directories, recursively', false)
      .option('--verify', "check the CRC-32C of the bytes written against the file's (stat's crc32c); on a mismatch fail and leave no file", false)
      .addHelpText(
        'after',
        '\nDestination (as cp -r): an existing directory or a trailing / receives dst/<name of src>, otherwise\n' +
          'src is copied as dst. Several sources need a directory. Existing local files are refused unless -f.',
      ),
  ).action(async (paths: string[], o: ClientFlags & { force: boolean; recursive: boolean; verify: boolean }) => {
    const [typed, dst] = splitDestination(paths);
    for (const t of typed) remotePath(t); // a malformed path fails before any request
    await withClient(o, async (c) => {
      const sources = await expandAll(c, typed);
      if (dst === '-') {
        for (const s of sources) await catCommand(c, s, sources.length === 1, o.verify);
        return;
      }
      if (sources.length === 1 && (await statOrNull(c, sources[0]!))?.type !== 'dir') await getCommand(c, sources[0]!, dst, { force: o.force, verify: o.verify });
      else await bulkGet(c, sources, dst, o, (s, target, onBytes) => downloadFile(c, s, target, onBytes ?? ((): void => undefined), o.verify));
    });
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

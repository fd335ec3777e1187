/**
 * `cairn checksum PATH`: prints `crc32c <8 lowercase hex digits> PATH` — the CRC-32C
 * (Castagnoli) of the file's bytes as a big-endian number, composed by the leader from the chunk
 * CRCs (no data is read), so it matches `gsutil hash -c`-style tools run on a downloaded copy.
 * Also the CRC counter `get --verify` and `sync` use on bytes as they stream past.
 */
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import type { RemotePath } from '../src/proto/path.js';
import { crc32c, crcToHex } from '../src/util/crc32c.js';
import { CairnError } from '../src/util/errors.js';
import { out, remotePath, withClient, withClientOptions, type ClientFlags } from './client-options.js';

/** A remote file's CRC-32C (IsADirectory for a directory). */
export async function remoteCrc32c(client: CairnClient, path: RemotePath): Promise<number> {
  const st = await client.stat(path);
  if (st.type !== 'file' || st.crc32c === null) throw new CairnError('IsADirectory', `${path.text} is a directory`);
  return st.crc32c;
}

/** A pass-through that keeps the CRC-32C of every byte that went through it. */
export class CrcCounter extends Transform {
  crc = 0;
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.crc = crc32c(chunk, this.crc);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Corrupt unless what was received has the file's CRC-32C. */
export function checkCrc(what: string, expected: number | null, got: CrcCounter): void {
  if (expected === null) throw new CairnError('Unavailable', `${what}: the cluster did not name the file's CRC-32C, so it cannot be verified`);
  if (got.crc !== expected) throw new CairnError('Corrupt', `${what}: CRC-32C of the ${got.bytes} bytes received is ${crcToHex(got.crc)}, the file's is ${crcToHex(expected)}`);
}

export function registerChecksumCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('checksum')
      .description("print a remote file's CRC-32C: `crc32c <8 hex digits> PATH` (computed from the chunk checksums; no data is read)")
      .argument('<path>', 'remote file'),
  ).action(async (path: string, o: ClientFlags) => {
    const p = remotePath(path);
    await withClient(o, async (c) => out(`crc32c ${crcToHex(await remoteCrc32c(c, p))} ${p.text}\n`));
    await done();
  });
}

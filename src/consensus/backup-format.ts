/**
 * The backup file (`cairn backup FILE`, read by `cairn restore`), format 1, all integers
 * big-endian:
 *
 *   "CAIRNBAK"                       8 bytes, the magic
 *   u32 n, header                    msgpack {format, clusterId, index, term, members, createdMs}
 *   (u32 n > 0, piece)*              msgpack arrays of [key, value] pairs (kv-snapshot.ts), key order
 *   u32 0                            end of pieces
 *   sha256                           32 bytes: SHA-256 of every byte before it
 *
 * Nothing may follow the checksum. Both sides stream: the writer hashes what it emits, the
 * reader hashes what it consumes, so neither holds more than one piece. A reader yields pieces
 * before it has seen the checksum: a consumer must treat what it built as unverified until the
 * iteration ends without error (restore verifies the whole file before writing anything).
 */
import { createHash, type Hash } from 'node:crypto';
import type { BackupImageInfo } from '../proto/backup-requests.js';
import { pack, unpack } from '../proto/msgpack.js';
import { CairnError } from '../util/errors.js';

export const BACKUP_MAGIC = 'CAIRNBAK';
export const BACKUP_FORMAT = 1;
/** Largest header and piece a reader accepts. */
export const BACKUP_HEADER_BYTES_MAX = 64 << 10;
export const BACKUP_PIECE_BYTES_MAX = 64 << 20;
const DIGEST_BYTES = 32;

export interface BackupHeader extends BackupImageInfo {
  format: number;
  /** Wall time the backup was taken (ms since the epoch). */
  createdMs: number;
}

/** Writes one backup file through `sink` (which must respect its own backpressure). */
export class BackupWriter {
  private readonly hash: Hash = createHash('sha256');
  private state: 'new' | 'pieces' | 'done' = 'new';
  pieces = 0;
  bytes = 0;

  constructor(private readonly sink: (bytes: Uint8Array) => Promise<void>) {}

  async header(h: BackupImageInfo & { createdMs: number }): Promise<void> {
    if (this.state !== 'new') throw new CairnError('Internal', 'backup header written twice');
    this.state = 'pieces';
    const body = pack({ format: BACKUP_FORMAT, clusterId: h.clusterId, index: h.index, term: h.term, members: h.members, createdMs: h.createdMs });
    await this.emit(Buffer.from(BACKUP_MAGIC, 'latin1'));
    await this.emit(u32(body.length));
    await this.emit(body);
  }

  async piece(p: Uint8Array): Promise<void> {
    if (this.state !== 'pieces') throw new CairnError('Internal', 'backup piece outside the body');
    if (p.length === 0) return;
    this.pieces++;
    await this.emit(u32(p.length));
    await this.emit(p);
  }

  async end(): Promise<void> {
    if (this.state !== 'pieces') throw new CairnError('Internal', 'backup ended twice or before its header');
    this.state = 'done';
    await this.emit(u32(0));
    const digest = this.hash.digest();
    this.bytes += digest.length;
    await this.sink(digest);
  }

  private async emit(b: Uint8Array): Promise<void> {
    this.hash.update(b);
    this.bytes += b.length;
    await this.sink(b);
  }
}

/**
 * Read a backup file from a byte stream: the header first, then its pieces; the iteration of
 * pieces ends with an error (CairnError 'Corrupt', one line) when the file is truncated, has
 * trailing bytes, or fails its checksum.
 */
export async function readBackup(src: AsyncIterable<Uint8Array>): Promise<{ header: BackupHeader; pieces: AsyncIterable<Uint8Array> }> {
  const r = new HashingReader(src[Symbol.asyncIterator]());
  const magic = await r.read(BACKUP_MAGIC.length, 'magic');
  if (Buffer.from(magic).toString('latin1') !== BACKUP_MAGIC) throw corrupt('not a Cairn backup (bad magic)');
  const n = (await r.u32('header length'));
  if (n === 0 || n > BACKUP_HEADER_BYTES_MAX) throw corrupt(`header length ${n} is out of range`);
  const header = decodeHeader(await r.read(n, 'header'));
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const len = await r.u32('piece length');
      if (len === 0) break;
      if (len > BACKUP_PIECE_BYTES_MAX) throw corrupt(`piece length ${len} is out of range`);
      yield await r.read(len, 'piece');
    }
    const expected = r.digest();
    const got = await r.read(DIGEST_BYTES, 'checksum', false);
    if (!Buffer.from(got).equals(expected)) throw corrupt('checksum mismatch');
    if (!(await r.atEnd())) throw corrupt('bytes after the checksum');
  }
  return { header, pieces: pieces() };
}

function decodeHeader(b: Uint8Array): BackupHeader {
  let v: unknown;
  try {
    v = unpack(b);
  } catch {
    throw corrupt('header is not msgpack');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt('header is not a map');
  const o = v as Record<string, unknown>;
  if (o.format !== BACKUP_FORMAT) throw new CairnError('InvalidArgument', `backup format ${String(o.format)} is not supported (this cairn reads format ${BACKUP_FORMAT})`);
  const count = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw corrupt(`header ${k} must be a non-negative integer`);
    return x;
  };
  const members = o.members;
  if (!Array.isArray(members) || members.length === 0 || members.some((m) => typeof m !== 'string')) throw corrupt('header members must be a non-empty list of ids');
  if (typeof o.clusterId !== 'string') throw corrupt('header clusterId must be a string');
  const index = count('index');
  if (index < 1) throw corrupt('header index must be at least 1');
  return { format: BACKUP_FORMAT, clusterId: o.clusterId, index, term: count('term'), members: members as string[], createdMs: count('createdMs') };
}

function corrupt(what: string): CairnError {
  return new CairnError('Corrupt', `backup file is corrupt: ${what}`);
}

function u32(n: number): Uint8Array {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Exact-length reads over a chunked stream, hashing every byte handed out (unless asked not to). */
class HashingReader {
  private readonly hash: Hash = createHash('sha256');
  private buf: Buffer = Buffer.alloc(0);
  private eof = false;

  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  async u32(what: string): Promise<number> {
    return Buffer.from(await this.read(4, what)).readUInt32BE(0);
  }

  async read(n: number, what: string, hashed = true): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw corrupt(`truncated (in the ${what})`);
      const take = Math.min(need, this.buf.length);
      parts.push(this.buf.subarray(0, take));
      this.buf = this.buf.subarray(take);
      need -= take;
    }
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (hashed) this.hash.update(out);
    return out;
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  async atEnd(): Promise<boolean> {
    return this.buf.length === 0 && !(await this.fill());
  }

  private async fill(): Promise<boolean> {
    while (!this.eof) {
      const r = await this.it.next();
      if (r.done) {
        this.eof = true;
        break;
      }
      if (r.value.length > 0) {
        this.buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        return true;
      }
    }
    return false;
  }
}

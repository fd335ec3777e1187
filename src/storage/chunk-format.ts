/**
 * The on-disk byte layout of a chunk replica (version 1), all integers big-endian:
 *   [0, size)                    the chunk's bytes, so a read at offset o is a file read at o
 *   [size, size + 4·n)           n = ceil(size / segmentBytes) CRC-32C values, one per segment
 *                                (the last segment may be short; a 0-byte chunk has none)
 *   [size + 4·n, +32)            footer:
 *        0  magic 'CRNC' (4)   4  version u8 = 1   5  reserved (3 zero bytes)
 *        8  segmentBytes u32  12  size u64          20  whole-chunk CRC-32C u32
 *       24  reserved u32 = 0  28  CRC-32C of (table ‖ footer bytes 0..28)
 * The file length must equal size + 4·n + 32 exactly, so a truncated file is detected before a
 * byte is served. A damaged layout is a CorruptReplica (the store turns it into Corrupt).
 */
import type { FileHandle } from 'node:fs/promises';
import { crc32c, crc32cCombine, crc32cCombineWith, crc32cShift } from '../util/crc32c.js';

export const CHUNK_FORMAT_VERSION = 1;
export const CHUNK_FOOTER_BYTES = 32;
const MAGIC = 0x43524e43; // 'CRNC'

/** The table and footer fields of a replica. */
export interface Trailer {
  size: number;
  crc: number;
  segmentBytes: number;
  /** Segment CRCs. */
  table: Uint32Array;
}

/** A replica file whose layout is damaged (bad footer, table CRC, length) or shorter than it says. */
export class CorruptReplica extends Error {}

/**
 * Per-segment and whole-chunk CRC-32C of bytes as they stream in. Each byte is hashed once,
 * into its segment's CRC; the whole-chunk CRC is folded from those.
 */
export class SegmentCrcs {
  private readonly table: number[] = [];
  /** crc32cShift(segmentBytes): folds a full segment's CRC into the running whole-chunk CRC. */
  private readonly shift: number;
  private whole = 0;
  private segCrc = 0;
  private segFill = 0;
  private size = 0;

  constructor(private readonly segmentBytes: number) {
    this.shift = crc32cShift(segmentBytes);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.size;
  }

  update(buf: Buffer): void {
    const seg = this.segmentBytes;
    this.size += buf.length;
    let off = 0;
    while (off < buf.length) {
      const n = Math.min(seg - this.segFill, buf.length - off);
      this.segCrc = crc32c(buf.subarray(off, off + n), this.segCrc);
      this.segFill += n;
      off += n;
      if (this.segFill === seg) {
        this.table.push(this.segCrc);
        this.whole = crc32cCombineWith(this.shift, this.whole, this.segCrc);
        this.segCrc = 0;
        this.segFill = 0;
      }
    }
  }

  /** The trailer of everything seen (call once, at the end). */
  finish(): Trailer {
    if (this.segFill > 0) {
      this.table.push(this.segCrc);
      this.whole = crc32cCombine(this.whole, this.segCrc, this.segFill);
      this.segFill = 0;
    }
    return { size: this.size, crc: this.whole, segmentBytes: this.segmentBytes, table: Uint32Array.from(this.table) };
  }
}

export function encodeTrailer(t: Trailer): Buffer {
  const n = t.table.length;
  const out = Buffer.alloc(n * 4 + CHUNK_FOOTER_BYTES);
  for (let i = 0; i < n; i++) out.writeUInt32BE(t.table[i]!, i * 4);
  const f = n * 4;
  out.writeUInt32BE(MAGIC, f);
  out.writeUInt8(CHUNK_FORMAT_VERSION, f + 4);
  out.writeUInt32BE(t.segmentBytes, f + 8);
  out.writeBigUInt64BE(BigInt(t.size), f + 12);
  out.writeUInt32BE(t.crc >>> 0, f + 20);
  out.writeUInt32BE(crc32c(out.subarray(0, f + 28)), f + 28);
  return out;
}

/**
 * Reads and checks a replica's footer and table. A replica of at most `wholeBytesMax` file bytes
 * is read in ONE read (data, table and footer), and its data comes back as `data` (unverified:
 * the caller checks it segment by segment like bytes read later) — a small GET then costs one
 * read instead of three. Throws CorruptReplica on any damage.
 */
export async function readTrailer(fh: FileHandle, wholeBytesMax = 0): Promise<Trailer & { data?: Buffer }> {
  const fileBytes = (await fh.stat()).size;
  if (fileBytes < CHUNK_FOOTER_BYTES) throw new CorruptReplica(`file of ${fileBytes} bytes is shorter than a footer`);
  let whole: Buffer | null = null;
  let footer: Buffer;
  if (fileBytes <= wholeBytesMax) {
    whole = Buffer.allocUnsafe(fileBytes);
    await readFully(fh, whole, fileBytes, 0);
    footer = whole.subarray(fileBytes - CHUNK_FOOTER_BYTES);
  } else {
    footer = Buffer.alloc(CHUNK_FOOTER_BYTES);
    await readFully(fh, footer, CHUNK_FOOTER_BYTES, fileBytes - CHUNK_FOOTER_BYTES);
  }
  if (footer.readUInt32BE(0) !== MAGIC) throw new CorruptReplica('bad footer magic');
  if (footer.readUInt8(4) !== CHUNK_FORMAT_VERSION) throw new CorruptReplica(`unknown format version ${footer.readUInt8(4)}`);
  const segmentBytes = footer.readUInt32BE(8);
  const size = Number(footer.readBigUInt64BE(12));
  if (segmentBytes === 0 || !Number.isSafeInteger(size)) throw new CorruptReplica('bad footer fields');
  const n = Math.ceil(size / segmentBytes);
  if (fileBytes !== size + n * 4 + CHUNK_FOOTER_BYTES)
    throw new CorruptReplica(`file is ${fileBytes} bytes, its footer says ${size + n * 4 + CHUNK_FOOTER_BYTES} (truncated or damaged)`);
  let tableBuf: Buffer;
  if (whole) {
    tableBuf = whole.subarray(size, size + n * 4);
  } else {
    tableBuf = Buffer.alloc(n * 4);
    if (n > 0) await readFully(fh, tableBuf, n * 4, size);
  }
  const check = crc32c(footer.subarray(0, 28), crc32c(tableBuf));
  if (check !== footer.readUInt32BE(28)) throw new CorruptReplica('table/footer fails its CRC-32C');
  const table = new Uint32Array(n);
  for (let i = 0; i < n; i++) table[i] = tableBuf.readUInt32BE(i * 4);
  const t: Trailer & { data?: Buffer } = { size, crc: footer.readUInt32BE(20), segmentBytes, table };
  if (whole) t.data = whole.subarray(0, size);
  return t;
}

/** File bytes of a replica of `size` data bytes: data ‖ table ‖ footer. */
export function fileBytesOf(size: number, segmentBytes: number): number {
  return size + Math.ceil(size / segmentBytes) * 4 + CHUNK_FOOTER_BYTES;
}

/** Reads exactly `len` bytes at `position`; a file that ends first is a CorruptReplica. */
export async function readFully(fh: FileHandle, buf: Buffer, len: number, position: number): Promise<void> {
  let off = 0;
  while (off < len) {
    const { bytesRead } = await fh.read(buf, off, len - off, position + off);
    if (bytesRead === 0) throw new CorruptReplica(`unexpected end of file at ${position + off}`);
    off += bytesRead;
  }
}

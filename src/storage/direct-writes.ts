/**
 * Replica data written around the page cache (O_DIRECT), as MinIO writes objects and HDFS drops
 * the cache behind its writes. A buffered write costs the kernel a copy into the page cache,
 * on pages it must first find; on this kind of machine that was the chunk servers' largest cost
 * in a 1 GiB put (bench/RESULTS.md, seventeenth session: ~1–2.6 system CPU-s per GiB stored, and
 * 0.14–0.17 written direct). Reads still go through the page cache; a replica just written is
 * read from the disk the first time.
 *
 * O_DIRECT wants the memory, the file offset and the length aligned to the device's block. Node
 * cannot align a Buffer, but the memory of a WebAssembly.Memory is page-aligned: the staging
 * buffers are views of such memories, handed out by a pool with a cap. A file system that
 * refuses O_DIRECT (EINVAL at open or at a write) turns the store back to buffered writes.
 */

import type { FileHandle } from 'node:fs/promises';
import { assert } from '../util/assert.js';
import type { Logger } from '../util/logger.js';
import type { ChunkFs } from './chunk-fs.js';

/** Alignment of every direct write's memory, offset and length (covers 512-byte and 4 KiB blocks). */
export const DIRECT_ALIGN_BYTES = 4096;
/** One staging buffer: a writer fills one while the previous one is written. */
export const DIRECT_BUFFER_BYTES = 1024 * 1024;
/** Staging buffers per WebAssembly.Memory (one allocation). */
const SLAB_BUFFERS = 8;
const WASM_PAGE_BYTES = 65536;

interface WasmMemoryCtor {
  new (descriptor: { initial: number }): { buffer: ArrayBuffer };
}

/** Page-aligned staging buffers of DIRECT_BUFFER_BYTES, at most `buffersMax` of them ever made. */
export class DirectBuffers {
  private readonly free: Buffer[] = [];
  private made = 0;

  constructor(readonly buffersMax: number) {}

  /** A buffer, or null when `buffersMax` are out (the caller writes buffered). */
  take(): Buffer | null {
    const b = this.free.pop();
    if (b !== undefined) return b;
    const n = Math.min(SLAB_BUFFERS, this.buffersMax - this.made);
    if (n <= 0) return null;
    const Memory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly.Memory;
    const mem = new Memory({ initial: (n * DIRECT_BUFFER_BYTES) / WASM_PAGE_BYTES });
    this.made += n;
    for (let i = n - 1; i > 0; i--) this.free.push(Buffer.from(mem.buffer, i * DIRECT_BUFFER_BYTES, DIRECT_BUFFER_BYTES));
    return Buffer.from(mem.buffer, 0, DIRECT_BUFFER_BYTES);
  }

  /** Returns a buffer from take() (no write may still be using it). */
  give(b: Buffer): void {
    this.free.push(b);
  }

  /** Buffers made so far and idle now (tests, metrics). */
  get counts(): { made: number; idle: number } {
    return { made: this.made, idle: this.free.length };
  }
}

/**
 * A store's direct writes: its buffer pool and whether the file system takes O_DIRECT. `open`
 * opens an existing file for direct writes (ChunkFs.openDirect).
 */
export class DirectWrites {
  private refused: unknown = null;

  constructor(
    readonly buffers: DirectBuffers,
    readonly open: (path: string) => Promise<FileHandle>,
    private readonly onRefused: (err: unknown) => void,
  ) {}

  /** A store's direct writes over `fs`: null when it cannot open files for them or `buffersMax` < 2 (off). */
  static over(fs: ChunkFs, buffersMax: number, log: Logger): DirectWrites | null {
    assert(Number.isInteger(buffersMax) && buffersMax >= 0, 'directBuffersMax');
    const openDirect = fs.openDirect?.bind(fs);
    if (openDirect === undefined || buffersMax < 2) return null;
    return new DirectWrites(new DirectBuffers(buffersMax), openDirect, (err) =>
      log.warn('the file system refused a direct write: replicas are written through the page cache from now on', { err: String(err) }),
    );
  }

  /**
   * The ReplicaWriter option for a replica of `expectSize` bytes (undefined: streamed, size
   * unknown) whose temp file `created` names once it exists; undefined when it is written
   * buffered (off, refused, or a known size under one staging buffer).
   */
  forReplica(expectSize: number | undefined, created: Promise<string>): { writes: DirectWrites; open: () => Promise<FileHandle | null> } | undefined {
    created.catch(() => undefined); // a failed create is the store's to report, not this promise's
    if (!this.enabled || (expectSize !== undefined && expectSize < DIRECT_BUFFER_BYTES)) return undefined;
    const open = async (): Promise<FileHandle | null> => {
      const path = await created;
      try {
        return await this.open(path);
      } catch (e) {
        if (isDirectRefusal(e)) this.refuse(e);
        return null; // written buffered
      }
    };
    return { writes: this, open };
  }

  /** Whether they are on, and the staging buffers made and idle. */
  get state(): { enabled: boolean; buffersMade: number; buffersIdle: number } {
    const c = this.buffers.counts;
    return { enabled: this.enabled, buffersMade: c.made, buffersIdle: c.idle };
  }

  /** False once the file system refused a direct open or write. */
  get enabled(): boolean {
    return this.refused === null;
  }

  /** The file system refused O_DIRECT: every later replica is written buffered. */
  refuse(err: unknown): void {
    if (this.refused !== null) return;
    this.refused = err;
    this.onRefused(err);
  }
}

/** An error that means "this file system (or this memory) does not take O_DIRECT". */
export function isDirectRefusal(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'EINVAL';
}

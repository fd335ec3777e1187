/**
 * The backup file (consensus/backup-format.ts) and restore (consensus/backup-restore.ts): an
 * image written in pieces reads back identically; every single flipped byte, every cut and any
 * trailing byte is refused as Corrupt; restore stages the image in fresh stores with the log
 * at the image's index and term and the new group's voters (without the old group's member
 * addresses), and refuses stores in use.
 */
import { describe, expect, it } from 'vitest';
import { BackupWriter, readBackup, type BackupHeader } from '../../../src/consensus/backup-format.js';
import { restoreBackup } from '../../../src/consensus/backup-restore.js';
import { pairSnapshotReader } from '../../../src/consensus/kv-snapshot.js';
import { pack } from '../../../src/proto/msgpack.js';
import { MemoryKvStore } from '../../../src/storage/memory-kv-store.js';
import { MemoryRaftStorage } from '../../../src/storage/memory-raft-storage.js';
import { isCairnError } from '../../../src/util/errors.js';

const INFO = { clusterId: '0123456789abcdef', index: 42, term: 7, members: ['m1', 'm2', 'm3'] };

async function sourceStore(pairsN: number): Promise<MemoryKvStore> {
  const s = new MemoryKvStore();
  await s.applyBatch(INFO.index, (txn) => {
    for (let i = 0; i < pairsN; i++) txn.put(`k/${String(i).padStart(5, '0')}`, Uint8Array.from([i & 0xff, (i >> 8) & 0xff, 9]));
  });
  return s;
}

/** A whole backup file of the store's state, written in pieces of about pieceBytes. */
async function backupOf(store: MemoryKvStore, pieceBytes: number): Promise<{ file: Buffer; pieces: number }> {
  const parts: Uint8Array[] = [];
  const w = new BackupWriter(async (b) => void parts.push(Uint8Array.from(b)));
  const reader = pairSnapshotReader(await store.readSnapshot());
  await w.header({ ...INFO, createdMs: 1_700_000_000_000 });
  for (let p = await reader.next(pieceBytes); p !== null; p = await reader.next(pieceBytes)) await w.piece(p);
  reader.close();
  await w.end();
  const file = Buffer.concat(parts);
  expect(w.bytes).toBe(file.length);
  return { file, pieces: w.pieces };
}

/** Feed `bytes` in chunks of `step` (the reader must not care where chunks end). */
async function* chunked(bytes: Uint8Array, step: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += step) yield bytes.subarray(i, i + step);
}

async function readAll(bytes: Uint8Array, step = 7): Promise<{ header: BackupHeader; pieces: Uint8Array[] }> {
  const r = await readBackup(chunked(bytes, step));
  const pieces: Uint8Array[] = [];
  for await (const p of r.pieces) pieces.push(p);
  return { header: r.header, pieces };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('backup file', () => {
  it('reads back the header and every piece, whatever the read chunking', async () => {
    const store = await sourceStore(500);
    const { file, pieces } = await backupOf(store, 1024);
    expect(pieces).toBeGreaterThan(3);
    for (const step of [1, 5, 4096, file.length]) {
      const got = await readAll(file, step);
      expect(got.header).toEqual({ format: 1, ...INFO, createdMs: 1_700_000_000_000 });
      expect(got.pieces.length).toBe(pieces);
    }
  });

  it('refuses every flipped byte, every cut, and trailing bytes, as Corrupt (or an unsupported format)', async () => {
    const { file } = await backupOf(await sourceStore(20), 200);
    for (let i = 0; i < file.length; i++) {
      const bad = Buffer.from(file);
      bad[i]! ^= 0x01;
      const r = await refusal(readAll(bad, 64));
      expect(['Corrupt', 'InvalidArgument'], `byte ${i}`).toContain(r.code);
      expect(r.message).toMatch(/^backup (file is corrupt|format)/);
    }
    for (const n of [0, 3, 8, 12, file.length - 33, file.length - 1]) expect((await refusal(readAll(file.subarray(0, n)))).code, `cut at ${n}`).toBe('Corrupt');
    expect((await refusal(readAll(Buffer.concat([file, Buffer.of(0)])))).message).toBe('backup file is corrupt: bytes after the checksum');
  });

  it('refuses a newer format with a clear message', async () => {
    const header = pack({ format: 2, ...INFO, createdMs: 0 });
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    const r = await refusal(readBackup(chunked(Buffer.concat([Buffer.from('CAIRNBAK'), len, header]), 100)));
    expect(r).toEqual({ code: 'InvalidArgument', message: 'backup format 2 is not supported (this cairn reads format 1)' });
  });
});

describe('restoreBackup', () => {
  it('stages the image in fresh stores, the log at its index and term with the new voters', async () => {
    const src = await sourceStore(300);
    const { file } = await backupOf(src, 512);
    const state = new MemoryKvStore();
    const log = new MemoryRaftStorage();
    const r = await readBackup(chunked(file, 1000));
    await restoreBackup({ state, log }, r.header, r.pieces, ['n2', 'n1']);
    expect(log.isBootstrapped()).toBe(true);
    expect(log.firstIndex() - 1).toBe(INFO.index);
    expect(log.term(INFO.index)).toBe(INFO.term);
    expect(log.initialState()).toEqual({ hardState: { term: INFO.term, vote: null, commit: INFO.index }, confState: { voters: ['n1', 'n2'], learners: [] } });
    // What RaftRuntime.create does on first start: the log is ahead, the image staged at its index.
    expect(state.stagedIndex()).toBe(INFO.index);
    await state.installStaged(INFO.index);
    expect(state.appliedIndex()).toBe(INFO.index);
    expect([...state.range()]).toEqual([...src.range()]);
    // A second restore into the same stores is refused.
    const again = await readBackup(chunked(file, 1000));
    expect((await refusal(restoreBackup({ state, log }, again.header, again.pieces, ['n1']))).code).toBe('InvalidArgument');
  });

  it('leaves the backed-up group\'s member addresses out: the restored group has its own', async () => {
    const src = await sourceStore(10);
    await src.applyBatch(INFO.index + 1, (txn) => {
      txn.put('m/member/m4', new TextEncoder().encode('10.0.0.4:7001'));
      txn.put('m/members', Uint8Array.of(1)); // a neighbour key, kept
    });
    const { file } = await backupOf(src, 512);
    const state = new MemoryKvStore();
    const log = new MemoryRaftStorage();
    const r = await readBackup(chunked(file, 1000));
    await restoreBackup({ state, log }, r.header, r.pieces, ['m1']);
    await state.installStaged(INFO.index);
    expect(state.get('m/member/m4')).toBeUndefined();
    expect([...state.range()]).toEqual([...src.range()].filter(([k]) => k !== 'm/member/m4'));
  });

  it('leaves the log unbootstrapped and nothing staged when the image fails its checksum', async () => {
    const { file } = await backupOf(await sourceStore(300), 512);
    const bad = Buffer.from(file);
    bad[bad.length - 5]! ^= 0x80;
    const state = new MemoryKvStore();
    const log = new MemoryRaftStorage();
    const r = await readBackup(chunked(bad, 1000));
    expect((await refusal(restoreBackup({ state, log }, r.header, r.pieces, ['m1']))).message).toBe('backup file is corrupt: checksum mismatch');
    expect(log.isBootstrapped()).toBe(false);
    expect(state.stagedIndex()).toBe(0);
  });
});

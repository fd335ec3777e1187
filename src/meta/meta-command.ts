/**
 * The commands of the metadata state machine as they travel in Raft entries: compact, versioned
 * msgpack, decoded with strict validation of every field and size (an entry that fails is applied
 * as a deterministic no-op with an error outcome; the leader validates before proposing, so that
 * only happens with a buggy or hostile proposer).
 *
 * Wire form: [version, tag, client, seq, ackedBelow, nowMs, ...fields] with
 *   tag 1 mkdir       path, parents
 *   tag 2 commitFile  path, size, etag, [[chunkId, size, crc], …], flags (1 overwrite | 2 createParents),
 *                     attrs? (proto/file-attrs.ts flat form; absent: none — the form before attributes)
 *   tag 3 delete      path, recursive
 *   tag 4 rename      from, to
 *   tag 5 putInline   path, etag, bytes, crc, flags (as tag 2), inlineTotalBytesMax — a whole
 *                     small file committed inline (its bytes in the namespace); the leader stamps
 *                     the cluster's cap on inline bytes, so every replica enforces the same one;
 *                     then attrs? as for tag 2
 *   tag 6 copyFile    from, to, flags (as tag 2), inlineTotalBytesMax — a server-side copy sharing
 *                     the source's chunks (namespace-copy.ts); the cap as for tag 5
 *   tag 7 concatFiles to, dir, [[name, etag], …], etag, flags (as tag 2), attrs? — `to` made of the
 *                     files dir/name in order, sharing their chunks, which are removed in the same
 *                     step (namespace-concat.ts); each source's etag is the one the leader read
 *                     (PreconditionFailed if it changed since), `etag` the new file's (the leader
 *                     computed it from those sources)
 *   tag 16 cluster    [version, 16, nowMs, clusterCommand] — a cluster-map change (cluster-map.ts);
 *                     no client session: the leader proposes these itself and they are idempotent
 *   tag 17 purgeTrash [version, 17, nowMs, entries] — delete at most `entries` entries of the
 *                     directory trees `delete` left in the trash (namespace-trash.ts); no client
 *                     session: the leader proposes these itself while the trash holds anything
 * Tags 18..63 are reserved; an unknown tag or version is a decode error.
 *
 * Everything nondeterministic is in the command: the leader stamps nowMs (mtime and session
 * time); etag and chunk list come from the client that wrote the chunks.
 */
import { pack, unpack } from '../proto/msgpack.js';
import { isChunkId } from '../util/chunk-id.js';
import { CairnError } from '../util/errors.js';
import { clusterCommandFromValue, clusterCommandToValue, type ClusterCommand } from './cluster-map.js';
import type { ChunkRef } from './namespace-keys.js';
import { contentProblem, type FileContent } from './namespace.js';
import { ETAG_BYTES_MAX, FILE_CHUNKS_MAX, INLINE_FILE_BYTES_MAX } from '../proto/meta-fields.js';
import { nameProblem, parsePath } from '../proto/path.js';
import { CONCAT_SOURCES_MAX } from '../proto/concat-request.js';
import type { ConcatSource } from './namespace-concat.js';
import { attrsFromValue, attrsToValue, noAttrs, type FileAttrs } from '../proto/file-attrs.js';
import { CLIENT_ID_RE, type SessionHeader } from './session.js';

export const META_COMMAND_VERSION = 1;
export const MetaTag = { Mkdir: 1, CommitFile: 2, Delete: 3, Rename: 4, PutInline: 5, CopyFile: 6, ConcatFiles: 7, Cluster: 16, PurgeTrash: 17 } as const;
/** Most entries one purgeTrash command may delete. */
export const PURGE_ENTRIES_MAX = 100_000;
export { ETAG_BYTES_MAX, FILE_CHUNKS_MAX, INLINE_FILE_BYTES_MAX };
const ETAG_RE = /^[\x21-\x7e]{1,128}$/;
const CRC_MAX = 0xffffffff;
const FLAG_OVERWRITE = 1;
const FLAG_CREATE_PARENTS = 2;

interface CommandBase {
  session: SessionHeader;
  /** Leader-stamped wall time in ms: mtime of what the command changes, session recency. */
  nowMs: number;
}

export type MetaCommand =
  | (CommandBase & { op: 'mkdir'; path: string; parents: boolean })
  | (CommandBase & { op: 'commitFile'; path: string; file: FileContent; overwrite: boolean; createParents: boolean })
  | (CommandBase & {
      op: 'putInline';
      path: string;
      etag: string;
      /** The whole file, 0..INLINE_FILE_BYTES_MAX bytes. */
      data: Uint8Array;
      /** CRC-32C of `data` (checked by the leader before proposing). */
      crc: number;
      overwrite: boolean;
      createParents: boolean;
      /** The cluster's cap on inline bytes, as the proposing leader was configured. */
      inlineTotalBytesMax: number;
      /** The file's attributes; absent: none. */
      attrs?: FileAttrs;
    })
  | (CommandBase & {
      op: 'copyFile';
      from: string;
      to: string;
      overwrite: boolean;
      createParents: boolean;
      /** The cluster's cap on inline bytes (an inline source is copied inline). */
      inlineTotalBytesMax: number;
    })
  | (CommandBase & {
      op: 'concatFiles';
      to: string;
      dir: string;
      /** 1..CONCAT_SOURCES_MAX distinct names, each with the etag the leader read. */
      sources: ConcatSource[];
      /** The new file's etag. */
      etag: string;
      overwrite: boolean;
      createParents: boolean;
      attrs?: FileAttrs;
    })
  | (CommandBase & { op: 'delete'; path: string; recursive: boolean })
  | (CommandBase & { op: 'rename'; from: string; to: string })
  | { op: 'cluster'; cluster: ClusterCommand; nowMs: number }
  | { op: 'purgeTrash'; nowMs: number; entries: number };

/** The commands a client's session carries (every one but the leader's own). */
export type SessionCommand = Exclude<MetaCommand, { op: 'cluster' } | { op: 'purgeTrash' }>;

export function encodeMetaCommand(cmd: MetaCommand): Uint8Array {
  if (cmd.op === 'cluster') return pack([META_COMMAND_VERSION, MetaTag.Cluster, cmd.nowMs, clusterCommandToValue(cmd.cluster)]);
  if (cmd.op === 'purgeTrash') return pack([META_COMMAND_VERSION, MetaTag.PurgeTrash, cmd.nowMs, cmd.entries]);
  const head = [META_COMMAND_VERSION, 0, cmd.session.client, cmd.session.seq, cmd.session.ackedBelow, cmd.nowMs];
  switch (cmd.op) {
    case 'mkdir':
      head[1] = MetaTag.Mkdir;
      return pack([...head, cmd.path, cmd.parents]);
    case 'commitFile': {
      head[1] = MetaTag.CommitFile;
      const flags = (cmd.overwrite ? FLAG_OVERWRITE : 0) | (cmd.createParents ? FLAG_CREATE_PARENTS : 0);
      const chunks = cmd.file.chunks.map((c) => [c.id, c.size, c.crc]);
      return pack([...head, cmd.path, cmd.file.size, cmd.file.etag, chunks, flags, ...attrsTail(cmd.file.attrs)]);
    }
    case 'putInline': {
      head[1] = MetaTag.PutInline;
      const flags = (cmd.overwrite ? FLAG_OVERWRITE : 0) | (cmd.createParents ? FLAG_CREATE_PARENTS : 0);
      return pack([...head, cmd.path, cmd.etag, cmd.data, cmd.crc, flags, cmd.inlineTotalBytesMax, ...attrsTail(cmd.attrs)]);
    }
    case 'copyFile': {
      head[1] = MetaTag.CopyFile;
      const flags = (cmd.overwrite ? FLAG_OVERWRITE : 0) | (cmd.createParents ? FLAG_CREATE_PARENTS : 0);
      return pack([...head, cmd.from, cmd.to, flags, cmd.inlineTotalBytesMax]);
    }
    case 'concatFiles': {
      head[1] = MetaTag.ConcatFiles;
      const flags = (cmd.overwrite ? FLAG_OVERWRITE : 0) | (cmd.createParents ? FLAG_CREATE_PARENTS : 0);
      const sources = cmd.sources.map((x) => [x.name, x.etag]);
      return pack([...head, cmd.to, cmd.dir, sources, cmd.etag, flags, ...attrsTail(cmd.attrs)]);
    }
    case 'delete':
      head[1] = MetaTag.Delete;
      return pack([...head, cmd.path, cmd.recursive]);
    case 'rename':
      head[1] = MetaTag.Rename;
      return pack([...head, cmd.from, cmd.to]);
  }
}

/** The optional trailing attrs field: present only when there are attributes. */
function attrsTail(attrs: FileAttrs | undefined): unknown[] {
  return noAttrs(attrs) ? [] : [attrsToValue(attrs!)];
}

function attrsOf(v: unknown): FileAttrs {
  try {
    return attrsFromValue(v);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

const bad = (what: string): CairnError => new CairnError('InvalidArgument', `meta command: ${what}`);

function safeInt(v: unknown, min: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${what} must be a safe integer >= ${min}`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${what} must be a boolean`);
  return v;
}

/** A valid path string (throws InvalidPath otherwise). */
function path(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} must be a string`);
  parsePath(v);
  return v;
}

function etagOf(v: unknown): string {
  if (typeof v !== 'string' || !ETAG_RE.test(v)) throw bad(`etag must be 1..${ETAG_BYTES_MAX} printable ASCII characters`);
  return v;
}

function flagsOf(v: unknown): number {
  const flags = safeInt(v, 0, 'flags');
  if (flags > (FLAG_OVERWRITE | FLAG_CREATE_PARENTS)) throw bad('unknown flags');
  return flags;
}

function chunkList(v: unknown): ChunkRef[] {
  if (!Array.isArray(v)) throw bad('chunks must be an array');
  if (v.length > FILE_CHUNKS_MAX) throw new CairnError('TooLarge', `meta command: more than ${FILE_CHUNKS_MAX} chunks`);
  const out: ChunkRef[] = new Array<ChunkRef>(v.length);
  for (let i = 0; i < v.length; i++) {
    const c: unknown = v[i];
    if (!Array.isArray(c) || c.length !== 3) throw bad(`chunk ${i} must be [id, size, crc]`);
    const [id, size, crc] = c as unknown[];
    if (!isChunkId(id)) throw bad(`chunk ${i} id must be 32 lowercase hex digits`);
    const sz = safeInt(size, 1, `chunk ${i} size`);
    const crcValue = safeInt(crc, 0, `chunk ${i} crc`);
    if (crcValue > CRC_MAX) throw bad(`chunk ${i} crc must be < 2^32`);
    out[i] = { id, size: sz, crc: crcValue };
  }
  return out;
}

function concatSources(v: unknown): ConcatSource[] {
  if (!Array.isArray(v) || v.length === 0) throw bad('sources must be a non-empty array');
  if (v.length > CONCAT_SOURCES_MAX) throw new CairnError('TooLarge', `meta command: more than ${CONCAT_SOURCES_MAX} sources`);
  const seen = new Set<string>();
  return v.map((x: unknown, i) => {
    if (!Array.isArray(x) || x.length !== 2) throw bad(`source ${i} must be [name, etag]`);
    const [name, etag] = x as unknown[];
    if (typeof name !== 'string' || nameProblem(name) !== null || seen.has(name)) throw bad(`source ${i} must be a name not listed before`);
    seen.add(name);
    return { name, etag: etagOf(etag) };
  });
}

/** Validating decode; throws CairnError (InvalidArgument, InvalidPath or TooLarge) on anything malformed. */
export function decodeMetaCommand(bytes: Uint8Array): MetaCommand {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch {
    throw bad('not msgpack');
  }
  if (Array.isArray(v) && v.length === 4 && v[0] === META_COMMAND_VERSION && v[1] === MetaTag.Cluster) {
    return { op: 'cluster', nowMs: safeInt(v[2], 0, 'nowMs'), cluster: clusterCommandFromValue(v[3]) };
  }
  if (Array.isArray(v) && v.length === 4 && v[0] === META_COMMAND_VERSION && v[1] === MetaTag.PurgeTrash) {
    const entries = safeInt(v[3], 1, 'entries');
    if (entries > PURGE_ENTRIES_MAX) throw bad(`entries over ${PURGE_ENTRIES_MAX}`);
    return { op: 'purgeTrash', nowMs: safeInt(v[2], 0, 'nowMs'), entries };
  }
  if (!Array.isArray(v) || v.length < 6) throw bad('not a command array');
  const [version, tag, client, seq, ackedBelow, nowMs] = v as unknown[];
  if (version !== META_COMMAND_VERSION) throw bad(`unknown version ${String(version)}`);
  if (typeof client !== 'string' || !CLIENT_ID_RE.test(client)) throw bad('client id must be 1..128 of [A-Za-z0-9._:-]');
  const s = safeInt(seq, 1, 'seq');
  const acked = safeInt(ackedBelow, 0, 'ackedBelow');
  if (acked > s) throw bad('ackedBelow must not exceed seq');
  // Each command below lists these two fields rather than spreading a `base` object: V8 copies a
  // spread into a literal with more properties after it on a slow path (~7 µs per command, 80 % of
  // decoding a 4 KiB inline put, on every metadata server for every entry it applies).
  const session = { client, seq: s, ackedBelow: acked };
  const at = safeInt(nowMs, 0, 'nowMs');
  const arity = (n: number, optional = 0) => {
    if (v.length < 6 + n || v.length > 6 + n + optional) throw bad(`tag ${String(tag)} takes ${n} fields${optional ? ` (${n + optional} with attrs)` : ''}`);
  };
  switch (tag) {
    case MetaTag.Mkdir:
      arity(2);
      return { session, nowMs: at, op: 'mkdir', path: path(v[6], 'path'), parents: bool(v[7], 'parents') };
    case MetaTag.CommitFile: {
      arity(5, 1);
      const size = safeInt(v[7], 0, 'size');
      const etag = etagOf(v[8]);
      const flags = flagsOf(v[10]);
      const file: FileContent = { size, etag, chunks: chunkList(v[9]) };
      if (v.length > 11) file.attrs = attrsOf(v[11]);
      const problem = contentProblem(file);
      if (problem) throw bad(problem);
      return {
        session,
        nowMs: at,
        op: 'commitFile',
        path: path(v[6], 'path'),
        file,
        overwrite: (flags & FLAG_OVERWRITE) !== 0,
        createParents: (flags & FLAG_CREATE_PARENTS) !== 0,
      };
    }
    case MetaTag.PutInline: {
      arity(6, 1);
      const data = v[8];
      if (!(data instanceof Uint8Array)) throw bad('inline data must be bytes');
      if (data.length > INLINE_FILE_BYTES_MAX) throw new CairnError('TooLarge', `meta command: inline data over ${INLINE_FILE_BYTES_MAX} bytes`);
      const crc = safeInt(v[9], 0, 'crc');
      if (crc > CRC_MAX) throw bad('crc must be < 2^32');
      const flags = flagsOf(v[10]);
      return {
        session,
        nowMs: at,
        op: 'putInline',
        path: path(v[6], 'path'),
        etag: etagOf(v[7]),
        data,
        crc,
        overwrite: (flags & FLAG_OVERWRITE) !== 0,
        createParents: (flags & FLAG_CREATE_PARENTS) !== 0,
        inlineTotalBytesMax: safeInt(v[11], 0, 'inlineTotalBytesMax'),
        ...(v.length > 12 ? { attrs: attrsOf(v[12]) } : {}),
      };
    }
    case MetaTag.CopyFile: {
      arity(4);
      const flags = flagsOf(v[8]);
      return {
        session,
        nowMs: at,
        op: 'copyFile',
        from: path(v[6], 'from'),
        to: path(v[7], 'to'),
        overwrite: (flags & FLAG_OVERWRITE) !== 0,
        createParents: (flags & FLAG_CREATE_PARENTS) !== 0,
        inlineTotalBytesMax: safeInt(v[9], 0, 'inlineTotalBytesMax'),
      };
    }
    case MetaTag.ConcatFiles: {
      arity(5, 1);
      const flags = flagsOf(v[10]);
      return {
        session,
        nowMs: at,
        op: 'concatFiles',
        to: path(v[6], 'to'),
        dir: path(v[7], 'dir'),
        sources: concatSources(v[8]),
        etag: etagOf(v[9]),
        overwrite: (flags & FLAG_OVERWRITE) !== 0,
        createParents: (flags & FLAG_CREATE_PARENTS) !== 0,
        ...(v.length > 11 ? { attrs: attrsOf(v[11]) } : {}),
      };
    }
    case MetaTag.Delete:
      arity(2);
      return { session, nowMs: at, op: 'delete', path: path(v[6], 'path'), recursive: bool(v[7], 'recursive') };
    case MetaTag.Rename:
      arity(2);
      return { session, nowMs: at, op: 'rename', from: path(v[6], 'from'), to: path(v[7], 'to') };
    default:
      throw bad(`unknown tag ${String(tag)}`);
  }
}

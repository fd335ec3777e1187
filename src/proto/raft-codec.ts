/**
 * Wire codec for Raft messages (src/raft/types.ts `Message`), msgpack-encoded as compact arrays:
 *
 *   [version=1, tag, from, to, term, ...fields of the type]
 *
 *   vote / pre-vote           lastLogIndex, lastLogTerm, transfer
 *   vote-resp / pre-vote-resp reject
 *   app                       prevIndex, prevTerm, commit, [[term, entryType, data], ...]
 *                             (entry i has index prevIndex + 1 + i: contiguity is structural)
 *   app-resp                  reject, index, hintIndex, hintTerm
 *   heartbeat                 commit, ctx
 *   heartbeat-resp            ctx
 *   snap                      index, term, voters[], learners[], data
 *   timeout-now               (nothing)
 *
 * decodeRaftMessage trusts nothing: every field is checked (type, integer range, string and
 * byte lengths, array sizes, known tags, membership disjoint) and any violation throws
 * CairnError('ProtocolError'); it never returns a partly valid object. Decoded byte fields neither
 * alias the input nor pin a larger buffer: they are copies (a MsgApp's entries share one copy),
 * except a MsgApp's entries in a frame handed over whole (util/owned-bytes.ts; see ownEntryData).
 *
 * Pure: no node:* imports (the simulator uses it too).
 */
import { Packr } from 'msgpackr';
import { scratchPacker } from './msgpack.js';
import type { Entry, Message, MessageType, NodeId } from '../raft/types.js';
import { assert } from '../util/assert.js';
import { CairnError } from '../util/errors.js';
import { takeOwned } from '../util/owned-bytes.js';

export const RAFT_CODEC_VERSION = 1;

/** Limits enforced on decode (and asserted on encode: exceeding them there is a programmer error). */
export const RAFT_CODEC_LIMITS = {
  /** Node ids are 1..32 chars in config (proto/addr.ts); the codec allows some slack. */
  nodeIdCharsMax: 64,
  /** Entries in one MsgApp (RaftConfig.maxMsgBytes bounds bytes; this bounds count). */
  entriesMax: 1 << 20,
  /** One entry's data (the leader's uncommittedBytesMax is 64 MiB by default). */
  entryBytesMax: 64 << 20,
  /** ReadIndex contexts are short request keys. */
  ctxBytesMax: 4096,
  /** Voters + learners in one membership. */
  membersMax: 1024,
  /** Snapshot image carried in one MsgSnap (the frame limit is usually the tighter bound). */
  snapshotBytesMax: 1 << 30,
} as const;

const TAGS = {
  vote: 1,
  'pre-vote': 2,
  'vote-resp': 3,
  'pre-vote-resp': 4,
  app: 5,
  'app-resp': 6,
  heartbeat: 7,
  'heartbeat-resp': 8,
  snap: 9,
  'timeout-now': 10,
} as const satisfies Record<MessageType, number>;

const TYPE_BY_TAG: Array<MessageType | undefined> = [];
for (const [type, tag] of Object.entries(TAGS)) TYPE_BY_TAG[tag] = type as MessageType;

/** Number of array elements each type carries after the 5-element header. */
const FIELDS: Record<MessageType, number> = {
  vote: 3,
  'pre-vote': 3,
  'vote-resp': 1,
  'pre-vote-resp': 1,
  app: 4,
  'app-resp': 4,
  heartbeat: 2,
  'heartbeat-resp': 1,
  snap: 5,
  'timeout-now': 0,
};

/** Own msgpackr instance: plain values only, no records, no 64-bit BigInts. */
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number', mapsAsObjects: true });
/** Packs into reused memory (proto/msgpack.ts); a MsgApp of many large entries falls back to msgpackr's own. */
const pack = scratchPacker(packr, 4 << 20);

/** One message as one buffer (see encodeRaftMessageParts for the same bytes without a copy). */
export function encodeRaftMessage(m: Message): Uint8Array {
  const parts = encodeRaftMessageParts(m);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * One message as consecutive parts of its encoding: a MsgApp is its head and its entries (the
 * entries' bytes shared by every follower the same entries go to), anything else one buffer.
 * The transport writes the parts as neighbours in one frame, so the entries are never copied
 * behind a head per follower.
 */
export function encodeRaftMessageParts(m: Message): Uint8Array[] {
  const head: unknown[] = [RAFT_CODEC_VERSION, TAGS[m.type], m.from, m.to, m.term];
  switch (m.type) {
    case 'vote':
    case 'pre-vote':
      head.push(m.lastLogIndex, m.lastLogTerm, m.transfer);
      break;
    case 'vote-resp':
    case 'pre-vote-resp':
      head.push(m.reject);
      break;
    case 'app': {
      for (let i = 0; i < m.entries.length; i++) {
        // The wire format has no per-entry index: a gap here would silently renumber entries.
        assert(m.entries[i]!.index === m.prevIndex + 1 + i, `MsgApp entries must follow prevIndex contiguously (entry ${i} has index ${m.entries[i]!.index}, prevIndex ${m.prevIndex})`);
      }
      head.push(m.prevIndex, m.prevTerm, m.commit);
      return encodeAppParts(head, m.entries);
    }
    case 'app-resp':
      head.push(m.reject, m.index, m.hintIndex, m.hintTerm);
      break;
    case 'heartbeat':
      head.push(m.commit, m.ctx);
      break;
    case 'heartbeat-resp':
      head.push(m.ctx);
      break;
    case 'snap': {
      const s = m.snapshot;
      head.push(s.meta.index, s.meta.term, s.meta.conf.voters, s.meta.conf.learners, s.data);
      break;
    }
    case 'timeout-now':
      break;
    default: {
      const never: never = m;
      assert(false, `unknown message type ${String((never as { type: unknown }).type)}`);
    }
  }
  return [pack(head)];
}

/**
 * A MsgApp is the 8-element head followed by the packed entries array: byte for byte what
 * packing the whole 9-element array gives (a fixarray header is one byte, 0x90 | length, and
 * msgpackr without records encodes a nested value exactly as it encodes it alone). The leader
 * sends the same entries to every follower, so their encoding is kept for the next sends.
 */
function encodeAppParts(head: unknown[], entries: readonly Entry[]): Uint8Array[] {
  // Ours to change: pack's result is a copy.
  const headBytes = pack(head);
  assert(head.length === 8 && headBytes[0] === 0x98, 'MsgApp head must be an 8-element fixarray');
  headBytes[0] = 0x99;
  return [headBytes, encodedEntries(entries)];
}

/** Entries arrays encoded lately, newest first: the leader's MsgApps to its followers share them. */
const appCache: Array<{ entries: readonly Entry[]; bytes: Uint8Array }> = [];
/** One entry per follower of a 3- or 5-server cluster. */
const APP_CACHE_SLOTS = 4;
/** Larger encodings (catch-up batches) are not kept. */
const APP_CACHE_BYTES_MAX = 1 << 20;

function encodedEntries(entries: readonly Entry[]): Uint8Array {
  for (const c of appCache) if (sameEntries(c.entries, entries)) return c.bytes;
  const arr: unknown[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    arr[i] = [e.term, e.type, e.data];
  }
  const bytes = pack(arr);
  if (entries.length > 0 && bytes.length <= APP_CACHE_BYTES_MAX) {
    appCache.unshift({ entries: entries.slice(), bytes });
    if (appCache.length > APP_CACHE_SLOTS) appCache.pop();
  }
  return bytes;
}

/** The same entry objects in the same order (entries are immutable once in the log). */
function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Decode and validate one message. Throws CairnError('ProtocolError') on anything malformed. */
export function decodeRaftMessage(b: Uint8Array): Message {
  if (!(b instanceof Uint8Array)) bad('payload is not bytes');
  let v: unknown;
  try {
    v = packr.unpack(b);
  } catch (err) {
    bad(`not msgpack: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(v)) bad('message is not an array');
  if (v.length < 5) bad(`message has ${v.length} elements`);
  if (v[0] !== RAFT_CODEC_VERSION) bad(`unknown codec version ${str(v[0])}`);
  const tag = v[1];
  const type = typeof tag === 'number' && Number.isInteger(tag) ? TYPE_BY_TAG[tag] : undefined;
  if (type === undefined) bad(`unknown message tag ${str(tag)}`);
  if (v.length !== 5 + FIELDS[type]) bad(`${type} has ${v.length} elements, expected ${5 + FIELDS[type]}`);
  const from = nodeId(v[2], 'from');
  const to = nodeId(v[3], 'to');
  const term = uint(v[4], 'term');
  switch (type) {
    case 'vote':
    case 'pre-vote':
      return { type, from, to, term, lastLogIndex: uint(v[5], 'lastLogIndex'), lastLogTerm: uint(v[6], 'lastLogTerm'), transfer: bool(v[7], 'transfer') };
    case 'vote-resp':
    case 'pre-vote-resp':
      return { type, from, to, term, reject: bool(v[5], 'reject') };
    case 'app': {
      const prevIndex = uint(v[5], 'prevIndex');
      const prevTerm = uint(v[6], 'prevTerm');
      const commit = uint(v[7], 'commit');
      const raw = v[8];
      if (!Array.isArray(raw)) bad('entries is not an array');
      if (raw.length > RAFT_CODEC_LIMITS.entriesMax) bad(`${raw.length} entries exceed ${RAFT_CODEC_LIMITS.entriesMax}`);
      if (prevIndex + raw.length > Number.MAX_SAFE_INTEGER) bad('entry index overflows');
      const entries: Entry[] = new Array(raw.length);
      let dataBytes = 0;
      for (let i = 0; i < raw.length; i++) {
        entries[i] = entry(raw[i], prevIndex + 1 + i);
        dataBytes += entries[i]!.data.length;
      }
      ownEntryData(entries, dataBytes, b);
      return { type, from, to, term, prevIndex, prevTerm, commit, entries };
    }
    case 'app-resp':
      return {
        type,
        from,
        to,
        term,
        reject: bool(v[5], 'reject'),
        index: uint(v[6], 'index'),
        hintIndex: uint(v[7], 'hintIndex'),
        hintTerm: uint(v[8], 'hintTerm'),
      };
    case 'heartbeat':
      return { type, from, to, term, commit: uint(v[5], 'commit'), ctx: bytes(v[6], 'ctx', RAFT_CODEC_LIMITS.ctxBytesMax) };
    case 'heartbeat-resp':
      return { type, from, to, term, ctx: bytes(v[5], 'ctx', RAFT_CODEC_LIMITS.ctxBytesMax) };
    case 'snap': {
      const index = uint(v[5], 'snapshot index');
      const snapTerm = uint(v[6], 'snapshot term');
      const voters = members(v[7], 'voters');
      const learners = members(v[8], 'learners');
      if (voters.length + learners.length > RAFT_CODEC_LIMITS.membersMax) bad('membership too large');
      const vs = new Set(voters);
      for (const l of learners) if (vs.has(l)) bad(`${l} is both voter and learner`);
      const data = bytes(v[9], 'snapshot data', RAFT_CODEC_LIMITS.snapshotBytesMax);
      return { type, from, to, term, snapshot: { meta: { index, term: snapTerm, conf: { voters, learners } }, data } };
    }
    case 'timeout-now':
      return { type, from, to, term };
  }
}

// ---------------------------------------------------------------------------------------------

function bad(why: string): never {
  throw new CairnError('ProtocolError', `malformed raft message: ${why}`);
}

function str(x: unknown): string {
  return typeof x === 'string' ? JSON.stringify(x.slice(0, 40)) : String(x).slice(0, 40);
}

/** Terms and indexes: non-negative safe integers (0 means "nothing"). */
function uint(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) bad(`${what} is not a non-negative integer: ${str(x)}`);
  return x;
}

function bool(x: unknown, what: string): boolean {
  if (typeof x !== 'boolean') bad(`${what} is not a boolean`);
  return x;
}

function nodeId(x: unknown, what: string): NodeId {
  if (typeof x !== 'string' || x.length === 0 || x.length > RAFT_CODEC_LIMITS.nodeIdCharsMax) bad(`${what} is not a node id: ${str(x)}`);
  return x;
}

function bytes(x: unknown, what: string, max: number): Uint8Array {
  if (!(x instanceof Uint8Array)) bad(`${what} is not bytes`);
  if (x.length > max) bad(`${what} has ${x.length} bytes, more than ${max}`);
  // A plain Uint8Array copy: msgpackr hands out Buffer views into the frame (whose .slice()
  // would not copy, and which would keep the whole frame alive).
  return new Uint8Array(x.buffer, x.byteOffset, x.length).slice();
}

function members(x: unknown, what: string): NodeId[] {
  if (!Array.isArray(x)) bad(`${what} is not an array`);
  if (x.length > RAFT_CODEC_LIMITS.membersMax) bad(`${what} has ${x.length} members`);
  const out: NodeId[] = new Array(x.length);
  const seen = new Set<NodeId>();
  for (let i = 0; i < x.length; i++) {
    const id = nodeId(x[i], what);
    if (seen.has(id)) bad(`${what} lists ${id} twice`);
    seen.add(id);
    out[i] = id;
  }
  return out;
}

/** A validated entry whose data is still a view into the frame (ownEntryData settles it). */
function entry(x: unknown, index: number): Entry {
  if (!Array.isArray(x) || x.length !== 3) bad(`entry ${index} is not [term, type, data]`);
  const term = uint(x[0], `entry ${index} term`);
  const type = x[1];
  // EntryType.Normal = 0, EntryType.ConfChange = 1 (a const enum: compared by value).
  if (type !== 0 && type !== 1) bad(`entry ${index} has unknown type ${str(type)}`);
  const data = x[2];
  if (!(data instanceof Uint8Array)) bad(`entry ${index} data is not bytes`);
  if (data.length > RAFT_CODEC_LIMITS.entryBytesMax) bad(`entry ${index} data has ${data.length} bytes, more than ${RAFT_CODEC_LIMITS.entryBytesMax}`);
  return { term, index, type, data };
}

/**
 * Give a MsgApp's entries data of their own, each a plain Uint8Array view. A frame handed over
 * whole (the frame decoder assembled it in memory of its own, as it does for every payload that
 * spans socket reads, so every large MsgApp) is almost all entry data: the entries keep views into
 * it, and a follower does not copy each entry once more into fresh memory before its log copies it
 * again. Any other input is copied out into one new buffer of `dataBytes` (unzeroed: every byte is
 * overwritten), so the entries neither alias it nor pin the read it is a slice of; one allocation
 * per message, not per entry.
 */
function ownEntryData(entries: Entry[], dataBytes: number, frame: Uint8Array): void {
  if (entries.length === 0) return;
  if (takeOwned(frame)) {
    for (const e of entries) e.data = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    return;
  }
  const buf = Buffer.allocUnsafeSlow(dataBytes);
  const all = new Uint8Array(buf.buffer, buf.byteOffset, dataBytes);
  let at = 0;
  for (const e of entries) {
    const n = e.data.length;
    all.set(e.data, at);
    e.data = all.subarray(at, at + n);
    at += n;
  }
}

/**
 * How large each metadata RPC request may be before the server decodes it (net/NetServer's
 * requestLimits): bytes of the whole frame, msgpack elements, nesting depth. Each bound follows
 * from the method's decoder (meta-requests.ts): every request a decoder accepts fits. Namespace
 * calls carry a path or two and fit in kilobytes; only the calls that carry data or lists get
 * more (fs.put's inline bytes, fs.commit's chunk list, fs.concat's source names, chunk-server reports). Raft appends and
 * snapshots travel on peer connections, under the server's frame limit.
 *
 * A frame that names no method in its first bytes gets the namespace limits.
 */
import { FILE_CHUNKS_MAX, INLINE_FILE_BYTES_MAX } from './meta-fields.js';
import { NAME_BYTES_MAX } from './path.js';
import { CONCAT_SOURCES_MAX, COPY_FAILED_IDS_MAX, EXCLUDE_SERVERS_MAX, LIST_CURSOR_CHARS_MAX, REPORT_PAGE_IDS_MAX, STAT_LOCAL_PATHS_MAX, type MetaMethod } from './meta-requests.js';

export interface MetaRequestLimits {
  bytesMax: number;
  elementsMax: number;
  depthMax: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Room for the request map, id, method, paths, session header and scalar fields. */
const ENVELOPE_BYTES = 16 * KiB;
const ENVELOPE_ELEMENTS = 256;
/** {id, method, body: {chunks: [[id, size, crc]]}} is 4 deep; some room for optional fields. */
const DEPTH_MAX = 6;
/** A chunk id on the wire: str8 header + 32 hex digits. */
const CHUNK_ID_BYTES = 34;
/** [id, size, crc]: fixarray + chunk id + uint64 + uint32. */
const CHUNK_REF_BYTES = 1 + CHUNK_ID_BYTES + 9 + 5;
/** A UTF-16 unit takes at most 3 UTF-8 bytes. */
const UTF8_BYTES_PER_CHAR_MAX = 3;

/** The limits of namespace calls and of any method not listed below. */
export const NAMESPACE_REQUEST_LIMITS: MetaRequestLimits = { bytesMax: ENVELOPE_BYTES, elementsMax: ENVELOPE_ELEMENTS, depthMax: DEPTH_MAX };

function sized(bytes: number, elements = 0): MetaRequestLimits {
  return { bytesMax: ENVELOPE_BYTES + bytes, elementsMax: ENVELOPE_ELEMENTS + elements, depthMax: DEPTH_MAX };
}

const SERVER_ID_BYTES_MAX = 64 * UTF8_BYTES_PER_CHAR_MAX + 2;

const LIMITS: Partial<Record<MetaMethod, MetaRequestLimits>> = {
  'fs.list': sized(LIST_CURSOR_CHARS_MAX * UTF8_BYTES_PER_CHAR_MAX),
  'fs.walk': sized(LIST_CURSOR_CHARS_MAX * UTF8_BYTES_PER_CHAR_MAX),
  'fs.alloc': sized(EXCLUDE_SERVERS_MAX * SERVER_ID_BYTES_MAX, EXCLUDE_SERVERS_MAX),
  'fs.retarget': sized(EXCLUDE_SERVERS_MAX * SERVER_ID_BYTES_MAX, EXCLUDE_SERVERS_MAX),
  'fs.put': sized(INLINE_FILE_BYTES_MAX),
  'fs.commit': sized(FILE_CHUNKS_MAX * CHUNK_REF_BYTES, 4 * FILE_CHUNKS_MAX),
  // Source names: str8/str16 header + at most NAME_BYTES_MAX bytes each.
  'fs.concat': sized(CONCAT_SOURCES_MAX * (3 + NAME_BYTES_MAX), CONCAT_SOURCES_MAX),
  // A diagnostic call: long path lists are sent in pages well below this.
  'fs.statLocal': sized(4 * MiB, STAT_LOCAL_PATHS_MAX),
  'cs.heartbeat': sized(COPY_FAILED_IDS_MAX * CHUNK_ID_BYTES, COPY_FAILED_IDS_MAX),
  'cs.reportPage': sized(REPORT_PAGE_IDS_MAX * CHUNK_ID_BYTES, REPORT_PAGE_IDS_MAX),
  'cs.update': sized(2 * REPORT_PAGE_IDS_MAX * CHUNK_ID_BYTES, 2 * REPORT_PAGE_IDS_MAX),
};

/** The limits of a request naming `method` (undefined: names none in its first bytes). */
export function metaRequestLimits(method: string | undefined): MetaRequestLimits {
  return (method !== undefined && Object.hasOwn(LIMITS, method) ? LIMITS[method as MetaMethod] : undefined) ?? NAMESPACE_REQUEST_LIMITS;
}

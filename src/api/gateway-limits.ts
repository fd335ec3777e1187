/** The gateway's limits (DESIGN rule 8: a limit on everything); values default from src/config. */
import { GATEWAY_LIMITS_DEFAULT } from '../config/defaults.js';

export interface GatewayLimits {
  /** Requests served at once; beyond it 503 + Retry-After. */
  inflightMax: number;
  /** Requests at once from one remote address. */
  perClientInflightMax: number;
  /** Largest raw PUT body or multipart file part. */
  uploadBytesMax: number;
  /** File parts in one multipart request. */
  multipartFilesMax: number;
  /**
   * Non-file fields in one multipart request, and the bytes of each. (A part's header block is
   * bounded by busboy itself: over 16 KiB fails the request with 400; busboy 1.6 has no per-part
   * header-pair limit of its own, the 16 KiB bound covers it.)
   */
  multipartFieldsMax: number;
  multipartFieldBytesMax: number;
  /** UTF-8 bytes of a multipart filename. */
  filenameBytesMax: number;
  /** JSON request bodies (POST /v1/mv). */
  jsonBytesMax: number;
  /** Largest `limit` of /v1/ls. */
  listLimitMax: number;
  /**
   * Bytes all uploads together (/v1 and S3) may hold in memory, read and not yet stored; at it,
   * new uploads get 503 + Retry-After (upload-budget.ts).
   */
  uploadBufferBytesMax: number;
  /** An upload receiving nothing this long is cut off and commits nothing. */
  uploadIdleTimeoutMs: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = { ...GATEWAY_LIMITS_DEFAULT };

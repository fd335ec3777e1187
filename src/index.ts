/**
 * Cairn's public library entry point (`import … from 'cairn'`).
 * Today it exports the error catalogue and the Raft building blocks; the client library joins it.
 */
export { CairnError, ERROR_CODES, isCairnError } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';

/**
 * Encoding of ConfChange into the data of an EntryType.ConfChange log entry. The format is
 * part of the durable log, so it is versioned and never changes meaning:
 *
 *   [version=1 u8][type u8: 1 addLearner, 2 addVoter, 3 removeNode]
 *   [node length u16 BE][node utf-8][has context u8 0|1][context length u32 BE][context bytes]
 *
 * decodeConfChange trusts nothing (the entry may come from any peer) and throws
 * CairnError('ProtocolError') on anything malformed.
 */
import { CairnError } from '../util/errors.js';
import type { ConfChange, ConfChangeType, ConfState } from './types.js';

const VERSION = 1;
const TYPE_CODES: Record<ConfChangeType, number> = { addLearner: 1, addVoter: 2, removeNode: 3 };
const TYPES_BY_CODE: Array<ConfChangeType | undefined> = [undefined, 'addLearner', 'addVoter', 'removeNode'];
/** Node ids are short; this bounds a decode. */
const nodeIdBytesMax = 1024;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const node = enc.encode(cc.node);
  if (node.byteLength === 0 || node.byteLength > nodeIdBytesMax) throw new CairnError('InvalidArgument', `bad node id ${JSON.stringify(cc.node)}`);
  const ctx = cc.context;
  const out = new Uint8Array(2 + 2 + node.byteLength + 1 + 4 + (ctx?.byteLength ?? 0));
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  out[1] = TYPE_CODES[cc.type];
  view.setUint16(2, node.byteLength);
  out.set(node, 4);
  let p = 4 + node.byteLength;
  out[p++] = ctx ? 1 : 0;
  view.setUint32(p, ctx?.byteLength ?? 0);
  p += 4;
  if (ctx) out.set(ctx, p);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const bad = (why: string): CairnError => new CairnError('ProtocolError', `malformed conf change: ${why}`);
  if (data.byteLength < 4) throw bad('too short');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data[0] !== VERSION) throw bad(`unknown version ${data[0]}`);
  const type = TYPES_BY_CODE[data[1]!];
  if (!type) throw bad(`unknown type ${data[1]}`);
  const nodeLen = view.getUint16(2);
  if (nodeLen === 0 || nodeLen > nodeIdBytesMax) throw bad('bad node id length');
  let p = 4;
  if (data.byteLength < p + nodeLen + 5) throw bad('truncated');
  let node: string;
  try {
    node = dec.decode(data.subarray(p, p + nodeLen));
  } catch {
    throw bad('node id is not utf-8');
  }
  p += nodeLen;
  const hasCtx = data[p++];
  if (hasCtx !== 0 && hasCtx !== 1) throw bad('bad context flag');
  const ctxLen = view.getUint32(p);
  p += 4;
  if (data.byteLength !== p + ctxLen) throw bad('length mismatch');
  if (hasCtx === 0 && ctxLen !== 0) throw bad('context without flag');
  const cc: ConfChange = { type, node };
  if (hasCtx === 1) cc.context = data.slice(p, p + ctxLen);
  return cc;
}

/**
 * The membership after one conf change, as a new object (sorted ids): a learner is added only if
 * not already a voter, a promoted learner becomes a voter, a removed node leaves both sets.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  if (cc.type === 'addLearner') {
    if (!voters.has(cc.node)) learners.add(cc.node);
  } else if (cc.type === 'addVoter') {
    learners.delete(cc.node);
    voters.add(cc.node);
  } else {
    voters.delete(cc.node);
    learners.delete(cc.node);
  }
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

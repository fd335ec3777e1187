/**
 * A key-value state machine with exactly-once client requests: the replicated service the Raft
 * layer is proven with (the real-process cluster test and the Raft benchmark), and the model of
 * how the namespace machine deduplicates retries.
 *
 * Each command carries (client, seq). The machine remembers, per client, the highest seq applied
 * and its result; a retry of that seq returns the remembered result instead of applying twice,
 * and an older seq is refused (the client has already seen its outcome). Pure: it runs inside
 * whatever transaction the caller provides.
 */
import { pack, unpack } from '../../src/proto/msgpack.js';
import { CairnError } from '../../src/util/errors.js';

/** The transaction the machine writes through (storage provides an LMDB one). */
export interface KvTxn {
  get(key: string): Uint8Array | undefined;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
}

export type KvCommand =
  | { op: 'put'; client: string; seq: number; key: string; value: Uint8Array }
  | { op: 'del'; client: string; seq: number; key: string };

export type KvResult = { ok: true; prev: Uint8Array | null } | { ok: false; code: 'StaleRequest' };

export const KV_KEY_BYTES_MAX = 1024;
export const KV_VALUE_BYTES_MAX = 1 << 20;
const CLIENT_ID_BYTES_MAX = 128;

/** Keys of user data are prefixed so they never collide with session records. */
const DATA = 'd/';
const SESSION = 's/';

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return pack(cmd.op === 'put' ? [1, cmd.client, cmd.seq, cmd.key, cmd.value] : [2, cmd.client, cmd.seq, cmd.key]);
}

/** Validating decode; throws CairnError('InvalidArgument') on any malformed field. */
export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch {
    throw new CairnError('InvalidArgument', 'kv command: not msgpack');
  }
  if (!Array.isArray(v)) throw new CairnError('InvalidArgument', 'kv command: not an array');
  const [tag, client, seq, key, value] = v as unknown[];
  if (typeof client !== 'string' || client.length === 0 || client.length > CLIENT_ID_BYTES_MAX)
    throw new CairnError('InvalidArgument', 'kv command: bad client id');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new CairnError('InvalidArgument', 'kv command: bad seq');
  if (typeof key !== 'string' || key.length === 0 || key.length > KV_KEY_BYTES_MAX) throw new CairnError('InvalidArgument', 'kv command: bad key');
  if (tag === 1) {
    if (!(value instanceof Uint8Array) || value.byteLength > KV_VALUE_BYTES_MAX) throw new CairnError('InvalidArgument', 'kv command: bad value');
    // msgpackr yields Buffers; expose a plain Uint8Array view (no copy).
    return { op: 'put', client, seq, key, value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
  }
  if (tag === 2 && v.length === 4) return { op: 'del', client, seq, key };
  throw new CairnError('InvalidArgument', 'kv command: unknown op');
}

/** Apply one command. Deterministic: the same commands in the same order give the same state everywhere. */
export function applyKvCommand(txn: KvTxn, cmd: KvCommand): KvResult {
  const sessionKey = SESSION + cmd.client;
  const sessionBytes = txn.get(sessionKey);
  if (sessionBytes) {
    const [lastSeq, lastResult] = unpack(sessionBytes) as [number, KvResult];
    if (cmd.seq === lastSeq) return normalizeResult(lastResult);
    if (cmd.seq < lastSeq) return { ok: false, code: 'StaleRequest' };
  }
  const dataKey = DATA + cmd.key;
  const prev = txn.get(dataKey) ?? null;
  if (cmd.op === 'put') txn.put(dataKey, cmd.value);
  else txn.del(dataKey);
  const result: KvResult = { ok: true, prev: prev ? Uint8Array.from(prev) : null };
  txn.put(sessionKey, pack([cmd.seq, result]));
  return result;
}

export function readKv(txn: Pick<KvTxn, 'get'>, key: string): Uint8Array | null {
  const v = txn.get(DATA + key);
  return v ? Uint8Array.from(v) : null;
}

function normalizeResult(r: KvResult): KvResult {
  if (r.ok) return { ok: true, prev: r.prev ? Uint8Array.from(r.prev) : null };
  return r;
}

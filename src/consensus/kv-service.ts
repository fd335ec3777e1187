/**
 * Client RPC of the replicated key-value service (the Raft layer's own service, used by the
 * real-process cluster test and the Raft benchmark). Every field is validated before anything
 * is proposed; writes carry (client, seq) so retries after a leader change apply once.
 */
import { encodeKvCommand, KV_KEY_BYTES_MAX, KV_VALUE_BYTES_MAX, type KvCommand } from '../meta/kv-machine.js';
import type { ConfChangeType } from '../raft/types.js';
import { CairnError } from '../util/errors.js';
import type { KvStateMachine } from './kv-state-machine.js';
import type { RaftRuntime } from './raft-runtime.js';

export const KV_METHODS = ['kv.put', 'kv.del', 'kv.get', 'kv.readLocal', 'raft.status', 'raft.transfer', 'raft.member'] as const;
const READ_LOCAL_KEYS_MAX = 10_000;

export function kvRpcHandler(runtime: RaftRuntime, machine: KvStateMachine) {
  return async (method: string, body: unknown): Promise<unknown> => {
    const b = obj(body);
    switch (method) {
      case 'kv.put':
      case 'kv.del': {
        const cmd: KvCommand =
          method === 'kv.put'
            ? { op: 'put', client: str(b, 'client', 128), seq: int(b, 'seq'), key: str(b, 'key', KV_KEY_BYTES_MAX), value: bytes(b, 'value', KV_VALUE_BYTES_MAX) }
            : { op: 'del', client: str(b, 'client', 128), seq: int(b, 'seq'), key: str(b, 'key', KV_KEY_BYTES_MAX) };
        const result = (await runtime.propose(encodeKvCommand(cmd))) as { ok: boolean; code?: string; prev?: Uint8Array | null };
        if (!result.ok) throw new CairnError('PreconditionFailed', `request ${cmd.client}/${cmd.seq} is older than one already answered`);
        return { prev: result.prev ?? null };
      }
      case 'kv.get': {
        const key = str(b, 'key', KV_KEY_BYTES_MAX);
        await runtime.linearizableRead();
        return { value: machine.read(key) };
      }
      case 'kv.readLocal': {
        // Local, possibly stale state of THIS node (tests compare replicas with it).
        const keys = b.keys;
        if (!Array.isArray(keys) || keys.length > READ_LOCAL_KEYS_MAX || !keys.every((k) => typeof k === 'string' && k.length > 0 && k.length <= KV_KEY_BYTES_MAX))
          throw new CairnError('InvalidArgument', `keys must be an array of at most ${READ_LOCAL_KEYS_MAX} keys`);
        return { applied: machine.appliedIndex(), values: (keys as string[]).map((k) => machine.read(k)) };
      }
      case 'raft.status':
        return runtime.status();
      case 'raft.transfer':
        runtime.transferLeadership(str(b, 'to', 32));
        return {};
      case 'raft.member': {
        const type = str(b, 'type', 16);
        if (type !== 'addLearner' && type !== 'addVoter' && type !== 'removeNode') throw new CairnError('InvalidArgument', `bad membership change type ${type}`);
        const addr = b.addr === undefined ? undefined : str(b, 'addr', 300);
        await runtime.changeMembership(type satisfies ConfChangeType, str(b, 'node', 32), addr);
        return {};
      }
      default:
        throw new CairnError('InvalidArgument', `unknown method ${method}`);
    }
  };
}

function obj(body: unknown): Record<string, unknown> {
  if (body === null || body === undefined) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new CairnError('InvalidArgument', 'request body must be a map');
  return body as Record<string, unknown>;
}

function str(b: Record<string, unknown>, field: string, charsMax: number): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > charsMax) throw new CairnError('InvalidArgument', `${field} must be a string of 1-${charsMax} characters`);
  return v;
}

function int(b: Record<string, unknown>, field: string): number {
  const v = b[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new CairnError('InvalidArgument', `${field} must be a positive integer`);
  return v;
}

function bytes(b: Record<string, unknown>, field: string, bytesMax: number): Uint8Array {
  const v = b[field];
  if (!(v instanceof Uint8Array) || v.byteLength > bytesMax) throw new CairnError('InvalidArgument', `${field} must be bytes, at most ${bytesMax}`);
  return v;
}

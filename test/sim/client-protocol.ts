/** Client requests and answers, carried by the simulated network like the peers' frames. */
import type { NodeId } from '../../src/raft/types.js';
import type { KvOpKind } from './linearizability.js';
import type { NsOp } from './sim-ns-machine.js';

export interface ClientReq {
  client: string;
  opId: number;
  op: KvOpKind;
  /** ns mode: the namespace operation (op is then 'get' for reads, 'put' for writes). */
  ns?: NsOp;
  key: string;
  value?: string;
  expected?: string | null;
  seq: number;
}

export type ClientResp =
  | { opId: number; ok: true; value?: string | null; swapped?: boolean; result?: unknown }
  | { opId: number; ok: false; err: 'NotLeader' | 'Retry' | 'StaleRequest'; leader: NodeId | null };

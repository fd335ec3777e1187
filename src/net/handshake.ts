/**
 * Connection handshake, the same for Raft peers and clients (one listening address serves both):
 *
 *   server → { t: 'hello', v: 1, nonce }            nonce: 32 fresh random bytes per connection
 *   dialer → { t: 'auth', role: 'peer', id, mac }   mac = HMAC-SHA256(clusterSecret, nonce ‖ 'peer' ‖ id)
 *          | { t: 'auth', role: 'client', mac }     mac = HMAC-SHA256(clientToken, nonce ‖ 'client')
 *          | { t: 'auth', role: 'service', id, mac } mac = HMAC-SHA256(clusterSecret, nonce ‖ 'service' ‖ id)
 *   ('service' is a cluster server, e.g. a chunk server, calling RPC under its own id.)
 *   server → { t: 'ok' }  or  { t: 'error', code: 'Unauthorized', message } and close
 *
 * The fresh nonce stops replay of a recorded handshake. Macs are compared in constant time.
 * Known limits: over plain TCP the server does not prove itself to the dialer and nothing is
 * encrypted; with TLS (tls.ts) the dialer verifies the server's certificate and the handshake
 * runs inside the tunnel.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Timers } from '../env/clock.js';
import { pack, unpack } from '../proto/msgpack.js';
import type { NodeId } from '../raft/types.js';
import { CairnError, ERROR_CODES, type ErrorCode } from '../util/errors.js';
import { FramedSocket } from './framed-socket.js';
import { dialSocket, type TlsClientConfig } from './tls.js';

export const HANDSHAKE_VERSION = 1;
export const NONCE_BYTES = 32;
const MAC_BYTES = 32;
/** Every handshake frame is far below this; a larger one is refused before it is buffered. */
export const HANDSHAKE_FRAME_BYTES_MAX = 1024;
const NODE_ID_CHARS_MAX = 64;

export type Credential = Uint8Array | string;
export type AuthRole = 'peer' | 'client' | 'service';

export function computeMac(key: Credential, nonce: Uint8Array, role: AuthRole, id?: NodeId): Buffer {
  const h = createHmac('sha256', key).update(nonce).update(role);
  if (role !== 'client') h.update(id ?? '');
  return h.digest();
}

/** Constant-time check; false for any length mismatch. */
export function macMatches(expected: Uint8Array, got: Uint8Array): boolean {
  return expected.length === got.length && timingSafeEqual(expected, got);
}

export function encodeHello(nonce: Uint8Array): Uint8Array {
  return pack({ t: 'hello', v: HANDSHAKE_VERSION, nonce });
}

export function encodeAuth(role: AuthRole, mac: Uint8Array, id?: NodeId): Uint8Array {
  return pack(role === 'client' ? { t: 'auth', role, mac } : { t: 'auth', role, id, mac });
}

/** A private copy: never a view into msgpackr's shared output buffer. */
export const OK_FRAME: Uint8Array = Uint8Array.from(pack({ t: 'ok' }));

export function encodeErrorFrame(code: ErrorCode, message: string): Uint8Array {
  return pack({ t: 'error', code, message });
}

export type AuthRequest = { role: 'peer' | 'service'; id: NodeId; mac: Uint8Array } | { role: 'client'; mac: Uint8Array };

/** Parse the dialer's auth frame. Throws ProtocolError on anything that is not a well-formed auth. */
export function decodeAuth(payload: Uint8Array): AuthRequest {
  const v = unpackObject(payload);
  if (v.t !== 'auth') throw new CairnError('ProtocolError', 'expected an auth frame');
  const mac = v.mac;
  if (!(mac instanceof Uint8Array) || mac.length !== MAC_BYTES) throw new CairnError('ProtocolError', 'auth mac must be 32 bytes');
  if (v.role === 'client') return { role: 'client', mac };
  if (v.role === 'peer' || v.role === 'service') {
    const id = v.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > NODE_ID_CHARS_MAX) throw new CairnError('ProtocolError', 'auth peer id invalid');
    return { role: v.role, id, mac };
  }
  throw new CairnError('ProtocolError', 'auth role must be peer, client or service');
}

/** A msgpack map decoded to a plain object, or ProtocolError. */
export function unpackObject(payload: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = unpack(payload);
  } catch {
    throw new CairnError('ProtocolError', 'frame is not msgpack');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new CairnError('ProtocolError', 'frame is not a map');
  return v as Record<string, unknown>;
}

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, x);
}

export interface DialOptions {
  addr: string;
  role: AuthRole;
  credential: Credential;
  /** Required for roles 'peer' and 'service': our node id. */
  id?: NodeId;
  /** Limit for frames after the handshake. */
  frameBytesMax: number;
  /** Connect + handshake must finish within this. */
  timeoutMs: number;
  /** Dial over TLS, verifying the server against this CA. @default plain TCP */
  tls?: TlsClientConfig | null;
}

/**
 * Connect to `addr` and authenticate. Resolves with a FramedSocket ready for traffic (its
 * handlers must be set by the caller at once; frames arriving before are dropped). Rejects with
 * CairnError 'Unauthorized' (refused), 'Timeout', 'ProtocolError' or 'Unavailable' (cannot
 * connect / closed). On rejection the socket is destroyed.
 */
export function dialAuthenticated(timers: Timers, o: DialOptions): Promise<FramedSocket> {
  return new Promise<FramedSocket>((resolve, reject) => {
    let host: string;
    let port: number;
    try {
      ({ host, port } = splitAddr(o.addr));
    } catch (err) {
      reject(err as Error);
      return;
    }
    let settled = false;
    let state: 'hello' | 'auth-sent' = 'hello';
    const socket = dialSocket(host, port, o.tls ?? null);
    socket.setNoDelay(true);
    const fs = new FramedSocket(socket, HANDSHAKE_FRAME_BYTES_MAX, {
      onFrame: (payload) => {
        if (settled) return;
        const v = unpackObject(payload);
        if (state === 'hello') {
          const nonce = v.nonce;
          if (v.t !== 'hello' || v.v !== HANDSHAKE_VERSION || !(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) {
            throw new CairnError('ProtocolError', 'expected a hello frame');
          }
          fs.write(encodeAuth(o.role, computeMac(o.credential, nonce, o.role, o.id), o.id));
          state = 'auth-sent';
          return;
        }
        if (v.t === 'ok') {
          settle(null);
          return;
        }
        if (v.t === 'error') {
          const code = isErrorCode(v.code) ? v.code : 'Unauthorized';
          settle(new CairnError(code, typeof v.message === 'string' ? v.message.slice(0, 500) : undefined));
          return;
        }
        throw new CairnError('ProtocolError', 'unexpected handshake frame');
      },
      onClose: (err) => {
        if (err instanceof CairnError) settle(err);
        // The server's certificate did not verify: trying again will not help.
        else if (isCertificateError(err)) settle(new CairnError('Unauthorized', `${o.addr}: TLS certificate not trusted: ${err!.message}`));
        else settle(new CairnError('Unavailable', `cannot connect to ${o.addr}: ${err?.message ?? 'connection closed'}`));
      },
    });
    const timer = timers.setTimeout(() => settle(new CairnError('Timeout', `connect and handshake with ${o.addr} took more than ${o.timeoutMs} ms`)), o.timeoutMs);

    function settle(err: CairnError | null): void {
      if (settled) return;
      settled = true;
      timer.cancel();
      if (err) {
        fs.destroy(err);
        reject(err);
        return;
      }
      fs.setFrameBytesMax(o.frameBytesMax);
      // Until the caller installs its handlers, drop frames and ignore the close.
      fs.setHandlers({ onFrame: () => {}, onClose: () => {} });
      resolve(fs);
    }
  });
}

function isCertificateError(err: Error | null): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT/.test(code);
}

/** `host:port` or `[v6]:port`. */
export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new CairnError('InvalidArgument', `bad address ${JSON.stringify(addr)}`);
  return { host: (m[1] ?? m[2])!, port };
}

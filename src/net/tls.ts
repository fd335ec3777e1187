/**
 * TLS for the framed transport (optional; plain TCP is the default): the one place that chooses
 * between node:net and node:tls for a listener and a dialer. Certificates are PEM bytes (read by
 * the composition roots from --tls-cert/--tls-key/--tls-ca).
 *
 * A dialer verifies the server's certificate against `ca` and the address it dialled (an IP
 * address must be in the certificate's subjectAltName IP entries, a name in its DNS entries);
 * there is no way to turn verification off. Servers do not ask dialers for a certificate:
 * dialers prove themselves with the handshake's HMAC (handshake.ts), now inside the tunnel.
 */
import { createConnection, createServer as createTcpServer, isIP, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';

/** What a server presents: its certificate chain and key; `ca` verifies the servers it dials. */
export interface TlsServerConfig {
  cert: Uint8Array;
  key: Uint8Array;
  ca: Uint8Array;
}

/** What a dialer needs: the CA that signed the servers' certificates. */
export interface TlsClientConfig {
  ca: Uint8Array;
}

/** `tls` null: plain TCP. `onSocket` runs once the connection is ready (after the TLS handshake). */
export function createListener(tls: TlsServerConfig | null, onSocket: (s: Socket) => void, o: { handshakeTimeoutMs: number }): Server {
  if (tls === null) return createTcpServer({ noDelay: true }, onSocket);
  return createTlsServer({ cert: Buffer.from(tls.cert), key: Buffer.from(tls.key), ca: Buffer.from(tls.ca), noDelay: true, handshakeTimeout: o.handshakeTimeoutMs }, onSocket);
}

/**
 * Dial `host:port`, over TLS when `tls` is set (the socket emits 'error' — and no data — when the
 * server's certificate does not verify). Writes before the connection is up are buffered.
 */
export function dialSocket(host: string, port: number, tls: TlsClientConfig | null): Socket {
  if (tls === null) return createConnection({ host, port });
  return tlsConnect({ host, port, ca: Buffer.from(tls.ca), ...(isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: true });
}

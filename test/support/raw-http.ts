/**
 * A raw TCP connection to an HTTP server, for tests that need what fetch hides: a request whose
 * body is sent later (or never), and whether the server closed the connection.
 */
import { createConnection, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  text(): string;
  /** Whether the server has closed the connection. */
  closed(): boolean;
}

export function rawConnection(port: number, host = '127.0.0.1'): RawConnection {
  const socket = createConnection({ host, port });
  let got = '';
  let closed = false;
  socket.on('data', (b: Buffer) => (got += b.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  return { socket, text: () => got, closed: () => closed };
}

/** Waits up to 5 s (in 10 ms steps) for `cond`; throws naming `what` if it never holds. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

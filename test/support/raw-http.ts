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

/**
 * Sends `head` (a request whose body is not sent yet), waits for the answer containing
 * `answerMark`, then sends the `bodyBytes` of body and `GET /healthz` on the same connection,
 * as a client still sending a refused body would. Returns the answer as first received,
 * everything received in the end, and whether the server closed the connection.
 */
export async function refusedThenHealthz(port: number, head: string, answerMark: string, bodyBytes: number): Promise<{ answer: string; text: string; closed: boolean }> {
  const c = rawConnection(port);
  try {
    c.socket.write(head);
    await until(() => c.text().includes(answerMark), `an answer with ${answerMark}`);
    const answer = c.text();
    c.socket.write(Buffer.alloc(bodyBytes, 7));
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n');
    await until(() => /HTTP\/1\.1 200 /.test(c.text()) || c.closed(), 'the /healthz answer');
    return { answer, text: c.text(), closed: c.closed() };
  } finally {
    c.socket.destroy();
  }
}

/** Sends `head` and returns what arrived once the server closed the connection. */
export async function answeredAndClosed(port: number, head: string): Promise<string> {
  const c = rawConnection(port);
  try {
    c.socket.write(head);
    await until(() => c.closed(), 'the server to close');
    return c.text();
  } finally {
    c.socket.destroy();
  }
}

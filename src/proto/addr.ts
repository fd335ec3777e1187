/** Parsing and validation of node ids and `host:port` addresses (pure). */
import { CairnError } from '../util/errors.js';

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

export function parseNodeId(s: string, what = 'node id'): string {
  if (!NODE_ID.test(s)) throw new CairnError('InvalidArgument', `${what} must be 1-32 letters, digits, '-' or '_': ${JSON.stringify(s)}`);
  return s;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port` or `[v6]:port`; port 0 is allowed only when `allowZero` (listen on any free port). */
export function parseHostPort(s: string, allowZero = false): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new CairnError('InvalidArgument', `address must be host:port: ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535 || (port === 0 && !allowZero)) throw new CairnError('InvalidArgument', `port out of range: ${s}`);
  return { host: (m[1] ?? m[2])!, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `id=host:port,id=host:port` → ordered map; ids and addresses unique. */
export function parsePeers(s: string): Map<string, string> {
  const out = new Map<string, string>();
  const seen = new Set<string>();
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CairnError('InvalidArgument', `peer must be id=host:port: ${JSON.stringify(part)}`);
    const id = parseNodeId(part.slice(0, eq), 'peer id');
    const addr = formatHostPort(parseHostPort(part.slice(eq + 1)));
    if (out.has(id)) throw new CairnError('InvalidArgument', `duplicate peer id ${id}`);
    if (seen.has(addr)) throw new CairnError('InvalidArgument', `duplicate peer address ${addr}`);
    out.set(id, addr);
    seen.add(addr);
  }
  if (out.size === 0) throw new CairnError('InvalidArgument', 'no peers given');
  return out;
}

/** Comma-separated addresses (CAIRN_META / --meta). */
export function parseAddrList(s: string): string[] {
  const out = s.split(',').map((p) => p.trim()).filter(Boolean).map((a) => formatHostPort(parseHostPort(a)));
  if (out.length === 0) throw new CairnError('InvalidArgument', 'no metadata server address given');
  return [...new Set(out)];
}

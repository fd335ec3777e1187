/**
 * `cairn status [--json]`: cluster health. --json prints exactly CONTRACT.md's object (keys in
 * its order, nothing else); the human form is three small tables.
 */
import type { Command } from 'commander';
import type { CairnClient } from '../src/client/index.js';
import { out, withClient, withClientOptions, type ClientFlags } from './client-options.js';
import { formatBytes, table } from './format.js';

export interface StatusJson {
  leader: string | null;
  meta: Array<{ id: string; addr: string | null; role: string }>;
  chunkServers: Array<{ id: string; addr: string; state: string; used: number; capacity: number; chunks: number }>;
  chunks: { total: number; underReplicated: number; lost: number };
}

/** The contract's object and only that (the client may return more). */
export function contractStatus(s: StatusJson): StatusJson {
  return {
    leader: s.leader,
    meta: s.meta.map((m) => ({ id: m.id, addr: m.addr, role: m.role })),
    chunkServers: s.chunkServers.map((c) => ({ id: c.id, addr: c.addr, state: c.state, used: c.used, capacity: c.capacity, chunks: c.chunks })),
    chunks: { total: s.chunks.total, underReplicated: s.chunks.underReplicated, lost: s.chunks.lost },
  };
}

export function formatStatus(s: StatusJson): string {
  const indent = (t: string): string => t.replace(/^(?=.)/gm, '  ');
  let text = `Metadata servers (leader: ${s.leader ?? 'none'})\n`;
  text += indent(table([['ID', 'ADDRESS', 'ROLE'], ...s.meta.map((m) => [m.id, m.addr ?? '-', m.role])]));
  text += `Chunk servers (${s.chunkServers.filter((c) => c.state === 'alive').length} of ${s.chunkServers.length} alive)\n`;
  if (s.chunkServers.length > 0) {
    const rows = s.chunkServers.map((c) => {
      const pct = c.capacity > 0 ? ` (${((100 * c.used) / c.capacity).toFixed(1)}%)` : '';
      return [c.id, c.addr, c.state, `${formatBytes(c.used)}${pct}`, formatBytes(c.capacity), String(c.chunks)];
    });
    text += indent(table([['ID', 'ADDRESS', 'STATE', 'USED', 'CAPACITY', 'CHUNKS'], ...rows], new Set([5])));
  }
  text += `Chunks: ${s.chunks.total} total, ${s.chunks.underReplicated} under-replicated, ${s.chunks.lost} lost\n`;
  return text;
}

async function statusCommand(client: CairnClient, json: boolean): Promise<void> {
  const s = contractStatus(await client.status());
  if (json) return out(JSON.stringify(s) + '\n');
  // Repair progress is shown to people only (the JSON object is exactly the contract's).
  const r = await client.repairStatus().catch(() => null);
  const mib = (v: unknown): string => (typeof v === 'number' ? (v / 2 ** 20).toFixed(1) : '?');
  const repair = r
    ? `Repair: ${String(r.copiesQueued)} copies queued, ${String(r.copiesInFlight)} in flight, ${String(r.copiesConfirmed)} done (${mib(r.copyBytes)} MiB, now ${mib(r.copyBytesPerSec)} MiB/s); ${String(r.deletesQueued)} deletions queued, ${String(r.deletesScheduled)} sent; ${String(r.garbageChunks)} unreferenced chunks\n`
    : '';
  // Inline files live in the metadata (Raft-replicated), not on chunk servers.
  const inline = typeof r?.inlineFiles === 'number' && typeof r.inlineBytes === 'number' ? `Inline files: ${r.inlineFiles} (${formatBytes(r.inlineBytes)}), stored with the metadata\n` : '';
  // A new leader knows where replicas are only from full reports: until every live server has
  // sent one, chunks it has not heard of yet count as lost or under-replicated.
  const pending = Array.isArray(r?.reportsPending) ? r.reportsPending : [];
  const provisional = pending.length > 0 ? `Chunk reports pending from ${pending.join(', ')}: the lost and under-replicated counts are provisional\n` : '';
  const scrub = r?.scrubRunning === 1 ? `Scrub running: ${String(r.scrubChecked)} of ${String(r.scrubExpected)} replicas checked, ${String(r.scrubCorrupt)} corrupt, ${String(r.scrubMissing)} missing, ${String(r.scrubRepaired)} repaired\n` : '';
  await out(formatStatus(s) + inline + provisional + repair + scrub);
}

export function registerStatusCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('status')
      .description('cluster health: metadata servers and roles, chunk servers, replication')
      .option('--json', 'one JSON object (the same as GET /v1/status)', false),
  ).action(async (o: ClientFlags & { json: boolean }) => {
    await withClient(o, (c) => statusCommand(c, o.json));
    await done();
  });
}

/**
 * `cairn status [--json] [--check] [--watch [SECONDS]]`: cluster health.
 *
 * The leader's cluster.status is asked with a short deadline while every metadata server is
 * asked for its own Raft status (raft.status, which any member answers, leader or not). Without
 * an answer from a leader in time there is no quorum: the report is the partial view those
 * members gave — each one reachable or not, its own role, term and how long ago it heard from a
 * leader — with health `unavailable`, within 3 s.
 *
 * --json prints CONTRACT.md's keys first, in its order (`chunks` counts are null when unknown,
 * without a quorum), then the detail: `raft`, `metaDetail` (per member: reachable, raftRole,
 * term, commit, applied, lag, lastContactMs), `chunkServerDetail`, `totals`, `repair`. The text
 * starts with one line: HEALTHY, DEGRADED or UNAVAILABLE.
 *
 * Exit status: 0 whenever it could report; with --check 0 healthy, 1 degraded, 2 unavailable.
 * Not one metadata server answering is a report (unavailable, every member unreachable); a
 * refused token is an error (exit 1, one line on stderr), as for every command.
 */
import type { Command } from 'commander';
import { createCairnClient, resolveClientConfig, type CairnClient, type ClientConfig } from '../src/client/index.js';
import { sleep, systemTimers } from '../src/env/system.js';
import { RpcClient } from '../src/net/rpc-client.js';
import { HEALTH_EXIT_CODES, type ChunkServerDetail, type Health, type StatusRepair, type StatusTotals } from '../src/proto/cluster-health.js';
import { decodeRaftStatus, type ClusterStatus, type RaftStatusAnswer, type RepairStatus } from '../src/proto/meta-answers.js';
import { mergeMemberViews, type MetaMemberView } from '../src/proto/member-view.js';
import { CairnError, isCairnError } from '../src/util/errors.js';
import { STATUS_LEADER_WAIT_MS_DEFAULT, STATUS_PROBE_TIMEOUT_MS_DEFAULT, STATUS_WATCH_SEC_DEFAULT } from '../src/config/defaults.js';
import { exitOnSignals } from './cli-errors.js';
import { out, withClientOptions, type ClientFlags } from './client-options.js';
import { formatBytes, table } from './format.js';

type Role = ClusterStatus['meta'][number]['role'];

export interface StatusJson {
  health: Health;
  leader: string | null;
  meta: Array<{ id: string; addr: string | null; role: Role }>;
  chunkServers: ClusterStatus['chunkServers'];
  /** null counts: unknown (no quorum). */
  chunks: { total: number | null; underReplicated: number | null; lost: number | null };
  raft?: { term: number; commit: number; applied: number };
  metaDetail: Record<string, MetaMemberView>;
  chunkServerDetail?: Record<string, ChunkServerDetail>;
  totals?: StatusTotals;
  repair?: StatusRepair;
}

/** One metadata server's own answer to raft.status, or null when it did not answer in time. */
export interface MemberProbe {
  addr: string;
  status: RaftStatusAnswer | null;
  /** Why it did not answer. */
  error?: unknown;
}

/** The report from the leader's answer, with each member's own figures merged in. */
export function fullStatus(s: ClusterStatus, probes: readonly MemberProbe[]): StatusJson {
  const metaDetail = mergeMemberViews(s, probes.flatMap((p) => (p.status === null ? [] : [p.status])));
  return {
    health: s.health,
    leader: s.leader,
    meta: s.meta.map((m) => ({ id: m.id, addr: m.addr, role: m.role })),
    chunkServers: s.chunkServers.map((c) => ({ id: c.id, addr: c.addr, state: c.state, used: c.used, capacity: c.capacity, chunks: c.chunks })),
    chunks: { total: s.chunks.total, underReplicated: s.chunks.underReplicated, lost: s.chunks.lost },
    ...(s.raft ? { raft: s.raft } : {}),
    metaDetail,
    ...(s.chunkServerDetail ? { chunkServerDetail: s.chunkServerDetail } : {}),
    ...(s.totals ? { totals: s.totals } : {}),
    ...(s.repair ? { repair: s.repair } : {}),
  };
}

/**
 * The report without a quorum: every member the answers name (or the configured address, when
 * none answered), each with its own view; `unreachable` for those that did not answer.
 */
export function partialStatus(probes: readonly MemberProbe[]): StatusJson {
  const addrOf = new Map<string, string>();
  const own = new Map<string, RaftStatusAnswer>();
  for (const p of probes) {
    if (p.status === null) continue;
    own.set(p.status.id, p.status);
    for (const [id, addr] of Object.entries(p.status.addrs)) addrOf.set(id, addr);
    for (const id of [...p.status.conf.voters, ...p.status.conf.learners]) if (!addrOf.has(id)) addrOf.set(id, '');
    addrOf.set(p.status.id, p.addr);
  }
  const known = new Set(addrOf.values());
  for (const p of probes) if (p.status === null && !known.has(p.addr)) addrOf.set(p.addr, p.addr); // nobody named it: its address stands for its id
  const meta = [...addrOf.keys()].sort().map((id) => {
    const st = own.get(id);
    const role: Role = st === undefined ? 'unreachable' : st.role === 'leader' ? 'leader' : st.role === 'learner' ? 'learner' : 'follower';
    return { id, addr: addrOf.get(id) || null, role };
  });
  // No leader: each member's own answer alone.
  const metaDetail = mergeMemberViews({ meta }, [...own.values()]);
  return { health: 'unavailable', leader: null, meta, chunkServers: [], chunks: { total: null, underReplicated: null, lost: null }, metaDetail };
}

/** Every configured metadata server's own raft.status, each given `timeoutMs`. */
async function probeMembers(config: ClientConfig, timeoutMs: number): Promise<MemberProbe[]> {
  return Promise.all(
    config.metaAddrs.map(async (addr) => {
      const rpc = new RpcClient({ timers: systemTimers }, { addr, clientToken: config.token, connectTimeoutMs: timeoutMs, tls: config.tls ?? null });
      try {
        return { addr, status: decodeRaftStatus(await rpc.call('raft.status', {}, { timeoutMs })) };
      } catch (error) {
        return { addr, status: null, error };
      } finally {
        rpc.close();
      }
    }),
  );
}

/** Resolves with `p`'s value, or null once `ms` passed or it failed. */
function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([p.catch(() => null), sleep(ms).then(() => null)]);
}

/**
 * Whether a quorum can answer this client: a majority of the voters (as the members that
 * answered name them) answered. Without one no leader can confirm a read for us, so there is no
 * point waiting for its answer.
 */
export function quorumReachable(probes: readonly MemberProbe[]): boolean {
  const answered = probes.filter((p) => p.status !== null).map((p) => p.status!);
  const voters = new Set(answered.flatMap((st) => st.conf.voters));
  const up = answered.filter((st) => voters.has(st.id)).length;
  return voters.size > 0 && 2 * up > voters.size;
}

/** One report: the leader's (merged with the members' own answers) or, without a quorum, the partial view. */
export async function gatherStatus(client: CairnClient, config: ClientConfig, withRepair: boolean): Promise<{ status: StatusJson; repair: RepairStatus | null }> {
  const leader = within(client.status(), STATUS_LEADER_WAIT_MS_DEFAULT);
  const probes = await probeMembers(config, STATUS_PROBE_TIMEOUT_MS_DEFAULT);
  // A refused credential is the caller's to fix, not a state of the cluster: an error, not a report.
  const refused = probes.find((p) => isCairnError(p.error, 'Unauthorized'));
  if (refused && probes.every((p) => p.status === null)) throw refused.error;
  const s = quorumReachable(probes) ? await leader : null;
  if (s === null) return { status: partialStatus(probes), repair: null };
  const repair = withRepair ? await within(client.repairStatus(), STATUS_PROBE_TIMEOUT_MS_DEFAULT) : null;
  return { status: fullStatus(s, probes), repair };
}

/** Why the verdict is not HEALTHY, in a few words; '' when it is. */
export function healthReasons(s: StatusJson): string {
  if (s.health === 'unavailable') {
    const up = s.meta.filter((m) => m.role !== 'unreachable').length;
    return `no metadata quorum: ${up} of ${s.meta.length} metadata servers answer, none leads`;
  }
  const why: string[] = [];
  if (s.chunks.lost) why.push(`${s.chunks.lost} chunks lost`);
  if (s.chunks.underReplicated) why.push(`${s.chunks.underReplicated} chunks under-replicated`);
  const dead = s.chunkServers.filter((c) => c.state === 'dead').map((c) => c.id);
  if (dead.length > 0) why.push(`chunk servers dead: ${dead.join(', ')}`);
  const unreachable = s.meta.filter((m) => m.role === 'unreachable').map((m) => m.id);
  if (unreachable.length > 0) why.push(`metadata servers unreachable: ${unreachable.join(', ')}`);
  return why.join('; ');
}

const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v < 10_000 ? `${Math.round(v)}ms` : `${Math.round(v / 1000)}s`);
const n = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : String(v));

export function formatStatus(s: StatusJson, repair: RepairStatus | null = null): string {
  const indent = (t: string): string => t.replace(/^(?=.)/gm, '  ');
  let text = s.health.toUpperCase() + '\n';
  const reasons = healthReasons(s);
  if (reasons) text += indent(reasons + '\n');
  const raft = s.raft ? `, term ${s.raft.term}, commit ${s.raft.commit}, applied ${s.raft.applied}` : '';
  text += `Metadata servers (leader: ${s.leader ?? 'none'}${raft})\n`;
  const metaRows = s.meta.map((m) => {
    const d = s.metaDetail[m.id];
    const own = d?.raftRole && d.raftRole !== m.role ? `${m.role} (${d.raftRole})` : m.role;
    return [m.id, m.addr ?? '-', own, n(d?.term), n(d?.commit), n(d?.applied), n(d?.lag), ms(d?.lastContactMs)];
  });
  text += indent(table([['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'LEADER SEEN'], ...metaRows], new Set([3, 4, 5, 6, 7])));
  if (s.health === 'unavailable') return text + 'Chunk servers and chunks: unknown without a metadata quorum\n';
  text += `Chunk servers (${s.chunkServers.filter((c) => c.state === 'alive').length} of ${s.chunkServers.length} alive)\n`;
  if (s.chunkServers.length > 0) {
    const rows = s.chunkServers.map((c) => {
      const d = s.chunkServerDetail?.[c.id];
      const pct = c.capacity > 0 ? ` (${((100 * c.used) / c.capacity).toFixed(1)}%)` : '';
      return [c.id, c.addr, c.state, `${formatBytes(c.used)}${pct}`, formatBytes(c.capacity), d ? formatBytes(d.free) : '-', String(c.chunks), ms(d?.heartbeatAgeMs)];
    });
    text += indent(table([['ID', 'ADDRESS', 'STATE', 'USED', 'CAPACITY', 'FREE', 'CHUNKS', 'HEARTBEAT'], ...rows], new Set([6, 7])));
  }
  text += `Chunks: ${n(s.chunks.total)} total, ${n(s.chunks.underReplicated)} under-replicated, ${n(s.chunks.lost)} lost\n`;
  const t = s.totals;
  if (t) text += `Totals: ${t.files} files, ${t.dirs} directories, ${formatBytes(t.bytes)} logical, ${formatBytes(t.rawBytes)} raw; ${formatBytes(t.free)} free of ${formatBytes(t.capacity)} (a disk shared by several servers counted once)\n`;
  if (repair) {
    const mib = (v: unknown): string => (typeof v === 'number' ? (v / 2 ** 20).toFixed(1) : '?');
    const eta = s.repair?.etaSeconds;
    const etaText = eta === undefined ? '' : eta === null ? ', ETA unknown (no copy rate yet)' : eta === 0 ? '' : `, ETA ${eta < 120 ? `${eta}s` : `${Math.ceil(eta / 60)}min`}`;
    text += `Repair: ${String(repair.copiesQueued)} copies queued, ${String(repair.copiesInFlight)} in flight, ${String(repair.copiesConfirmed)} done (${mib(repair.copyBytes)} MiB, now ${mib(repair.copyBytesPerSec)} MiB/s)${etaText}; ${String(repair.deletesQueued)} deletions queued, ${String(repair.deletesScheduled)} sent; ${String(repair.garbageChunks)} unreferenced chunks\n`;
    // Inline files live in the metadata (Raft-replicated), not on chunk servers.
    if (typeof repair.inlineFiles === 'number' && typeof repair.inlineBytes === 'number') text += `Inline files: ${repair.inlineFiles} (${formatBytes(repair.inlineBytes)}), stored with the metadata\n`;
    // A new leader knows where replicas are only from full reports: until every live server has
    // sent one, chunks it has not heard of yet count as lost or under-replicated.
    if (repair.reportsPending.length > 0) text += `Chunk reports pending from ${repair.reportsPending.join(', ')}: the lost and under-replicated counts are provisional\n`;
    // The latest `cairn scrub` round's figures ride on cluster.repair while one runs.
    if (repair.scrubRunning === 1)
      text += `Scrub running: ${String(repair.scrubChecked)} of ${String(repair.scrubExpected)} replicas checked, ${String(repair.scrubCorrupt)} corrupt, ${String(repair.scrubMissing)} missing, ${String(repair.scrubRepaired)} repaired\n`;
  }
  return text;
}

interface StatusFlags extends ClientFlags {
  json: boolean;
  check: boolean;
  watch?: string | boolean;
}

function watchSeconds(v: string | boolean | undefined): number | null {
  if (v === undefined || v === false) return null;
  if (v === true) return STATUS_WATCH_SEC_DEFAULT;
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0) throw new CairnError('InvalidArgument', `--watch takes a positive number of seconds: ${v}`);
  return s;
}

async function statusCommand(o: StatusFlags): Promise<number> {
  exitOnSignals();
  const every = watchSeconds(o.watch);
  const config = resolveClientConfig({ meta: o.meta, token: o.token, tokenFile: o.tokenFile, tlsCa: o.tlsCa });
  const client = createCairnClient(config, { callTimeoutMs: STATUS_LEADER_WAIT_MS_DEFAULT, retryDeadlineMs: STATUS_LEADER_WAIT_MS_DEFAULT });
  try {
    for (;;) {
      const { status, repair } = await gatherStatus(client, config, !o.json);
      const body = o.json ? JSON.stringify(status) + '\n' : formatStatus(status, repair);
      // --watch on a terminal redraws in place; piped, each report follows the last.
      const clear = every !== null && !o.json && process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
      await out(clear + body);
      if (every === null) return o.check ? HEALTH_EXIT_CODES[status.health] : 0;
      await sleep(every * 1000);
    }
  } finally {
    client.close();
  }
}

export function registerStatusCommand(program: Command, done: () => Promise<never>): void {
  withClientOptions(
    program
      .command('status')
      .description('cluster health: a verdict (HEALTHY, DEGRADED, UNAVAILABLE), metadata servers and Raft figures, chunk servers, replication, totals, repair')
      .option('--json', 'one JSON object (the same keys as GET /v1/status)', false)
      .option('--check', 'exit by the verdict: 0 healthy, 1 degraded, 2 unavailable (for scripts and monitors)', false)
      .option('--watch [seconds]', `refresh the report every few seconds (default ${STATUS_WATCH_SEC_DEFAULT})`)
      .addHelpText(
        'after',
        [
          '',
          'Health: unavailable without a metadata quorum; degraded while any chunk is under-replicated',
          'or lost, a chunk server is dead or a metadata server unreachable; healthy otherwise.',
          'Without a quorum the report (within 3 s) shows what each metadata server says of itself.',
          '',
          'Exit status: 0 whenever the report could be made (whatever the verdict);',
          'with --check: 0 healthy, 1 degraded, 2 unavailable.',
        ].join('\n'),
      ),
  ).action(async (o: StatusFlags) => {
    const code = await statusCommand(o);
    if (code === 0) await done();
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  });
}
